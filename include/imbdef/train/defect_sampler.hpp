#pragma once
// Sampling a trained defect stage: load the defect generator (its EMA weights by default) from a
// stage-2 checkpoint and generate, from seeds, defect images with their masks, the paired
// backgrounds and valid regions. This is what an inspection program embeds; measuring and
// rejecting samples (metrics/) and writing datasets (data/) sit on top of it.
//
//   auto s = imbdef::train::defect_sampler::load("defects/checkpoint.safetensors");
//   auto batch = s.make_batch(n, /*passes=*/1);
//   s.generate(seed, first_index, s.all_classes(), batch);
//
// Reproducibility: sample i of seed S draws its background code from Philox stream (S, i), the
// stream stage 1's sampler uses, so its background is stage-1 `imbdef generate`'s image i for the
// same seed and weights; pass k of sample i draws its defect code from stream (S, 2^62 + 64 i + k).
// Any sample can be regenerated alone, in any batch, with the same bits.
//
// A stage-2 checkpoint holds the defect generator's layout (the frozen "background." tensors
// included) in its groups "G" and "G_ema", and metadata of kind "imbdef.defect" with
//   config: {preset, image_channels, classes: [names...], start_layer}
//   class_area: [[min, max], ...]  defect area fractions seen in training, per class (optional; also
//                                  read from extra.class_area, where imbdef train-defect puts it)
//   background_checkpoint: {sha256, path}                                          (optional)

#include <array>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../models/defect_generator.hpp"
#include "../models/presets.hpp"
#include "checkpoint.hpp"

namespace imbdef::train {

// A batch of generated samples, K passes (defects) per image.
struct defect_batch {
    core::tensor<float> image, mask_logit, mask, background, valid_region;  // as models::defect_outputs
    std::vector<int> classes;                                                // N K, sample-major
    core::index_t size() const noexcept { return image.empty() ? 0 : image.size(0); }
    core::index_t passes() const noexcept { return mask.empty() ? 0 : mask.size(1); }
};

class defect_sampler {
public:
    static constexpr std::string_view checkpoint_kind = "imbdef.defect";
    static constexpr int max_passes = 64;  // the stream layout leaves room for 64 defects per image

    // `group` is "G_ema" (the averaged weights) or "G".
    static defect_sampler load(const std::filesystem::path& path, const std::string& group = "G_ema") {
        checkpoint_reader r(path);
        const nlohmann::json meta = r.json_metadata();
        const std::string where = "checkpoint " + path.string();
        IMBDEF_REQUIRE(meta.contains("kind") && meta["kind"] == checkpoint_kind, where,
                       "a defect-stage (stage-2) checkpoint (metadata kind 'imbdef.defect')",
                       meta.contains("kind") ? "kind " + meta["kind"].dump() : std::string("no 'kind' in its metadata"));
        IMBDEF_REQUIRE(group == "G_ema" || group == "G", where, "the group G_ema or G", "'" + group + "'");
        const auto& cfg = meta.at("config");
        defect_sampler s(cfg.at("preset").get<std::string>(), cfg.at("image_channels").get<int>(),
                         cfg.at("classes").get<std::vector<std::string>>(), cfg.value("start_layer", -1),
                         // Checkpoints from before the output composite had none.
                         cfg.value("composite_radius", -1));
        r.load_group(group, *s.params_);
        s.metadata_ = meta;
        // Written by the trainer under "extra" (train::training_checkpoint_writer), or at the top.
        const nlohmann::json* area = meta.contains("class_area") ? &meta["class_area"]
                                     : meta.contains("extra") && meta["extra"].contains("class_area") ? &meta["extra"]["class_area"]
                                                                                                     : nullptr;
        if (area) s.class_area_ = area->get<std::vector<std::array<double, 2>>>();
        return s;
    }

    defect_sampler(const std::string& preset, int image_channels, std::vector<std::string> class_names, int start_layer = -1,
                   int composite_radius = models::output_composite{}.radius)
        : preset_(&models::preset_by_name(preset)),
          class_names_(checked_names(std::move(class_names))),
          g_(config(*preset_, image_channels, static_cast<int>(class_names_.size()), start_layer, composite_radius)) {
        g_.declare(nn::registry(*layout_));
        params_ = std::make_unique<nn::parameter_store<float>>(*layout_);
    }

    int image_channels() const noexcept { return g_.image_channels(); }
    int resolution() const noexcept { return g_.resolution(); }
    int num_classes() const noexcept { return g_.num_classes(); }
    const std::vector<std::string>& class_names() const noexcept { return class_names_; }
    const models::preset& preset() const noexcept { return *preset_; }
    const models::defect_generator& generator() const noexcept { return g_; }
    const nlohmann::json& metadata() const noexcept { return metadata_; }
    nn::parameter_store<float>& parameters() noexcept { return *params_; }
    // Defect area fractions seen in training per class, when the checkpoint records them.
    const std::vector<std::array<double, 2>>& class_area() const noexcept { return class_area_; }

    // The index of a class name; throws naming the known ones.
    int class_index(const std::string& name) const {
        for (std::size_t i = 0; i < class_names_.size(); ++i)
            if (class_names_[i] == name) return static_cast<int>(i);
        std::string known;
        for (const auto& c : class_names_) known += (known.empty() ? "" : ", ") + c;
        throw imbdef::error("defect_sampler", "a class of this model (" + known + ")", "'" + name + "'");
    }
    std::vector<int> all_classes() const {
        std::vector<int> c(class_names_.size());
        for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<int>(i);
        return c;
    }

    // Storage for n samples with `passes` defects each.
    defect_batch make_batch(core::index_t n, core::index_t passes = 1) const {
        IMBDEF_REQUIRE(n >= 1 && passes >= 1 && passes <= max_passes, "defect_sampler::make_batch",
                       "n >= 1 samples and 1 to " + std::to_string(max_passes) + " defects per image",
                       std::to_string(n) + " samples, " + std::to_string(passes) + " defects");
        defect_batch b;
        b.image = core::tensor<float>(g_.image_shape(n));
        b.background = core::tensor<float>(g_.image_shape(n));
        b.mask_logit = core::tensor<float>(g_.mask_shape(n, passes));
        b.mask = core::tensor<float>(g_.mask_shape(n, passes));
        b.valid_region = core::tensor<float>(g_.mask_shape(n));
        b.classes.assign(static_cast<std::size_t>(n * passes), 0);
        return b;
    }

    // Fills `batch` with samples first_index .. first_index + N - 1 of `seed`. Pass k of sample i
    // paints class classes[(K i + k) mod |classes|] (a list of class indices; one entry: that
    // class everywhere; all_classes(): every class in turn).
    void generate(std::uint64_t seed, std::uint64_t first_index, std::span<const int> classes, defect_batch& batch,
                  double truncation_psi = 1.0) {
        const core::index_t n = batch.size(), kp = batch.passes();
        IMBDEF_REQUIRE(n >= 1 && kp >= 1, "defect_sampler::generate", "a batch from make_batch", "an empty batch");
        IMBDEF_REQUIRE(!classes.empty(), "defect_sampler::generate", "at least one class to paint", "none");
        for (const int c : classes)
            IMBDEF_REQUIRE(c >= 0 && c < num_classes(), "defect_sampler::generate", "classes in [0, " + std::to_string(num_classes()) + ")",
                           std::to_string(c));
        const core::index_t zdim = preset_->latent_dim;
        nn::ensure_shape(z_, {n, zdim});
        nn::ensure_shape(zd_, {n, kp, zdim});
        for (core::index_t i = 0; i < n; ++i) {
            const std::uint64_t sample = first_index + static_cast<std::uint64_t>(i);
            core::fill_normal(core::view<float>(z_.data() + i * zdim, core::shape{zdim}), core::philox_stream{.seed = seed, .stream = sample});
            for (core::index_t k = 0; k < kp; ++k) {
                core::fill_normal(core::view<float>(zd_.data() + (i * kp + k) * zdim, core::shape{zdim}),
                                  core::philox_stream{.seed = seed, .stream = (std::uint64_t{1} << 62) + sample * max_passes +
                                                                            static_cast<std::uint64_t>(k)});
                const std::uint64_t slot = sample * static_cast<std::uint64_t>(kp) + static_cast<std::uint64_t>(k);
                batch.classes[static_cast<std::size_t>(i * kp + k)] = classes[slot % classes.size()];
            }
        }
        ctx_.truncation_psi = truncation_psi;
        ctx_.progress = 1.0;
        g_.forward(std::as_const(*params_).views(), z_.cview(), zd_.cview(), batch.classes,
                   {.image = batch.image.view(), .mask_logit = batch.mask_logit.view(), .mask = batch.mask.view(),
                    .background = batch.background.view(), .valid_region = batch.valid_region.view()},
                   ctx_);
    }

private:
    static std::vector<std::string> checked_names(std::vector<std::string> names) {
        IMBDEF_REQUIRE(!names.empty(), "defect_sampler", "at least one defect class name", "none");
        for (std::size_t i = 0; i < names.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                IMBDEF_REQUIRE(names[i] != names[j], "defect_sampler", "distinct class names", "'" + names[i] + "' twice");
        return names;
    }
    static models::defect_generator_config config(const models::preset& p, int channels, int classes, int start_layer,
                                                  int composite_radius) {
        IMBDEF_REQUIRE(channels == 1 || channels == 3, "defect_sampler", "1 or 3 image channels", std::to_string(channels));
        auto c = models::defect_generator_config_for(p, channels, classes);
        c.start_layer = start_layer;
        c.composite.radius = composite_radius;
        return c;
    }

    const models::preset* preset_;
    std::vector<std::string> class_names_;
    models::defect_generator g_;
    // The layout is referred to by the store, so it lives at a fixed address.
    std::unique_ptr<nn::parameter_layout> layout_ = std::make_unique<nn::parameter_layout>();
    std::unique_ptr<nn::parameter_store<float>> params_;
    nlohmann::json metadata_;
    std::vector<std::array<double, 2>> class_area_;
    core::tensor<float> z_, zd_;
    models::defect_generator::context<float> ctx_;
};

}  // namespace imbdef::train
