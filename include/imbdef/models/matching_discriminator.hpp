#pragma once
// The mask-aware matching discriminator D_match (METHOD.md, stage 2): the residual discriminator of
// image_discriminator.hpp on [image, soft mask], which also shows every block the mask at that
// block's resolution through a MaskInjection policy (policies/mask_injection.hpp).
//
//   x         [N, C_img + 1, R, R]; the LAST channel is the soft mask m = tanh(10 M) in [-1, 1]
//             (the caller applies the tanh, as for the plain D of stage 1)
//   m_0 = m,  m_{b+1} = box(m_b)          the mask pyramid, m_b at block b's input resolution R / 2^b
//   h_0 = fromrgb(x)                      1x1 conv over all C_img + 1 channels
//   h_{b+1} = block_b(inject_b(h_b, m_b)) conv0 and skip take C_b + extra_channels inputs
//   h = epilogue(h_B)                     [N, C]: minibatch std, conv, flatten, fc (the image D's)
//   logits = out(h) + s(h, c)             [N, 1]; s = 0 for one class (K = 1), otherwise the
//                                         class projection s_n = <E[c_n], h_n> / sqrt(C)
//
// box is the exact 2x2 area mean (upfirdn2d with taps [1/2, 1/2], down 2, no padding). Why this
// filter: it has no padding, so a constant mask stays constant at every level (a blur with zero
// padding pulls the background value -1 towards 0 along the border: a false edge the
// discriminator could learn from); each of its pixels is centred on the same point as the
// features' pixels after the blocks' [1, 3, 3, 1] downsampling (between the two source pixels);
// and it is what the data pipeline uses to shrink masks. It is linear, so the mask gradient goes
// back through every level by its adjoint and the tangent passes apply it to the tangents.
//
// Parameters, per block b (input resolution r = R / 2^b, t = ch(r), o = ch(r / 2), ch(res) =
// min(channel_base / res, channel_max), e = MaskInjection::extra_channels):
//
//   name                            shape                 count
//   fromrgb.weight, .bias           [t0, C_in, 1, 1], [t0] C_in t0 + t0                  (once)
//   blocks.b{b}.main.conv0.weight   [t, t + e, 3, 3]      9 t (t + e) + t (with its bias)
//   blocks.b{b}.main.conv1.weight   [o, t, 3, 3]          9 o t + o (with its bias)
//   blocks.b{b}.skip.weight         [o, t + e, 1, 1]      o (t + e)                     (no bias)
//   blocks.b{b}.inject.*            the policy's own      none for concat and none, C for add
//   epilogue.conv, .fc, .out        as the image D's      9 C (C + 1) + C + 16 C^2 + C + C + 1, C = ch(4)
//   projection.embed.weight         [K, C]                K C                   (only when K > 1)
//
// so count = discriminator_schedule::parameter_count(C_in, 1) + e sum_b (9 t_b + o_b) + (K > 1 ?
// K C : 0) + the policy's own (matching_discriminator_parameter_count). tiny, C_img = 3 (C_in =
// 4, base 256, max 32): blocks 32: 8 -> 16, 16: 16 -> 32, 8: 32 -> 32, epilogue 32 channels;
//   without injection  40 + 1,880 + 7,472 + 19,520 + 25,985     = 54,897
//   concat             54,897 + (9*8 + 16) + (9*16 + 32) + (9*32 + 32) = 55,481
//   concat, K = 3      55,481 + 3 * 32                          = 55,577
// cpu64, C_img = 3 (base 1024, max 128): 879,009 without injection and 881,521 with concat.
//
// Parameter names are the image discriminator's ("blocks.b0.main.conv0.weight"), so with
// no_mask_injection and one class the network is
// make_image_discriminator(preset.matching_discriminator(c)) exactly: same layout, same initial
// values, same outputs and gradients bit for bit. Every part has the tangent passes, so
// policies::r1_exact computes R1 exactly on it.
//
// Classes (METHOD.md, "Many defect types, one model"). With K = num_classes > 1 one stage-2 model
// serves several defect types through a projection head (nn/class_projection.hpp, which states the
// scaling and why E is not normalised): D(x, m, c) = out(h) + <E[c], h> / sqrt(C). The labels come
// per sample through the context, ctx.classes (a span the caller keeps alive and unchanged until
// the last backward pass of that context), so D stays a module x -> logits; nn::with_classes fixes
// them for code that makes its own contexts (module_problem, r1_exact without a workspace).
// K = 1 is the unconditional network of before, bit for bit: no projection is declared or run (a
// single embedding row would only duplicate out's weight), and ctx.classes may be empty (or all
// 0). The embedding is declared last, so every other tensor keeps its name, offset and initial
// value whatever K is: an unconditional checkpoint loads into a class-conditional D's first
// tensors, and with a zero embedding the two give the same logits.

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/grad_mode.hpp"
#include "../core/parallel.hpp"
#include "../nn/class_projection.hpp"
#include "../nn/module.hpp"
#include "../nn/with_classes.hpp"
#include "../ops/upfirdn2d.hpp"
#include "../policies/mask_injection.hpp"
#include "discriminator_schedule.hpp"
#include "image_discriminator.hpp"

namespace imbdef::models {

// The epilogue up to h, the input of its output layer: the image discriminator's epilogue without
// `out`, which the matching discriminator runs itself beside the class projection.
using matching_epilogue =
    nn::sequential<nn::named<"mbstd", nn::minibatch_std_layer>, nn::named<"conv", nn::conv_layer>,
                   nn::named<"flatten", nn::flatten>, nn::named<"fc", nn::fully_connected_layer>>;

template <class MaskInjection = policies::concat_mask_injection>
class basic_matching_discriminator {
    static_assert(policies::check_mask_injection<MaskInjection>());

public:
    using injection_type = MaskInjection;
    // Whether the blocks see the mask, and how many channels the injection adds to their inputs.
    static constexpr bool uses_mask = policies::detail::uses_mask_of<MaskInjection>();
    static constexpr core::index_t extra_channels = policies::detail::extra_channels_of<MaskInjection>();

    template <class T>
    struct context {
        nn::conv_layer::context<T> fromrgb;
        std::vector<typename discriminator_block::template context<T>> blocks;
        std::vector<typename MaskInjection::template context<T>> injections;
        typename matching_epilogue::template context<T> epilogue;
        nn::fully_connected_layer::context<T> out;
        nn::class_projection::context<T> projection;
        // One class label per sample, each in [0, num_classes()): set by the caller before forward
        // and kept alive and unchanged until the last backward pass of this context. May be empty
        // when num_classes() is 1.
        std::span<const int> classes;
        // h_0 .. h_B (h_B feeds the epilogue), the injected block inputs, the mask pyramid m_b;
        // saved by forward (blocks keep views of them), and their gradients and tangents.
        std::vector<core::tensor<T>> features, injected, mask;
        std::vector<core::tensor<T>> d_features, d_injected, d_mask;
        std::vector<core::tensor<T>> features_dot, injected_dot, mask_dot;
        std::vector<core::tensor<T>> d_features_dot, d_injected_dot, d_mask_dot;
        // h (the input of out and of the projection), its gradient and their tangents; with
        // classes, the two terms of the logits and their tangents.
        core::tensor<T> h, d_h, h_dot, d_h_dot;
        core::tensor<T> unconditional, projected, unconditional_dot, projected_dot;
    };

    // Block b's conv0 and skip must take the previous output's channels plus extra_channels;
    // declare and output_shape check it. The image discriminator's epilogue is split into its part
    // up to h and its output layer `out`; with num_classes > 1, out must give one logit.
    basic_matching_discriminator(nn::conv_layer fromrgb, std::vector<discriminator_block> blocks,
                                 discriminator_epilogue epilogue, MaskInjection injection = {},
                                 core::index_t num_classes = 1)
        : fromrgb_(std::move(fromrgb)),
          blocks_(std::move(blocks)),
          injections_(blocks_.size(), injection),
          epilogue_(epilogue.get<"mbstd">(), epilogue.get<"conv">(), epilogue.get<"flatten">(), epilogue.get<"fc">()),
          out_(epilogue.get<"out">()),
          projection_{num_classes, out_.in_features, out_.params.lr_multiplier} {
        IMBDEF_REQUIRE(!blocks_.empty(), "models::matching_discriminator", "at least one block", "none");
        IMBDEF_REQUIRE(num_classes >= 1, "models::matching_discriminator", "num_classes >= 1 (1: unconditional)",
                       std::to_string(num_classes));
        IMBDEF_REQUIRE(num_classes == 1 || out_.out_features == 1, "models::matching_discriminator",
                       "an output layer with one logit for the class projection",
                       std::to_string(out_.out_features) + " outputs");
    }

    std::size_t size() const noexcept { return blocks_.size(); }
    core::index_t num_classes() const noexcept { return projection_.num_classes; }
    nn::conv_layer& fromrgb() noexcept { return fromrgb_; }
    discriminator_block& block(std::size_t b) noexcept { return blocks_[b]; }
    MaskInjection& injection(std::size_t b) noexcept { return injections_[b]; }
    matching_epilogue& epilogue() noexcept { return epilogue_; }
    nn::fully_connected_layer& out() noexcept { return out_; }
    nn::class_projection& projection() noexcept { return projection_; }

    // The order is the image discriminator's, with each block's injection before the block; the
    // class embedding comes last.
    void declare(const nn::registry& r) {
        fromrgb_.declare(r.scope("fromrgb"));
        const nn::registry blocks = r.scope("blocks");
        for (std::size_t b = 0; b < blocks_.size(); ++b) {
            const nn::registry block = blocks.scope("b" + std::to_string(b));
            const core::index_t c = b == 0 ? fromrgb_.out_channels : conv1_of(b - 1).out_channels;
            IMBDEF_REQUIRE(conv0_of(b).in_channels == c + extra_channels && blocks_[b].skip().in_channels == c + extra_channels,
                           "models::matching_discriminator " + block.prefix(),
                           "conv0 and skip with " + std::to_string(c) + " + " + std::to_string(extra_channels) +
                               " input channels (features plus the injection's)",
                           std::to_string(conv0_of(b).in_channels) + " and " +
                               std::to_string(blocks_[b].skip().in_channels));
            injections_[b].declare(block.scope("inject"), c);
            blocks_[b].declare(block);
        }
        const nn::registry epilogue = r.scope("epilogue");
        epilogue_.declare(epilogue);
        out_.declare(epilogue.scope("out"));
        // The projection reads out's input and shares its equalised-lr gain (nn/class_projection.hpp).
        projection_.features = out_.in_features;
        projection_.lr_multiplier = out_.params.lr_multiplier;
        if (conditional()) projection_.declare(r.scope("projection").scope("embed"));
    }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 4, "models::matching_discriminator", "x [N, C_img + 1, H, W]",
                       "shape " + x.to_string());
        if constexpr (uses_mask) {
            const core::index_t levels = core::index_t{1} << (blocks_.size() - 1);
            IMBDEF_REQUIRE(x[1] >= 2 && x[2] % levels == 0 && x[3] % levels == 0, "models::matching_discriminator",
                           "x [N, C_img + 1, H, W]: image channels, the soft mask last, H and W multiples of " +
                               std::to_string(levels) + " (one mask level per block)",
                           "shape " + x.to_string());
        }
        core::shape s = fromrgb_.output_shape(x);
        for (const auto& b : blocks_) s = b.output_shape(injected_shape(s));
        return out_.output_shape(epilogue_.output_shape(s));
    }

    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        const std::size_t nb = blocks_.size();
        if (conditional() || !ctx.classes.empty())
            nn::check_classes(ctx.classes, x.size(0), num_classes(), "models::matching_discriminator");
        resize_context(ctx);
        fromrgb_.forward(p, x, nn::ensure_shape(ctx.features[0], fromrgb_.output_shape(x.shape())), ctx.fromrgb);
        if constexpr (uses_mask) build_pyramid<T>(x, ctx.mask);
        for (std::size_t b = 0; b < nb; ++b) {
            core::const_view<T> in = ctx.features[b].cview();
            if constexpr (uses_mask) {
                const core::view<T> inj = nn::ensure_shape(ctx.injected[b], injected_shape(in.shape()));
                injections_[b].forward(p, in, ctx.mask[b].cview(), inj, ctx.injections[b]);
                in = inj;
            }
            const core::view<T> out = nn::ensure_shape(ctx.features[b + 1], blocks_[b].output_shape(in.shape()));
            blocks_[b].forward(p, in, out, ctx.blocks[b]);
        }
        const core::view<T> h = nn::ensure_shape(ctx.h, epilogue_.output_shape(ctx.features[nb].shape()));
        epilogue_.forward(p, ctx.features[nb].cview(), h, ctx.epilogue);
        if (!conditional()) {
            out_.forward(p, ctx.h.cview(), y, ctx.out);
            return;
        }
        out_.forward(p, ctx.h.cview(), nn::ensure_shape(ctx.unconditional, y.shape()), ctx.out);
        ctx.projection.classes = ctx.classes;
        projection_.forward(p, ctx.h.cview(), nn::ensure_shape(ctx.projected, y.shape()), ctx.projection);
        add(ctx.unconditional, ctx.projected, y);
    }

    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, nn::grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        const std::size_t nb = blocks_.size();
        const core::grad_mode mask_mode = data_mode == core::grad_mode::none ? data_mode : core::grad_mode::assign;
        const core::view<T> d_h = nn::ensure_shape(ctx.d_h, ctx.h.shape());
        out_.backward(p, ctx.out, dy, d_h, g, core::grad_mode::assign, param_mode);
        if (conditional())
            projection_.backward(p, ctx.projection, dy, d_h, g, core::grad_mode::accumulate, param_mode);
        epilogue_.backward(p, ctx.epilogue, core::const_view<T>(d_h), shaped_like(ctx.d_features, ctx.features, nb), g,
                           core::grad_mode::assign, param_mode);
        for (std::size_t b = nb; b-- > 0;) {
            const core::const_view<T> dout = ctx.d_features[b + 1].cview();
            const core::view<T> dh = shaped_like(ctx.d_features, ctx.features, b);
            if constexpr (uses_mask) {
                const core::view<T> dinj = shaped_like(ctx.d_injected, ctx.injected, b);
                blocks_[b].backward(p, ctx.blocks[b], dout, dinj, g, core::grad_mode::assign, param_mode);
                injections_[b].backward(p, ctx.injections[b], core::const_view<T>(dinj), dh,
                                        mask_buffer(ctx.d_mask, ctx, b, mask_mode), g, core::grad_mode::assign, mask_mode,
                                        param_mode);
            } else {
                blocks_[b].backward(p, ctx.blocks[b], dout, dh, g, core::grad_mode::assign, param_mode);
            }
        }
        fromrgb_.backward(p, ctx.fromrgb, ctx.d_features[0].cview(), dx, g, data_mode, param_mode);
        if constexpr (uses_mask)
            if (data_mode != core::grad_mode::none) add_pyramid_gradient<T>(ctx.d_mask, dx);
    }

    template <class T>
    void forward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const
        requires nn::tangent_module<discriminator_block, T>
    {
        const std::size_t nb = blocks_.size();
        fromrgb_.forward_tangent(p, ctx.fromrgb, x_dot, shaped_like(ctx.features_dot, ctx.features, 0));
        if constexpr (uses_mask) build_pyramid<T>(x_dot, ctx.mask_dot);
        for (std::size_t b = 0; b < nb; ++b) {
            core::const_view<T> in_dot = ctx.features_dot[b].cview();
            if constexpr (uses_mask) {
                const core::view<T> inj_dot = shaped_like(ctx.injected_dot, ctx.injected, b);
                injections_[b].forward_tangent(p, ctx.injections[b], in_dot, ctx.mask_dot[b].cview(), inj_dot);
                in_dot = inj_dot;
            }
            blocks_[b].forward_tangent(p, ctx.blocks[b], in_dot, shaped_like(ctx.features_dot, ctx.features, b + 1));
        }
        const core::view<T> h_dot = nn::ensure_shape(ctx.h_dot, ctx.h.shape());
        epilogue_.forward_tangent(p, ctx.epilogue, ctx.features_dot[nb].cview(), h_dot);
        if (!conditional()) {
            out_.forward_tangent(p, ctx.out, ctx.h_dot.cview(), y_dot);
            return;
        }
        out_.forward_tangent(p, ctx.out, ctx.h_dot.cview(), nn::ensure_shape(ctx.unconditional_dot, y_dot.shape()));
        projection_.forward_tangent(p, ctx.projection, ctx.h_dot.cview(),
                                    nn::ensure_shape(ctx.projected_dot, y_dot.shape()));
        add(ctx.unconditional_dot, ctx.projected_dot, y_dot);
    }

    template <class T>
    void backward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, nn::grads_out<T> g_dot, core::grad_mode data_mode,
                          core::grad_mode param_mode) const
        requires nn::tangent_module<discriminator_block, T>
    {
        const std::size_t nb = blocks_.size();
        const core::grad_mode mask_mode = data_mode == core::grad_mode::none ? data_mode : core::grad_mode::assign;
        const core::view<T> d_h = nn::ensure_shape(ctx.d_h, ctx.h.shape());
        const core::view<T> d_h_dot = nn::ensure_shape(ctx.d_h_dot, ctx.h.shape());
        out_.backward_tangent(p, ctx.out, dy, dy_dot, d_h, d_h_dot, g_dot, core::grad_mode::assign, param_mode);
        if (conditional())
            projection_.backward_tangent(p, ctx.projection, dy, dy_dot, d_h, d_h_dot, g_dot, core::grad_mode::accumulate,
                                         param_mode);
        epilogue_.backward_tangent(p, ctx.epilogue, core::const_view<T>(d_h), core::const_view<T>(d_h_dot),
                                   shaped_like(ctx.d_features, ctx.features, nb),
                                   shaped_like(ctx.d_features_dot, ctx.features, nb), g_dot, core::grad_mode::assign,
                                   param_mode);
        for (std::size_t b = nb; b-- > 0;) {
            const core::const_view<T> dout = ctx.d_features[b + 1].cview(), dout_dot = ctx.d_features_dot[b + 1].cview();
            const core::view<T> dh = shaped_like(ctx.d_features, ctx.features, b);
            const core::view<T> dh_dot = shaped_like(ctx.d_features_dot, ctx.features, b);
            if constexpr (uses_mask) {
                const core::view<T> dinj = shaped_like(ctx.d_injected, ctx.injected, b);
                const core::view<T> dinj_dot = shaped_like(ctx.d_injected_dot, ctx.injected, b);
                blocks_[b].backward_tangent(p, ctx.blocks[b], dout, dout_dot, dinj, dinj_dot, g_dot, core::grad_mode::assign,
                                            param_mode);
                injections_[b].backward_tangent(p, ctx.injections[b], core::const_view<T>(dinj),
                                                core::const_view<T>(dinj_dot), dh, dh_dot,
                                                mask_buffer(ctx.d_mask, ctx, b, mask_mode),
                                                mask_buffer(ctx.d_mask_dot, ctx, b, mask_mode), g_dot,
                                                core::grad_mode::assign, mask_mode, param_mode);
            } else {
                blocks_[b].backward_tangent(p, ctx.blocks[b], dout, dout_dot, dh, dh_dot, g_dot, core::grad_mode::assign,
                                            param_mode);
            }
        }
        fromrgb_.backward_tangent(p, ctx.fromrgb, ctx.d_features[0].cview(), ctx.d_features_dot[0].cview(), dx, dx_dot,
                                  g_dot, data_mode, param_mode);
        if constexpr (uses_mask)
            if (data_mode != core::grad_mode::none) {
                add_pyramid_gradient<T>(ctx.d_mask, dx);
                add_pyramid_gradient<T>(ctx.d_mask_dot, dx_dot);
            }
    }

private:
    bool conditional() const noexcept { return projection_.num_classes > 1; }

    // y = a + b, the logits (or their tangents) as the sum of the unconditional and class terms.
    template <class T>
    static void add(const core::tensor<T>& a, const core::tensor<T>& b, core::view<T> y) {
        for (core::index_t i = 0; i < y.numel(); ++i) y[i] = a[i] + b[i];
    }

    nn::conv_layer& conv0_of(std::size_t b) { return blocks_[b].main().template get<"conv0">(); }
    nn::conv_layer& conv1_of(std::size_t b) { return blocks_[b].main().template get<"conv1">(); }

    static core::shape injected_shape(const core::shape& h) { return {h[0], h[1] + extra_channels, h[2], h[3]}; }

    // The box filter of the mask pyramid: taps [1/2, 1/2] on each axis, down 2, no padding.
    template <class T>
    static core::const_view<T> box() {
        static const core::tensor<T> taps({2}, {T(0.5), T(0.5)});
        return taps.cview();
    }
    static constexpr ops::upfirdn2d_params box_params = ops::upfirdn2d_params::uniform(1, 2, 0, 0, 0, 0);

    template <class T>
    void resize_context(context<T>& ctx) const {
        const std::size_t nb = blocks_.size();
        ctx.blocks.resize(nb);
        ctx.injections.resize(nb);
        for (auto* v : {&ctx.features, &ctx.d_features, &ctx.features_dot, &ctx.d_features_dot}) v->resize(nb + 1);
        for (auto* v : {&ctx.injected, &ctx.mask, &ctx.d_injected, &ctx.d_mask, &ctx.injected_dot, &ctx.mask_dot,
                        &ctx.d_injected_dot, &ctx.d_mask_dot})
            v->resize(nb);
    }

    // Buffer i of `buffers` (a gradient or a tangent) shaped like the saved activation `like[i]`.
    template <class T>
    static core::view<T> shaped_like(std::vector<core::tensor<T>>& buffers, const std::vector<core::tensor<T>>& like,
                                     std::size_t i) {
        return nn::ensure_shape(buffers[i], like[i].shape());
    }
    // The mask gradient of level b, or an empty view when the caller wants no input gradient.
    template <class T>
    static core::view<T> mask_buffer(std::vector<core::tensor<T>>& buffers, const context<T>& ctx, std::size_t b,
                                     core::grad_mode mask_mode) {
        return mask_mode == core::grad_mode::none ? core::view<T>{} : shaped_like(buffers, ctx.mask, b);
    }

    // levels[0] = the last channel of x, levels[b + 1] = box(levels[b]).
    template <class T>
    void build_pyramid(core::const_view<T> x, std::vector<core::tensor<T>>& levels) const {
        const core::index_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
        const core::view<T> m0 = nn::ensure_shape(levels[0], {n, 1, x.size(2), x.size(3)});
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t i = lo; i < hi; ++i) {
                const T* src = x.data() + (i * c + c - 1) * hw;
                for (core::index_t k = 0; k < hw; ++k) m0[i * hw + k] = src[k];
            }
        });
        for (std::size_t b = 1; b < levels.size(); ++b) {
            const core::shape s = ops::upfirdn2d_output_shape(levels[b - 1].shape(), core::shape{2}, box_params);
            ops::upfirdn2d<T>(levels[b - 1].cview(), box<T>(), nn::ensure_shape(levels[b], s), box_params);
        }
    }

    // The adjoint of build_pyramid: folds each level's gradient into the level above (destroying
    // the finer levels' buffers' contents), then adds level 0 onto dx's last channel. dx already
    // holds fromrgb's gradient under the caller's mode, so adding is right for assign and accumulate.
    template <class T>
    static void add_pyramid_gradient(std::vector<core::tensor<T>>& levels, core::view<T> dx) {
        for (std::size_t b = levels.size(); b-- > 1;)
            ops::upfirdn2d_backward<T>(levels[b].cview(), box<T>(), levels[b - 1].view(), core::grad_mode::accumulate,
                                       box_params);
        const core::index_t n = dx.size(0), c = dx.size(1), hw = dx.size(2) * dx.size(3);
        const core::const_view<T> g0 = levels[0].cview();
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t i = lo; i < hi; ++i) {
                T* dst = dx.data() + (i * c + c - 1) * hw;
                for (core::index_t k = 0; k < hw; ++k) dst[k] += g0[i * hw + k];
            }
        });
    }

    nn::conv_layer fromrgb_;
    std::vector<discriminator_block> blocks_;
    std::vector<MaskInjection> injections_;
    matching_epilogue epilogue_;
    nn::fully_connected_layer out_;
    nn::class_projection projection_;  // declared and run only with more than one class
};

// D_match with the stage-2 default, concat injection.
using matching_discriminator = basic_matching_discriminator<>;

// The parameter count of make_matching_discriminator(c, {}, num_classes) for an injection adding
// `extra_channels` to each block input, not counting the injection policy's own parameters (the
// shipped concat and none have none; add has C per block).
inline long long matching_discriminator_parameter_count(const discriminator_config& c, core::index_t extra_channels,
                                                        core::index_t num_classes = 1) {
    const discriminator_schedule s = make_discriminator_schedule(c);
    long long n = s.parameter_count(c.in_channels, c.mbstd_channels);
    for (const auto& b : s.blocks) n += extra_channels * (9LL * b.in_channels + b.out_channels);
    if (num_classes > 1) n += static_cast<long long>(num_classes) * s.epilogue_channels;
    return n;
}

// The matching discriminator for a config such as preset.matching_discriminator(image_channels):
// the image discriminator's modules, with every block's conv0 and skip widened by the policy's
// extra channels. c.in_channels counts the mask channel. num_classes > 1 adds the class projection
// (make_matching_discriminator(c, {}, 4) for four defect types with the default injection).
template <class MaskInjection = policies::concat_mask_injection>
basic_matching_discriminator<MaskInjection> make_matching_discriminator(const discriminator_config& c,
                                                                        MaskInjection injection = {},
                                                                        core::index_t num_classes = 1) {
    using discriminator = basic_matching_discriminator<MaskInjection>;
    if constexpr (discriminator::uses_mask)
        IMBDEF_REQUIRE(c.in_channels >= 2, "models::make_matching_discriminator",
                       "in_channels >= 2: the image channels plus the soft mask channel",
                       std::to_string(c.in_channels));
    IMBDEF_REQUIRE(num_classes >= 1, "models::make_matching_discriminator", "num_classes >= 1 (1: unconditional)",
                   std::to_string(num_classes));
    image_discriminator plain = make_image_discriminator(c);
    auto& repeated = plain.get<"blocks">();
    std::vector<discriminator_block> blocks;
    for (std::size_t b = 0; b < repeated.size(); ++b) {
        discriminator_block block = repeated[b];
        block.main().get<"conv0">().in_channels += discriminator::extra_channels;
        block.skip().in_channels += discriminator::extra_channels;
        blocks.push_back(std::move(block));
    }
    return discriminator(plain.get<"fromrgb">(), std::move(blocks), plain.get<"epilogue">(), std::move(injection),
                         num_classes);
}

}  // namespace imbdef::models
