#pragma once
// The checkpoint schema every trainer shares (safetensors, checkpoint.hpp), so that a stage adds
// only its networks and its own metadata:
//
//   <net>              a network's parameters and buffers by dotted name (G, G_ema, D_img, ...)
//   <net>_opt.m, .v    the Adam moments of a trained network, after every network's parameters
//   metadata "imbdef"  the trainer's description {kind, format, config}, "step", "images_seen",
//                      "optimizer_steps" {<net>: Adam's step count}, the stage's own entries
//                      (the augmentation's state), and the caller's "extra"
//
// Writes are atomic. Reading checks the kind and the configuration first, naming the first
// difference; the trainer then reads everything into staging copies and commits only when all of
// it was read, so a damaged or foreign file leaves it as it was.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../nn/parameters.hpp"
#include "checkpoint.hpp"
#include "inference_checkpoint.hpp"
#include "optimized_network.hpp"

namespace imbdef::train {

class training_checkpoint_writer {
public:
    // `description`: the trainer's {kind, format, config}, the start of the metadata.
    explicit training_checkpoint_writer(nlohmann::json description) : metadata_(std::move(description)) {}

    // A trained network: its parameters and buffers as group `name`; its moments as
    // `<name>_opt.m/.v` (written after every network's parameters) and its step count.
    void add_network(const std::string& name, const optimized_network& network) {
        writer_.add_group(name, network.parameters());
        optimizers_.emplace_back(name, &network);
        metadata_["optimizer_steps"][name] = network.optimizer().steps();
    }
    // A network's copy that no optimiser updates (G's EMA): parameters and buffers as group `name`.
    void add_copy(const std::string& name, const nn::parameter_store<float>& copy) { writer_.add_group(name, copy); }

    // The metadata document, for the counters and the stage's own entries.
    nlohmann::json& metadata() noexcept { return metadata_; }

    // Writes the file atomically; `extra` (when not null) is stored as the metadata's "extra".
    // The networks and copies must be alive and unchanged until this returns.
    void write(const std::filesystem::path& path, const nlohmann::json& extra = {}) {
        for (const auto& [name, network] : optimizers_) {
            const adam<float>& opt = network->optimizer();
            writer_.add_group(name + "_opt.m", network->layout(), nn::tensor_role::parameter, opt.first_moment().cview());
            writer_.add_group(name + "_opt.v", network->layout(), nn::tensor_role::parameter, opt.second_moment().cview());
        }
        optimizers_.clear();
        if (!extra.is_null()) metadata_["extra"] = extra;
        writer_.set_json_metadata(metadata_);
        writer_.write(path);
    }

private:
    checkpoint_writer writer_;
    std::vector<std::pair<std::string, const optimized_network*>> optimizers_;
    nlohmann::json metadata_;
};

class training_checkpoint_reader {
public:
    // Opens `path` and checks that it was written for `description` (this trainer's): the same
    // kind (else the error expects `expected_kind`, "a background-stage checkpoint" say) and every
    // key of its config equal, except those in `may_differ` (total_kimg, so that a run can be
    // extended). The first difference is named.
    training_checkpoint_reader(const std::filesystem::path& path, const nlohmann::json& description, const std::string& expected_kind,
                               std::initializer_list<std::string_view> may_differ)
        : reader_(path), metadata_(reader_.json_metadata()), where_("resume from " + path.string()) {
        const nlohmann::json& meta = metadata_;
        IMBDEF_REQUIRE(!is_inference_checkpoint(meta), where_,
                       "a training checkpoint (G, G_ema, D_img, D_match and the Adam moments)",
                       "an inference checkpoint (" + meta.value("inference_groups", nlohmann::json::array()).dump() +
                           " only, written by `imbdef slim`): it generates and starts a defect stage, but a run cannot "
                           "resume from it");
        IMBDEF_REQUIRE(meta.contains("kind") && meta["kind"] == description["kind"], where_, expected_kind,
                       meta.contains("kind") ? meta["kind"].dump() : std::string("no 'kind' in its metadata"));
        // The keys that shape the networks first, so that a checkpoint of another preset is named
        // as such rather than by whichever key sorts first (a stage-1 hash, a learning rate).
        const auto& cfg = meta.at("config");
        const auto check = [&](const std::string& key, const nlohmann::json& value) {
            if (std::find(may_differ.begin(), may_differ.end(), key) != may_differ.end()) return;
            IMBDEF_REQUIRE(cfg.contains(key) && cfg[key] == value, where_, "config." + key + " = " + value.dump(),
                           cfg.contains(key) ? cfg[key].dump() : std::string("missing"));
        };
        const auto& config = description["config"];
        for (const char* key : {"preset", "resolution", "image_channels", "latent_dim", "classes"})
            if (config.contains(key)) check(key, config[key]);
        for (const auto& [key, value] : config.items()) check(key, value);
        // A key only the file has is a difference too (a patch run resumed as a whole-image one).
        for (const auto& [key, value] : cfg.items())
            IMBDEF_REQUIRE(config.contains(key) || std::find(may_differ.begin(), may_differ.end(), key) != may_differ.end(), where_,
                           "no config." + key + " (this run does not set it)", "config." + key + " = " + value.dump());
    }

    const nlohmann::json& metadata() const noexcept { return metadata_; }

    // Group `name` (parameters and buffers) into a new store of `layout`.
    nn::parameter_store<float> parameters(const std::string& name, const nn::parameter_layout& layout) {
        nn::parameter_store<float> s(layout);
        reader_.load_group(name, s);
        return s;
    }
    // The Adam state saved for network `name` by training_checkpoint_writer::add_network.
    optimizer_snapshot optimizer(const std::string& name, const nn::parameter_layout& layout) {
        optimizer_snapshot s(layout);
        const nlohmann::json& steps = metadata_.at("optimizer_steps").at(name);
        reader_.load_group(name + "_opt.m", layout, nn::tensor_role::parameter, s.m.view());
        reader_.load_group(name + "_opt.v", layout, nn::tensor_role::parameter, s.v.view());
        s.steps = steps.get<std::int64_t>();
        return s;
    }

private:
    checkpoint_reader reader_;
    nlohmann::json metadata_;
    std::string where_;
};

}  // namespace imbdef::train
