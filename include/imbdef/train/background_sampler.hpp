#pragma once
// Sampling a trained background stage: load the generator (its EMA weights by default) from a
// checkpoint written by the background trainer and generate images with their valid-region masks.
// This is what an inspection program embeds: no trainer, no discriminators, no optimiser state.
//
//   auto s = imbdef::train::background_sampler::load("run/checkpoint.safetensors");
//   core::tensor<float> images({n, s.image_channels(), r, r}), masks({n, 1, r, r});
//   s.generate(seed, first_index, images.view(), masks.view());
//
// Sample i of seed S draws its latent from Philox stream (S, i), so any one image can be
// regenerated alone, in any batch, with the same bits.

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../models/background_generator.hpp"
#include "../models/presets.hpp"
#include "checkpoint.hpp"

namespace imbdef::train {

class background_sampler {
public:
    // `group` is "G_ema" (the averaged weights, what StyleGAN samples with) or "G".
    static background_sampler load(const std::filesystem::path& path, const std::string& group = "G_ema") {
        checkpoint_reader r(path);
        const nlohmann::json meta = r.json_metadata();
        const std::string where = "checkpoint " + path.string();
        IMBDEF_REQUIRE(meta.contains("kind") && meta["kind"] == "imbdef.background", where,
                       "a background-stage checkpoint (metadata kind 'imbdef.background')",
                       meta.contains("kind") ? meta["kind"].dump() : std::string("no 'kind' in its metadata"));
        IMBDEF_REQUIRE(group == "G_ema" || group == "G", where, "the group G_ema or G", "'" + group + "'");
        const auto& cfg = meta.at("config");
        background_sampler s(cfg.at("preset").get<std::string>(), cfg.at("image_channels").get<int>());
        r.load_group(group, *s.params_);
        s.metadata_ = meta;
        return s;
    }

    background_sampler(const std::string& preset, int image_channels)
        : preset_(&models::preset_by_name(preset)),
          channels_(checked_channels(image_channels)),
          g_(models::background_generator_config_for(*preset_, channels_)) {
        g_.declare(nn::registry(*layout_));
        params_ = std::make_unique<nn::parameter_store<float>>(*layout_);
    }

    int image_channels() const noexcept { return channels_; }
    int resolution() const noexcept { return preset_->resolution; }
    int latent_dim() const noexcept { return preset_->latent_dim; }
    const models::preset& preset() const noexcept { return *preset_; }
    const nlohmann::json& metadata() const noexcept { return metadata_; }
    const models::background_generator& generator() const noexcept { return g_; }
    nn::parameter_store<float>& parameters() noexcept { return *params_; }
    // Takes the weights of a generator of the same configuration (a trainer's G_ema, say).
    void set_parameters(nn::parameter_views<const float> weights) { nn::copy_values<float>(weights, params_->views()); }

    // images.size(0) samples: images [N, C, R, R] in about [-1, 1] and valid-region masks
    // [N, 1, R, R] as {0, 1} (b = 1[b_raw >= 0]); `masks` may be empty. Truncation psi around w_avg.
    void generate(std::uint64_t seed, std::uint64_t first_index, core::view<float> images, core::view<float> masks,
                  double truncation_psi = 1.0) {
        const core::index_t n = images.size(0), c = channels_, r = resolution();
        IMBDEF_REQUIRE(images.shape() == (core::shape{n, c, r, r}) && n >= 1, "background_sampler::generate images",
                       "shape [N, " + std::to_string(c) + ", " + std::to_string(r) + ", " + std::to_string(r) + "]",
                       images.shape().to_string());
        IMBDEF_REQUIRE(masks.empty() || masks.shape() == (core::shape{n, 1, r, r}), "background_sampler::generate masks",
                       "shape [" + std::to_string(n) + ", 1, " + std::to_string(r) + ", " + std::to_string(r) + "] or empty",
                       masks.shape().to_string());
        const core::index_t zd = latent_dim();
        nn::ensure_shape(z_, {n, zd});
        for (core::index_t i = 0; i < n; ++i)
            core::fill_normal(core::view<float>(z_.data() + i * zd, core::shape{zd}),
                              core::philox_stream{.seed = seed, .stream = first_index + static_cast<std::uint64_t>(i)});
        nn::ensure_shape(out_, {n, c + 1, r, r});
        ctx_.progress = 1.0;
        ctx_.truncation_psi = truncation_psi;
        g_.forward(std::as_const(*params_).views(), z_.cview(), out_.view(), ctx_);
        const core::index_t plane = r * r;
        for (core::index_t i = 0; i < n; ++i) {
            const float* src = out_.data() + i * (c + 1) * plane;
            std::copy_n(src, c * plane, images.data() + i * c * plane);
            if (!masks.empty())
                for (core::index_t j = 0; j < plane; ++j) masks.data()[i * plane + j] = src[c * plane + j] >= 0.0f ? 1.0f : 0.0f;
        }
    }

private:
    static int checked_channels(int c) {
        IMBDEF_REQUIRE(c == 1 || c == 3, "background_sampler", "1 or 3 image channels", std::to_string(c));
        return c;
    }

    const models::preset* preset_;
    int channels_;
    models::background_generator g_;
    // The layout is referred to by the store, so it lives at a fixed address.
    std::unique_ptr<nn::parameter_layout> layout_ = std::make_unique<nn::parameter_layout>();
    std::unique_ptr<nn::parameter_store<float>> params_;
    nlohmann::json metadata_;
    core::tensor<float> z_, out_;
    models::background_generator::context<float> ctx_;
};

}  // namespace imbdef::train
