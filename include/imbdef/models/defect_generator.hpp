#pragma once
// The stage-2 defect generator (METHOD.md, "Stage 2" and "Beyond the paper"): the frozen stage-1
// background generator with a residual defect branch that paints defects, and their masks, on
// the background it generates.
//
//   z   [N, z_dim]            -> background generator (frozen)   -> background, b_raw; features x_j
//   z_d [N, K, zd] (or [N, zd] for K = 1), classes c [N K]
//       -> defect mapping (models/defect_mapping.hpp): [normalize(z_d), normalize(embed(onehot(c)))]
//          -> FC lrelu (lr 0.01) x depth -> w_d
//   for each synthesis layer j = s .. N-1 (s the start layer), on the defect path:
//       F_S    = L_j(x_j, w)                          the frozen backbone layer (then PGDI at its layer)
//       F_R^k  = B_j(x_j, w_d^k)                      branch layer: same schedule row, its own weights
//       M^k_j  = to_mask(F_R^k, w_d^k)      (j = s)   1x1 modulated conv, no demodulation: the logit
//              = resample_j(M^k_{j-1})      (j > s)   the layer's own padding, filters, up and down
//       x_{j+1} = blend(... blend(F_S, F_R^1, M^1_j) ..., F_R^K, M^K_j)
//   defect image = 0.25 * to-RGB_N(x_N, w)[image channels];  M^k = M^k_{N-1};  m^k = 1[M^k >= 0] (* b)
//   then composited onto the background outside a band around the union of the masks
//   (models/output_composite.hpp): farther out, the defect image is the background bit for bit.
//
// Every branch layer reads the blended features x_j, which carry every pass's defect from the
// layer before: a later pass sees, and paints over, the earlier ones. With the additive blends of
// policies/blend.hpp the features do not depend on the pass order; the maps do (the later pass
// wins where masks overlap: models/defect_maps.hpp). K = 1 is the method's single defect.
//
// The backbone is declared through a frozen registry under "background." (nn/parameters.hpp): its
// weights are buffers, so they have no gradient storage and no optimiser state, its backward runs
// with parameter gradients off (data gradients flow through its layers after s, to reach the
// branch), and nothing ever writes them. Its layers before s and its whole background pass are
// computed once and shared; the layers from s on run again on the blended features. The
// backbone's detail injection runs at inference strength (progress 1): stage 1 is finished.
// Context::progress is stage 2's own training progress, read by the blend (policies::blend_at).
//
// Trained parameters (names):
//   defect_mapping.embed.weight, .bias   [W_d, classes], [W_d]   only when classes > 1
//   defect_mapping.fc{i}.weight, .bias   fc0: [W_d, zd (+ W_d)], then [W_d, W_d]
//   branch.L{j}.affine.*, .weight, .bias, .magnitude_ema (buffer)   for j = s .. N-1, as the backbone's L_j
//   to_mask.affine.*, .weight [1, C_s, 1, 1], .bias [1], .magnitude_ema (buffer)

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../nn/module.hpp"
#include "../nn/synthesis_layer.hpp"
#include "../policies/blend.hpp"
#include "../policies/detail_injection.hpp"
#include "background_generator.hpp"
#include "defect_mapping.hpp"
#include "mask_resampling.hpp"
#include "output_composite.hpp"
#include "synthesis_schedule.hpp"

namespace imbdef::models {

// METHOD.md's default start layer: the first layer whose output sampling rate is at least a
// quarter of the output resolution (DFMGAN starts its branch at 64 for 256).
inline int default_defect_start_layer(const synthesis_schedule& s, int resolution) {
    for (const auto& L : s.layers)
        if (!L.is_torgb && L.out_sampling_rate * 4.0 >= resolution) return L.index;
    return static_cast<int>(s.layers.size()) - 2;
}

struct defect_generator_config {
    background_generator_config background{};  // the frozen stage-1 network
    core::index_t z_dim = 0, w_dim = 0;         // defect latent and style sizes; 0: the background's
    int mapping_layers = 2;
    double mapping_lr_multiplier = 0.01;
    int num_classes = 1;                        // defect types; 1: unconditional
    int start_layer = -1;                       // first layer with a branch; -1: the default above
    bool mask_in_valid_region = true;           // m <- m * b at the output
    output_composite composite{};               // the background outside a band around the masks
};

// A preset's defect generator for `image_channels`, on the preset's background generator.
inline defect_generator_config defect_generator_config_for(const preset& p, int image_channels, int num_classes = 1) {
    defect_generator_config c;
    c.background = background_generator_config_for(p, image_channels);
    c.num_classes = num_classes;
    return c;
}

// What one forward pass writes. image and mask_logit are required; the rest may be empty views.
template <class T>
struct defect_outputs {
    core::view<T> image;         // [N, C, R, R] the defect image
    core::view<T> mask_logit;    // [N, K, R, R] M of each pass
    core::view<T> mask;          // [N, K, R, R] m = 1[M >= 0], times b when mask_in_valid_region
    core::view<T> background;    // [N, C, R, R] the paired background: same z, branch off
    core::view<T> valid_region;  // [N, 1, R, R] b = 1[b_raw >= 0] of the background
};

template <policies::blend_policy Blend = policies::sigmoid_blend,
          policies::detail_injection DetailInjection = policies::pgdi<>>
class basic_defect_generator {
public:
    using background_type = basic_background_generator<DetailInjection>;
    using blend_type = Blend;

    explicit basic_defect_generator(const defect_generator_config& c, Blend blend = {}, DetailInjection injection = {})
        : config_(complete(c)),
          background_(config_.background, std::move(injection)),
          blend_(std::move(blend)),
          mapping_(config_.z_dim, config_.w_dim, config_.mapping_layers, config_.mapping_lr_multiplier, config_.num_classes) {
        const auto& layers = background_.schedule().layers;
        const int n = static_cast<int>(layers.size()) - 1;  // L_n is to-RGB
        start_ = config_.start_layer;
        IMBDEF_REQUIRE(start_ >= 0 && start_ < n, "models::defect_generator start layer",
                       "a synthesis layer in [0, " + std::to_string(n - 1) + "] (L" + std::to_string(n) +
                           " is to-RGB, which has no branch)",
                       std::to_string(start_));
        check_output_composite(config_.composite, "models::defect_generator composite");
        IMBDEF_REQUIRE(config_.background.synthesis.mask_channels == 1, "models::defect_generator",
                       "a background generator with its valid-region mask channel (mask_channels 1)",
                       std::to_string(config_.background.synthesis.mask_channels));
        for (int j = start_; j < n; ++j) {
            const auto& spec = layers[static_cast<std::size_t>(j)];
            branch_.emplace_back(spec, config_.w_dim);
            if (j > start_) resamplers_.emplace_back(spec);
        }
        to_mask_.emplace_back(to_mask_spec(layers[static_cast<std::size_t>(start_)]), config_.w_dim);
    }

    template <class T>
    struct context {
        double progress = 1.0;        // stage-2 training progress p in [0, 1], read by the blend
        double truncation_psi = 1.0;  // the background's truncation (w <- w_avg + psi (w - w_avg))
        typename background_type::template context<T> background;
        core::tensor<T> background_out;  // [N, C + 1, R, R]: the background pass, b_raw last
        // Defect mapping.
        core::const_view<T> z_d;
        std::vector<int> classes;  // N K, sample-major
        defect_mapping::context<T> mapping;
        std::vector<core::tensor<T>> w_d, d_w_d;  // per pass [N, W_d]
        core::tensor<T> w_scratch;                 // the backbone's latent gradient, unused
        // The defect path, layer j = s + i: x[i] is layer j's input (x[0] the background's).
        int passes = 1;
        std::vector<core::tensor<T>> x, f_s, f_s_injected, blended_tmp;
        std::vector<core::tensor<T>> f_r, mask;  // [i K + k]: F_R^k and M^k at layer j's output
        std::vector<typename nn::synthesis_layer::template context<T>> backbone, branch, to_mask;
        std::vector<typename mask_resampler::template context<T>> resample;  // [(i - 1) K + k]
        typename DetailInjection::template context<T> injection;
        core::tensor<T> rgb;  // [N, C + 1, R, R] the backbone's to-RGB on the defect path
        core::tensor<T> composite, composite_scratch;  // [N, 1, R, R] B of output_composite
        typename nn::synthesis_layer::template context<T> torgb;
        // Gradients.
        std::vector<core::tensor<T>> dx, d_f_r, d_mask, d_mask_carry;
        core::tensor<T> d_rgb, d_blend_a, d_blend_b, d_f_s_pre;
    };

    const defect_generator_config& config() const noexcept { return config_; }
    const background_type& background() const noexcept { return background_; }
    const Blend& blend() const noexcept { return blend_; }
    int start_layer() const noexcept { return start_; }
    int num_classes() const noexcept { return config_.num_classes; }
    int image_channels() const noexcept { return config_.background.synthesis.image_channels; }
    int resolution() const noexcept { return config_.background.synthesis.resolution; }
    const std::vector<nn::synthesis_layer>& branch_layers() const noexcept { return branch_; }
    // w_d of pass k after a forward pass, [N, W_d] (what a loss on the styles reads).
    template <class T>
    static core::const_view<T> styles(const context<T>& ctx, std::size_t k = 0) {
        return ctx.w_d.at(k).cview();
    }
    const nn::synthesis_layer& to_mask_layer() const noexcept { return to_mask_.front(); }

    void declare(const nn::registry& r) {
        background_.declare(r.scope("background").frozen());
        mapping_.declare(r.scope("defect_mapping"));
        const nn::registry branch = r.scope("branch");
        for (auto& L : branch_) L.declare(branch.scope("L" + std::to_string(L.spec().index)));
        to_mask_.front().declare(r.scope("to_mask"));
    }

    // Starts each branch layer's magnitude EMA (the input gain of its modulated conv) at the
    // backbone's value for the same input, and the to-mask layer's at the input of the layer after
    // s: the branch reads the backbone's features, so this is their magnitude on the first step.
    template <class T>
    void initialize_from_background(nn::parameter_views<T> p) const {
        for (const auto& L : branch_) {
            const std::string j = std::to_string(L.spec().index);
            core::copy(core::const_view<T>(p["background.synthesis.L" + j + ".magnitude_ema"]),
                       p["branch.L" + j + ".magnitude_ema"]);
        }
        core::copy(core::const_view<T>(p["background.synthesis.L" + std::to_string(start_ + 1) + ".magnitude_ema"]),
                   p["to_mask.magnitude_ema"]);
    }

    // K, the passes per sample, read from z_d: [N, zd] is one pass, [N, K, zd] K passes.
    core::index_t passes_of(const core::shape& z_d) const {
        IMBDEF_REQUIRE((z_d.rank() == 2 && z_d[1] == config_.z_dim) || (z_d.rank() == 3 && z_d[2] == config_.z_dim),
                       "models::defect_generator z_d",
                       "shape [N, " + std::to_string(config_.z_dim) + "] or [N, K, " + std::to_string(config_.z_dim) + "]",
                       "shape " + z_d.to_string());
        const core::index_t k = z_d.rank() == 2 ? 1 : z_d[1];
        IMBDEF_REQUIRE(k >= 1, "models::defect_generator z_d", "K >= 1 defect passes per image",
                       "K = " + std::to_string(k) + " (shape " + z_d.to_string() + ")");
        return k;
    }
    core::shape image_shape(core::index_t n) const { return {n, image_channels(), resolution(), resolution()}; }
    core::shape mask_shape(core::index_t n, core::index_t k = 1) const { return {n, k, resolution(), resolution()}; }

    // One pass: the background and its valid region, and the defect image with every pass's mask.
    // classes holds N K labels in [0, classes) (sample-major), or may be empty with one class.
    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> z, core::const_view<T> z_d, std::span<const int> classes,
                 const defect_outputs<T>& out, context<T>& ctx) const {
        const core::shape zs = background_.output_shape(z.shape());
        const core::index_t n = z.size(0), kp = passes_of(z_d.shape());
        IMBDEF_REQUIRE(z_d.size(0) == n, "models::defect_generator z_d", "one row per background code (N = " + std::to_string(n) + ")",
                       "shape " + z_d.shape().to_string());
        check_outputs(out, n, kp);
        load_classes(classes, n, kp, ctx);
        ctx.passes = static_cast<int>(kp);

        // The background pass, whose features up to layer s are shared with the defect path.
        ctx.background.progress = 1.0;
        ctx.background.truncation_psi = ctx.truncation_psi;
        background_.template forward<T>(p, z, nn::ensure_shape(ctx.background_out, zs), ctx.background);
        const core::const_view<T> w = background_latent(ctx);

        map_defect_codes(p, z_d, n, kp, ctx);
        const auto blend = policies::blend_at(blend_, ctx.progress);

        const std::size_t layers = branch_.size(), K = static_cast<std::size_t>(kp);
        resize(ctx, layers, K);
        const auto& backbone = background_.layers();
        for (std::size_t i = 0; i < layers; ++i) {
            const std::size_t j = static_cast<std::size_t>(start_) + i;
            const core::const_view<T> x = i == 0 ? background_input(ctx, j) : ctx.x[i].cview();
            const core::shape os = backbone[j].output_shape(x.shape());
            // Layer s runs on the shared input: the background pass has computed F_S already.
            if (i == 0) {
                run_branch(p, ctx, i, K, n, x, os);
                blend_into(blend, ctx, i, K, background_input(ctx, j + 1), os);
                continue;
            }
            const core::view<T> fs = nn::ensure_shape(ctx.f_s[i], os);
            backbone[j].template forward<T>(p, x, w, fs, ctx.backbone[i]);
            core::const_view<T> base = fs;
            if (static_cast<int>(j) == background_.injection_layer()) {
                const core::view<T> inj = nn::ensure_shape(ctx.f_s_injected[i], os);
                background_.detail_injection().template forward<T>(p, fs, 1.0, inj, ctx.injection);
                base = inj;
            }
            run_branch(p, ctx, i, K, n, x, os);
            blend_into(blend, ctx, i, K, base, os);
        }
        const auto& torgb = backbone.back();
        const core::view<T> rgb = nn::ensure_shape(ctx.rgb, torgb.output_shape(ctx.x[layers].shape()));
        torgb.template forward<T>(p, ctx.x[layers].cview(), w, rgb, ctx.torgb);
        composite_weights(ctx, n, kp);
        write_outputs(ctx, out, n, kp);
    }

    // Gradients of a loss L(image, M, w_d) given d_image = dL/d(image) [N, C, R, R], d_mask_logit =
    // dL/dM [N, K, R, R] (empty: no loss on M) and d_style = dL/dw_d [N, K, W_d] or [N, W_d] (empty:
    // none; a loss on the styles, as the mode-seeking term has): the trained parameters' gradients
    // under param_mode and dL/dz_d under data_mode. The backbone's weights get none: it runs with
    // parameter gradients off, and its latent z is not differentiated.
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> d_image, core::const_view<T> d_mask_logit,
                  core::view<T> d_z_d, nn::grads_out<T> g, core::grad_mode data_mode, core::grad_mode param_mode,
                  core::const_view<T> d_style = {}) const {
        const core::index_t n = ctx.background_out.size(0), kp = ctx.passes, c = image_channels(), r = resolution();
        const std::size_t layers = branch_.size(), K = static_cast<std::size_t>(kp);
        IMBDEF_REQUIRE(d_image.shape() == image_shape(n), "models::defect_generator::backward d_image",
                       "shape " + image_shape(n).to_string(), "shape " + d_image.shape().to_string());
        IMBDEF_REQUIRE(d_mask_logit.empty() || d_mask_logit.shape() == mask_shape(n, kp),
                       "models::defect_generator::backward d_mask_logit",
                       "shape " + mask_shape(n, kp).to_string() + " or empty", "shape " + d_mask_logit.shape().to_string());
        const core::const_view<T> w = background_latent(ctx);
        const auto& backbone = background_.layers();
        const core::view<T> dw_unused = nn::ensure_shape(ctx.w_scratch, w.shape());
        const core::grad_mode off = core::grad_mode::none;

        // Through the composite (B, a step function of M, is a constant here) and to-RGB (frozen,
        // data only): the image's channels get d_image * B * 0.25, b_raw none.
        const core::view<T> d_rgb = nn::ensure_shape(ctx.d_rgb, ctx.rgb.shape());
        const T scale = static_cast<T>(config_.background.output_scale);
        const core::index_t plane = r * r;
        for (core::index_t s = 0; s < n; ++s)
            for (core::index_t ch = 0; ch <= c; ++ch)
                for (core::index_t q = 0; q < plane; ++q)
                    d_rgb[(s * (c + 1) + ch) * plane + q] =
                        ch < c ? d_image[(s * c + ch) * plane + q] * ctx.composite[s * plane + q] * scale : T(0);
        ctx.dx.resize(layers + 1);
        ctx.d_f_r.resize(layers * K);
        ctx.d_mask.resize(layers * K);
        ctx.d_mask_carry.resize(K);
        backbone.back().template backward<T>(p, ctx.torgb, d_rgb, nn::ensure_shape(ctx.dx[layers], ctx.x[layers].shape()), dw_unused, g,
                                 core::grad_mode::assign, off, core::grad_mode::assign);

        // Every branch layer and the to-mask conv add their share of each pass's style gradient,
        // onto the loss's own (d_style) or zero.
        IMBDEF_REQUIRE(d_style.empty() || d_style.numel() == n * kp * config_.w_dim, "models::defect_generator::backward d_style",
                       "shape [" + std::to_string(n) + ", " + std::to_string(kp) + ", " + std::to_string(config_.w_dim) + "] or empty",
                       "shape " + d_style.shape().to_string());
        for (std::size_t k = 0; k < K; ++k) {
            const core::view<T> dw = nn::ensure_shape(ctx.d_w_d[k], ctx.w_d[k].shape());
            const core::index_t wd = config_.w_dim;
            for (core::index_t s = 0; s < n; ++s)
                for (core::index_t j = 0; j < wd; ++j)
                    dw(s, j) = d_style.empty() ? T(0) : d_style[(s * kp + static_cast<core::index_t>(k)) * wd + j];
        }
        const auto blend = policies::blend_at(blend_, ctx.progress);
        for (std::size_t i = layers; i-- > 0;) {
            const std::size_t j = static_cast<std::size_t>(start_) + i;
            const core::shape os = ctx.x[i + 1].shape();
            // The blends, last pass first: each passes dF on to the features it was applied to.
            core::const_view<T> d_cur = ctx.dx[i + 1].cview();
            for (std::size_t k = K; k-- > 0;) {
                const std::size_t ik = i * K + k;
                core::tensor<T>& d_prev = (k % 2 == 0) ? ctx.d_blend_a : ctx.d_blend_b;
                blend.template backward<T>(ctx.f_r[ik].cview(), ctx.mask[ik].cview(), d_cur, nn::ensure_shape(d_prev, os),
                               nn::ensure_shape(ctx.d_f_r[ik], os), nn::ensure_shape(ctx.d_mask[ik], ctx.mask[ik].shape()),
                               core::grad_mode::assign);
                d_cur = d_prev.cview();
            }
            // M^k at this layer: the blend's share plus what later layers (or the loss) sent back.
            for (std::size_t k = 0; k < K; ++k) {
                const std::size_t ik = i * K + k;
                const core::view<T> dm = ctx.d_mask[ik].view();
                if (i + 1 == layers) {
                    if (!d_mask_logit.empty())
                        for (core::index_t s = 0; s < n; ++s)
                            for (core::index_t q = 0; q < plane; ++q)
                                dm[s * plane + q] += d_mask_logit[(s * kp + static_cast<core::index_t>(k)) * plane + q];
                } else {
                    const core::const_view<T> carry = ctx.d_mask_carry[k].cview();
                    for (core::index_t q = 0; q < dm.numel(); ++q) dm[q] += carry[q];
                }
                if (i > 0) {
                    resamplers_[i - 1].template backward<T>(ctx.resample[(i - 1) * K + k], ctx.d_mask[ik].cview(),
                                                nn::ensure_shape(ctx.d_mask_carry[k], ctx.mask[(i - 1) * K + k].shape()),
                                                core::grad_mode::assign);
                } else {
                    // The to-mask conv reads F_R^k at layer s: its gradient joins the blend's.
                    to_mask_.front().template backward<T>(p, ctx.to_mask[k], ctx.d_mask[ik].cview(), ctx.d_f_r[ik].view(),
                                              ctx.d_w_d[k].view(), g, core::grad_mode::accumulate,
                                              k == 0 ? param_mode : accumulate_unless_none(param_mode),
                                              core::grad_mode::accumulate);
                }
            }
            // dF_S through the frozen detail injection.
            core::const_view<T> d_fs = d_cur;
            if (static_cast<int>(j) == background_.injection_layer() && i > 0) {
                background_.detail_injection().template backward<T>(p, ctx.injection, d_cur,
                                                                    nn::ensure_shape(ctx.d_f_s_pre, os), g,
                                                                    core::grad_mode::assign, off);
                d_fs = ctx.d_f_s_pre.cview();
            }
            // The branch layer for every pass, then the backbone layer (data only). Layer s's
            // input comes from the frozen shared part: no input gradient is needed there.
            const bool want_dx = i > 0;
            const core::grad_mode branch_param = accumulate_unless_none(param_mode);
            const core::view<T> dx = want_dx ? nn::ensure_shape(ctx.dx[i], ctx.x[i].shape()) : core::view<T>{};
            for (std::size_t k = 0; k < K; ++k) {
                const std::size_t ik = i * K + k;
                branch_[i].template backward<T>(p, ctx.branch[ik], ctx.d_f_r[ik].cview(), dx, ctx.d_w_d[k].view(), g,
                                    want_dx ? (k == 0 ? core::grad_mode::assign : core::grad_mode::accumulate) : off,
                                    k == 0 ? param_mode : branch_param, core::grad_mode::accumulate);
            }
            if (want_dx)
                backbone[j].template backward<T>(p, ctx.backbone[i], d_fs, dx, dw_unused, g, core::grad_mode::accumulate, off,
                                     core::grad_mode::assign);
        }
        backward_mapping(p, ctx, d_z_d, g, data_mode, param_mode);
    }

private:
    static defect_generator_config complete(defect_generator_config c) {
        if (c.z_dim == 0) c.z_dim = c.background.z_dim;
        if (c.w_dim == 0) c.w_dim = c.background.w_dim;
        if (c.start_layer == -1) {
            const synthesis_schedule s = make_synthesis_schedule(c.background.synthesis);
            c.start_layer = default_defect_start_layer(s, c.background.synthesis.resolution);
        }
        return c;
    }

    static core::grad_mode accumulate_unless_none(core::grad_mode m) {
        return m == core::grad_mode::none ? m : core::grad_mode::accumulate;
    }

    // The to-mask layer: to-RGB's kind (1x1, no demodulation, no filters) with one output, on the
    // grid of layer s's output.
    static layer_spec to_mask_spec(const layer_spec& s) {
        layer_spec t;
        t.index = s.index;
        t.is_torgb = true;
        t.in_channels = s.out_channels;
        t.out_channels = 1;
        t.kernel = 1;
        t.in_size = t.conv_size = t.up_size = t.out_size = s.out_size;
        t.in_sampling_rate = t.out_sampling_rate = t.tmp_sampling_rate = s.out_sampling_rate;
        t.in_cutoff = t.out_cutoff = s.out_cutoff;
        t.out_stopband = s.out_stopband;
        return t;
    }

    template <class T>
    static core::const_view<T> background_latent(const context<T>& ctx) {
        return ctx.truncation_psi != 1.0 ? ctx.background.w_truncated.cview() : ctx.background.mapping_out.back().cview();
    }

    // Layer j's input on the background pass (after the detail injection when it follows L_{j-1}).
    template <class T>
    core::const_view<T> background_input(const context<T>& ctx, std::size_t j) const {
        return j >= 1 && static_cast<int>(j - 1) == background_.injection_layer() ? ctx.background.injected.cview()
                                                                                  : ctx.background.features[j].cview();
    }

    // F_R^k = B_j(x_j, w_d^k) for every pass, and M^k at layer j's output.
    template <class T>
    void run_branch(nn::params_in<T> p, context<T>& ctx, std::size_t i, std::size_t K, core::index_t n,
                    core::const_view<T> x, const core::shape& os) const {
        const core::shape ms{n, 1, os[2], os[3]};
        for (std::size_t k = 0; k < K; ++k) {
            const core::view<T> fr = nn::ensure_shape(ctx.f_r[i * K + k], os);
            branch_[i].template forward<T>(p, x, ctx.w_d[k].cview(), fr, ctx.branch[i * K + k]);
            const core::view<T> m = nn::ensure_shape(ctx.mask[i * K + k], ms);
            if (i == 0)
                to_mask_.front().template forward<T>(p, fr, ctx.w_d[k].cview(), m, ctx.to_mask[k]);
            else
                resamplers_[i - 1].template forward<T>(ctx.mask[(i - 1) * K + k].cview(), m, ctx.resample[(i - 1) * K + k]);
        }
    }

    // x_{j+1}: the passes' residuals blended in pass order onto the backbone's features `base`.
    template <class B, class T>
    void blend_into(const B& blend, context<T>& ctx, std::size_t i, std::size_t K, core::const_view<T> base,
                    const core::shape& os) const {
        const core::view<T> next = nn::ensure_shape(ctx.x[i + 1], os);
        for (std::size_t k = 0; k < K; ++k) {
            core::const_view<T> from = base;
            if (k > 0) {
                core::copy(core::const_view<T>(next), nn::ensure_shape(ctx.blended_tmp[i], os));
                from = ctx.blended_tmp[i].cview();
            }
            blend.template forward<T>(from, ctx.f_r[i * K + k].cview(), ctx.mask[i * K + k].cview(), next);
        }
    }

    template <class T>
    void resize(context<T>& ctx, std::size_t layers, std::size_t K) const {
        ctx.x.resize(layers + 1);
        ctx.f_s.resize(layers);
        ctx.f_s_injected.resize(layers);
        ctx.blended_tmp.resize(layers);
        ctx.f_r.resize(layers * K);
        ctx.mask.resize(layers * K);
        ctx.backbone.resize(layers);
        ctx.branch.resize(layers * K);
        ctx.to_mask.resize(K);
        ctx.resample.resize(layers > 0 ? (layers - 1) * K : 0);
    }

    template <class T>
    void check_outputs(const defect_outputs<T>& out, core::index_t n, core::index_t kp) const {
        const auto need = [](core::view<T> v, const core::shape& s, const char* what, bool optional) {
            IMBDEF_REQUIRE((optional && v.empty()) || v.shape() == s, std::string("models::defect_generator output ") + what,
                           "shape " + s.to_string() + (optional ? " or empty" : ""), "shape " + v.shape().to_string());
        };
        need(out.image, image_shape(n), "image", false);
        need(out.mask_logit, mask_shape(n, kp), "mask_logit", false);
        need(out.mask, mask_shape(n, kp), "mask", true);
        need(out.background, image_shape(n), "background", true);
        need(out.valid_region, mask_shape(n), "valid_region", true);
    }

    template <class T>
    void load_classes(std::span<const int> classes, core::index_t n, core::index_t kp, context<T>& ctx) const {
        const std::size_t count = static_cast<std::size_t>(n * kp);
        ctx.classes.assign(count, 0);
        if (classes.empty() && config_.num_classes == 1) return;
        IMBDEF_REQUIRE(classes.size() == count, "models::defect_generator classes",
                       std::to_string(count) + " labels (N K = " + std::to_string(n) + " x " + std::to_string(kp) +
                           ", sample-major)" + (config_.num_classes == 1 ? " or none" : ""),
                       std::to_string(classes.size()));
        for (std::size_t i = 0; i < count; ++i) {
            IMBDEF_REQUIRE(classes[i] >= 0 && classes[i] < config_.num_classes, "models::defect_generator classes",
                           "a class in [0, " + std::to_string(config_.num_classes) + ")",
                           std::to_string(classes[i]) + " for sample " + std::to_string(i / static_cast<std::size_t>(kp)) +
                               ", pass " + std::to_string(i % static_cast<std::size_t>(kp)));
            ctx.classes[i] = classes[i];
        }
    }

    // z_d [N, K, zd] (sample-major rows) -> w_d^k [N, W_d] per pass.
    template <class T>
    void map_defect_codes(nn::params_in<T> p, core::const_view<T> z_d, core::index_t n, core::index_t kp,
                          context<T>& ctx) const {
        const core::index_t rows = n * kp, wd = config_.w_dim;
        ctx.z_d = z_d;
        const core::const_view<T> z_rows(z_d.data(), core::shape{rows, config_.z_dim});
        const core::const_view<T> w = mapping_.forward<T>(p, z_rows, ctx.classes, ctx.mapping);
        ctx.w_d.resize(static_cast<std::size_t>(kp));
        ctx.d_w_d.resize(static_cast<std::size_t>(kp));
        for (core::index_t k = 0; k < kp; ++k) {
            const core::view<T> wk = nn::ensure_shape(ctx.w_d[static_cast<std::size_t>(k)], {n, wd});
            for (core::index_t s = 0; s < n; ++s)
                for (core::index_t j = 0; j < wd; ++j) wk(s, j) = w(s * kp + k, j);
        }
    }

    // Every pass's dL/dw_d^k back through the mapping: its parameters, and z_d under data_mode.
    template <class T>
    void backward_mapping(nn::params_in<T> p, context<T>& ctx, core::view<T> d_z_d, nn::grads_out<T> g,
                          core::grad_mode data_mode, core::grad_mode param_mode) const {
        const core::index_t kp = ctx.passes, wd = config_.w_dim;
        const core::view<T> d_out = mapping_.output_gradient(ctx.mapping);
        const core::index_t n = d_out.size(0) / kp;
        for (core::index_t k = 0; k < kp; ++k) {
            const core::const_view<T> dk = ctx.d_w_d[static_cast<std::size_t>(k)].cview();
            for (core::index_t s = 0; s < n; ++s)
                for (core::index_t j = 0; j < wd; ++j) d_out(s * kp + k, j) = dk(s, j);
        }
        if (data_mode != core::grad_mode::none)
            IMBDEF_REQUIRE(d_z_d.numel() == d_out.size(0) * config_.z_dim, "models::defect_generator::backward d_z_d",
                           "the shape of z_d, " + ctx.z_d.shape().to_string(), "shape " + d_z_d.shape().to_string());
        mapping_.backward<T>(p, ctx.mapping, d_z_d, g, data_mode, param_mode);
    }

    // B of every sample, from the union of its passes' output masks (as `mask` reports them).
    template <class T>
    void composite_weights(context<T>& ctx, core::index_t n, core::index_t kp) const {
        const core::index_t c = image_channels(), r = resolution(), plane = r * r;
        const std::size_t last = (branch_.size() - 1) * static_cast<std::size_t>(kp);
        const core::view<T> weight = nn::ensure_shape(ctx.composite, {n, 1, r, r});
        const core::view<T> scratch = nn::ensure_shape(ctx.composite_scratch, {r, r});
        const T* bg = ctx.background.features.back().data();
        for (core::index_t s = 0; s < n; ++s) {
            const T* b_raw = bg + (s * (c + 1) + c) * plane;
            const auto inside = [&](core::index_t q) {
                if (config_.mask_in_valid_region && b_raw[q] < 0) return false;
                for (core::index_t k = 0; k < kp; ++k)
                    if (ctx.mask[last + static_cast<std::size_t>(k)].data()[s * plane + q] >= 0) return true;
                return false;
            };
            config_.composite.weights(r, inside, scratch.data(), weight.data() + s * plane);
        }
    }

    template <class T>
    void write_outputs(const context<T>& ctx, const defect_outputs<T>& out, core::index_t n, core::index_t kp) const {
        const core::index_t c = image_channels(), r = resolution(), plane = r * r;
        const std::size_t layers = branch_.size(), K = static_cast<std::size_t>(kp);
        const T scale = static_cast<T>(config_.background.output_scale);
        const T* rgb = ctx.rgb.data();
        const T* bg = ctx.background.features.back().data();  // to-RGB's output, before the 0.25
        for (core::index_t s = 0; s < n; ++s) {
            const T* b_raw = bg + (s * (c + 1) + c) * plane;
            const T* weight = ctx.composite.data() + s * plane;
            for (core::index_t q = 0; q < c * plane; ++q) {
                const T background = bg[s * (c + 1) * plane + q] * scale;
                out.image[s * c * plane + q] = background + weight[q % plane] * (rgb[s * (c + 1) * plane + q] * scale - background);
                if (!out.background.empty()) out.background[s * c * plane + q] = background;
            }
            if (!out.valid_region.empty())
                for (core::index_t q = 0; q < plane; ++q) out.valid_region[s * plane + q] = b_raw[q] >= 0 ? T(1) : T(0);
            for (std::size_t k = 0; k < K; ++k) {
                const T* m = ctx.mask[(layers - 1) * K + k].data() + s * plane;
                const core::index_t o = (s * kp + static_cast<core::index_t>(k)) * plane;
                for (core::index_t q = 0; q < plane; ++q) {
                    out.mask_logit[o + q] = m[q];
                    if (!out.mask.empty()) {
                        const bool inside = m[q] >= 0 && (!config_.mask_in_valid_region || b_raw[q] >= 0);
                        out.mask[o + q] = inside ? T(1) : T(0);
                    }
                }
            }
        }
    }

    defect_generator_config config_;
    background_type background_;
    Blend blend_;
    int start_ = 0;
    defect_mapping mapping_;
    std::vector<nn::synthesis_layer> branch_;       // L_s .. L_{N-1}
    std::vector<mask_resampler> resamplers_;        // L_{s+1} .. L_{N-1}
    std::vector<nn::synthesis_layer> to_mask_;      // one; a vector because the layer has no default
};

// The paper's default: the sigmoid blend (kappa 10) on the PGDI background generator.
using defect_generator = basic_defect_generator<>;

}  // namespace imbdef::models
