#pragma once
// Stage 2 starts from stage 1: the trained background generator is loaded, frozen, into the
// defect generator (models/defect_generator.hpp), whose "background." tensors are buffers.
//
//   const auto info = train::read_background_checkpoint("run/checkpoint.safetensors");
//   models::defect_generator g(models::defect_generator_config_for(*info.preset, info.image_channels, classes));
//   g.declare(nn::registry(layout));  ...  store.initialize(seed);
//   train::load_frozen_background(g, store.views(), "run/checkpoint.safetensors");
//
// A file that is not a background-stage checkpoint, or one whose network differs from the
// generator's (another preset, channel count or latent size), is refused with what was expected
// and what was found; nothing is written to the parameters then.

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../models/background_generator.hpp"
#include "../models/presets.hpp"
#include "../nn/parameters.hpp"
#include "checkpoint.hpp"

namespace imbdef::train {

struct background_checkpoint_info {
    const models::preset* preset = nullptr;
    int image_channels = 0;
    nlohmann::json metadata;
};

// What a stage-1 checkpoint holds; throws unless it is one.
inline background_checkpoint_info read_background_checkpoint(const std::filesystem::path& path) {
    checkpoint_reader r(path);
    const nlohmann::json meta = r.json_metadata();
    const std::string where = "checkpoint " + path.string();
    IMBDEF_REQUIRE(meta.contains("kind") && meta["kind"] == "imbdef.background", where,
                   "a background-stage (stage-1) checkpoint (metadata kind 'imbdef.background')",
                   meta.contains("kind") ? "kind " + meta["kind"].dump() : std::string("no 'kind' in its metadata"));
    const auto& cfg = meta.at("config");
    background_checkpoint_info info;
    info.preset = &models::preset_by_name(cfg.at("preset").get<std::string>());
    info.image_channels = cfg.at("image_channels").get<int>();
    info.metadata = meta;
    return info;
}

namespace detail {
inline std::string describe(const models::background_generator_config& c) {
    const auto& s = c.synthesis;
    return std::to_string(s.resolution) + " px, " + std::to_string(s.image_channels) + " image channel(s), z " +
           std::to_string(c.z_dim) + ", w " + std::to_string(c.w_dim) + ", channel base/max " +
           std::to_string(s.channel_base) + "/" + std::to_string(s.channel_max) + ", " + std::to_string(s.num_layers) +
           " layers";
}
}  // namespace detail

// Loads the checkpoint's generator (`group`: "G_ema", the averaged weights, or "G") into the
// frozen "background." tensors of `params`, then starts the branch's buffers from them
// (Generator::initialize_from_background). Generator is a models::basic_defect_generator.
template <class Generator>
void load_frozen_background(const Generator& g, nn::parameter_views<float> params, const std::filesystem::path& path,
                            const std::string& group = "G_ema") {
    const background_checkpoint_info info = read_background_checkpoint(path);
    const std::string where = "checkpoint " + path.string();
    const models::background_generator_config stored = models::background_generator_config_for(*info.preset, info.image_channels);
    const auto& want = g.config().background;
    const bool same = stored.synthesis.resolution == want.synthesis.resolution &&
                      stored.synthesis.image_channels == want.synthesis.image_channels &&
                      stored.synthesis.channel_base == want.synthesis.channel_base &&
                      stored.synthesis.channel_max == want.synthesis.channel_max &&
                      stored.synthesis.num_layers == want.synthesis.num_layers && stored.z_dim == want.z_dim &&
                      stored.w_dim == want.w_dim;
    IMBDEF_REQUIRE(same, where, "a stage-1 network like the defect generator's (" + detail::describe(want) + ")",
                   "preset " + std::string(info.preset->name) + " (" + detail::describe(stored) + ")");
    IMBDEF_REQUIRE(group == "G_ema" || group == "G", where, "the group G_ema or G", "'" + group + "'");
    // Read into a stand-alone stage-1 network first: a failure leaves `params` untouched.
    typename Generator::background_type stage1(want, g.background().detail_injection());
    nn::parameter_layout layout;
    stage1.declare(nn::registry(layout));
    nn::parameter_store<float> weights(layout);
    checkpoint_reader(path).load_group(group, weights);
    for (const auto& e : layout.entries()) {
        const std::string name = "background." + e.name;
        IMBDEF_REQUIRE(params.layout().find(name).has_value(), "train::load_frozen_background",
                       "a defect generator's parameters (with '" + name + "')", "a layout without it");
    }
    for (const auto& e : layout.entries())
        core::copy(core::const_view<float>(std::as_const(weights).views()[e.name]), params["background." + e.name]);
    g.initialize_from_background(params);
}

}  // namespace imbdef::train
