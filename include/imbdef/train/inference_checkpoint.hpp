#pragma once
// A checkpoint cut down to what using it needs, not what training it further needs: a few MB to
// ship (a pretrained stage-1 model in a repository, a model handed to an inspection line) instead
// of the tens of MB that G, D_match and the Adam moments add.
//
//   stage 1 (imbdef.background): G_ema (generation, the frozen background of stage 2) and D_img
//                                (stage 2 fine-tunes it)
//   stage 2 (imbdef.defect):     G_ema (generation)
//
// The tensors are copied bit for bit, so everything made from the result (generated images, a
// stage-2 run started on it) is what the full checkpoint's G_ema and D_img would give. The
// metadata is the source's with "contents": "inference", the groups kept and the source's
// content hash; training_checkpoint_reader refuses such a file as a place to resume from, naming
// why. The file is written atomically.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/content_hash.hpp"
#include "../core/error.hpp"
#include "checkpoint.hpp"

namespace imbdef::train {

inline constexpr std::string_view inference_contents = "inference";

// The groups an inference checkpoint of `kind` keeps; throws for a kind it does not know.
inline std::vector<std::string> inference_groups(const std::string& kind, const std::string& where) {
    if (kind == "imbdef.background") return {"G_ema", "D_img"};
    if (kind == "imbdef.defect") return {"G_ema"};
    throw imbdef::error(where, "a stage-1 (imbdef.background) or stage-2 (imbdef.defect) checkpoint", "kind '" + kind + "'");
}

inline bool is_inference_checkpoint(const nlohmann::json& metadata) {
    return metadata.contains("contents") && metadata["contents"] == inference_contents;
}

// Writes `out` from training checkpoint `in`; returns the groups kept. `in` and `out` must differ.
inline std::vector<std::string> write_inference_checkpoint(const std::filesystem::path& in, const std::filesystem::path& out) {
    const std::string where = "inference checkpoint of " + in.string();
    std::error_code ec;
    IMBDEF_REQUIRE(!std::filesystem::equivalent(in, out, ec), where, "an output file other than the input", out.string());
    checkpoint_reader reader(in);
    nlohmann::json meta = reader.json_metadata();
    IMBDEF_REQUIRE(meta.contains("kind") && meta["kind"].is_string(), where, "imbdef's metadata with a 'kind'",
                   meta.contains("kind") ? meta["kind"].dump() : std::string("no 'kind'"));
    IMBDEF_REQUIRE(!is_inference_checkpoint(meta), where, "a training checkpoint", "a file that is already an inference checkpoint");
    const std::vector<std::string> groups = inference_groups(meta["kind"].get<std::string>(), where);

    // Every kept tensor is read into memory first; the writer refers to it until write() returns.
    std::vector<core::tensor<float>> kept;
    std::vector<std::string> names;
    for (const std::string& group : groups) {
        IMBDEF_REQUIRE(reader.has_group(group), where, "the group '" + group + "'", "no tensor of it in the file");
        for (const auto& r : reader.tensors())
            if (detail::has_group_prefix(r.name, group)) names.push_back(r.name);
    }
    kept.reserve(names.size());
    checkpoint_writer writer;
    for (const std::string& name : names) {
        kept.push_back(reader.read<float>(name));
        writer.add(name, kept.back().cview());
    }
    meta["contents"] = inference_contents;
    meta["inference_groups"] = groups;
    meta["source_hash"] = core::file_content_hash(in);
    meta.erase("optimizer_steps");
    writer.set_json_metadata(meta);
    writer.write(out);
    return groups;
}

}  // namespace imbdef::train
