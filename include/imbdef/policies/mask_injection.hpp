#pragma once
// Mask injection: how the matching discriminator (models/matching_discriminator.hpp) shows each
// residual block the soft mask at that block's resolution (METHOD.md, stage 2, "Mask-aware
// matching discriminator"). Before block b, with block input features h [N, C, r, r] and the mask
// m [N, 1, r, r] (tanh(10 M) brought down to r by the discriminator's mask pyramid), a policy
// writes the block's actual input y [N, C + extra_channels, r, r]:
//
//   no_mask_injection      y = h                  (the plain (image, mask) D of stage 1)
//   concat_mask_injection  y = [h, m]             (default: conv0 and skip of every block see m)
//   add_mask_injection     y = h + w (x) m        (METHOD.md's literal h + conv1x1(m), w [C])
//
// concat is the default because it contains add: conv0 and the skip receive m through weights of
// their own, so the block can learn h + conv3x3(m) on its main branch and h + conv1x1(m) on its
// skip, where add fixes one 1x1 map shared by both; it costs 9 C + C_out weights per block.
//
// The contract (checked for float by the concept):
//   P::name                       static, a string_view for logs and checkpoint metadata
//   P::extra_channels             static constexpr: channels the injection adds to the block input
//   P::uses_mask                  static constexpr bool: false when y never depends on m; the
//                                 discriminator then skips the mask pyramid and the policy's calls
//   context<T>                    the policy's forward state, owned by the caller
//   declare(registry, C)          once per block, under the block's scope ("blocks.b0.inject");
//                                 C is the block's input channels before injection
//   forward(params, h, m, y, ctx)
//   backward(params, ctx, dy, dh, dm, grads, feature_mode, mask_mode, param_mode)
//                                 dh under feature_mode, dm under mask_mode, parameter gradients
//                                 under param_mode (core/grad_mode.hpp)
//   forward_tangent(params, ctx, h_dot, m_dot, y_dot)
//   backward_tangent(params, ctx, dy, dy_dot, dh, dh_dot, dm, dm_dot, grads_dot,
//                    feature_mode, mask_mode, param_mode)
//                                 the tangent passes of exact R1 (nn/module.hpp's contract, with
//                                 parameters held fixed): dh, dm as backward gives them, dh_dot,
//                                 dm_dot their derivatives, grads_dot the parameter-gradient tangent

#include <algorithm>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/grad_mode.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "../nn/module.hpp"

namespace imbdef::policies {

template <class P>
concept mask_injection =
    std::copy_constructible<P> && std::default_initializable<P> &&
    requires(P p, const P cp, const nn::registry& r, core::index_t c, typename P::template context<float>& ctx,
             nn::params_in<float> params, nn::grads_out<float> g, core::const_view<float> x, core::view<float> y,
             core::grad_mode m) {
        { P::name } -> std::convertible_to<std::string_view>;
        typename std::integral_constant<core::index_t, P::extra_channels>;  // a constant expression
        typename std::bool_constant<P::uses_mask>;
        p.declare(r, c);
        cp.forward(params, x, x, y, ctx);
        cp.backward(params, ctx, x, y, y, g, m, m, m);
        cp.forward_tangent(params, ctx, x, x, y);
        cp.backward_tangent(params, ctx, x, x, y, y, y, y, g, m, m, m);
    };

// Produces the concept's diagnostic inside the discriminator with one readable message. It
// returns true even then, so that the caller's static_assert adds no second error.
template <class P>
constexpr bool check_mask_injection() {
    static_assert(mask_injection<P>,
                  "imbdef::models::matching_discriminator: the MaskInjection policy must satisfy "
                  "policies::mask_injection: static name, static constexpr extra_channels and uses_mask, a nested "
                  "template context<T>, declare(registry, channels), forward(params, h, m, y, ctx), backward(params, "
                  "ctx, dy, dh, dm, grads, feature_mode, mask_mode, param_mode), forward_tangent and backward_tangent "
                  "(see policies/mask_injection.hpp)");
    return true;
}

namespace detail {

// What the discriminator reads from its policy, with neutral values for a class that fails the
// concept, so that check_mask_injection's message stays the only error.
template <class P>
constexpr bool uses_mask_of() {
    if constexpr (mask_injection<P>)
        return P::uses_mask;
    else
        return false;
}
template <class P>
constexpr core::index_t extra_channels_of() {
    if constexpr (mask_injection<P>)
        return P::extra_channels;
    else
        return 0;
}

// Planes per parallel task: enough work per task to pay for the dispatch.
inline core::index_t plane_grain(core::index_t plane_size) { return std::max<core::index_t>(1, 4096 / plane_size); }

inline void require_injection_shapes(const char* who, core::index_t channels, core::index_t extra, const core::shape& h,
                                     const core::shape& m, const core::shape& y) {
    IMBDEF_REQUIRE(h.rank() == 4 && h[1] == channels, who, "features h [N, " + std::to_string(channels) + ", H, W]",
                   "h of shape " + h.to_string());
    const core::shape ms{h[0], 1, h[2], h[3]}, ys{h[0], channels + extra, h[2], h[3]};
    IMBDEF_REQUIRE(m == ms, who, "the mask m of shape " + ms.to_string(), "m of shape " + m.to_string());
    IMBDEF_REQUIRE(y == ys, who, "the output y of shape " + ys.to_string(), "y of shape " + y.to_string());
}

// dst = src (mode assign) or dst += src (accumulate), element for element; nothing under none.
template <class T>
void store_all(core::const_view<T> src, core::view<T> dst, core::grad_mode mode) {
    if (mode == core::grad_mode::none) return;
    core::parallel_for(0, dst.numel(), 1 << 14, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t i = lo; i < hi; ++i) core::store_grad(dst[i], src[i], mode);
    });
}

// The zero gradient under `mode`: assign writes zeros, accumulate and none leave dst as it is.
template <class T>
void store_zero(core::view<T> dst, core::grad_mode mode) {
    if (mode == core::grad_mode::assign)
        for (T& v : dst) v = T(0);
}

// y = [h, m] along the channels.
template <class T>
void concat_channels(core::const_view<T> h, core::const_view<T> m, core::view<T> y) {
    const core::index_t c = h.size(1), hw = h.size(2) * h.size(3);
    core::parallel_for(0, y.size(0) * (c + 1), plane_grain(hw), [&](core::index_t lo, core::index_t hi) {
        for (core::index_t plane = lo; plane < hi; ++plane) {
            const core::index_t n = plane / (c + 1), ch = plane % (c + 1);
            const T* src = ch < c ? h.data() + (n * c + ch) * hw : m.data() + n * hw;
            T* dst = y.data() + plane * hw;
            for (core::index_t i = 0; i < hw; ++i) dst[i] = src[i];
        }
    });
}

// The adjoint of concat_channels: dh from dy's first C channels, dm from its last.
template <class T>
void split_channels(core::const_view<T> dy, core::view<T> dh, core::view<T> dm, core::grad_mode feature_mode,
                    core::grad_mode mask_mode) {
    const core::index_t c = dy.size(1) - 1, hw = dy.size(2) * dy.size(3);
    core::parallel_for(0, dy.size(0) * (c + 1), plane_grain(hw), [&](core::index_t lo, core::index_t hi) {
        for (core::index_t plane = lo; plane < hi; ++plane) {
            const core::index_t n = plane / (c + 1), ch = plane % (c + 1);
            const core::grad_mode mode = ch < c ? feature_mode : mask_mode;
            if (mode == core::grad_mode::none) continue;
            T* dst = ch < c ? dh.data() + (n * c + ch) * hw : dm.data() + n * hw;
            const T* src = dy.data() + plane * hw;
            for (core::index_t i = 0; i < hw; ++i) core::store_grad(dst[i], src[i], mode);
        }
    });
}

}  // namespace detail

// The block input is the features alone. With it the matching discriminator is, parameter for
// parameter and bit for bit, make_image_discriminator(preset.matching_discriminator(c)).
struct no_mask_injection {
    static constexpr std::string_view name = "none";
    static constexpr core::index_t extra_channels = 0;
    static constexpr bool uses_mask = false;

    template <class T>
    struct context {};

    void declare(const nn::registry&, core::index_t) {}

    template <class T>
    void forward(nn::params_in<T>, core::const_view<T> h, core::const_view<T>, core::view<T> y, context<T>&) const {
        core::copy(h, y);
    }
    template <class T>
    void backward(nn::params_in<T>, context<T>&, core::const_view<T> dy, core::view<T> dh, core::view<T> dm,
                  nn::grads_out<T>, core::grad_mode feature_mode, core::grad_mode mask_mode, core::grad_mode) const {
        detail::store_all<T>(dy, dh, feature_mode);
        detail::store_zero<T>(dm, mask_mode);
    }
    template <class T>
    void forward_tangent(nn::params_in<T>, context<T>&, core::const_view<T> h_dot, core::const_view<T>,
                         core::view<T> y_dot) const {
        core::copy(h_dot, y_dot);
    }
    template <class T>
    void backward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dh, core::view<T> dh_dot, core::view<T> dm, core::view<T> dm_dot,
                          nn::grads_out<T> g, core::grad_mode feature_mode, core::grad_mode mask_mode,
                          core::grad_mode param_mode) const {
        backward<T>(p, ctx, dy, dh, dm, g, feature_mode, mask_mode, param_mode);
        backward<T>(p, ctx, dy_dot, dh_dot, dm_dot, g, feature_mode, mask_mode, param_mode);
    }
};

// The default: the mask becomes one more input channel of the block, so conv0 and the skip each
// take C + 1 channels. No parameters of its own; everything is linear, so the tangent passes are
// the same copies applied to the tangents.
struct concat_mask_injection {
    static constexpr std::string_view name = "concat";
    static constexpr core::index_t extra_channels = 1;
    static constexpr bool uses_mask = true;

    core::index_t channels = 0;

    template <class T>
    struct context {};

    void declare(const nn::registry& r, core::index_t c) {
        IMBDEF_REQUIRE(c >= 1, "policies::concat_mask_injection " + r.prefix(), "channels >= 1", std::to_string(c));
        channels = c;
    }

    template <class T>
    void forward(nn::params_in<T>, core::const_view<T> h, core::const_view<T> m, core::view<T> y, context<T>&) const {
        detail::require_injection_shapes("policies::concat_mask_injection", channels, extra_channels, h.shape(), m.shape(),
                                         y.shape());
        detail::concat_channels<T>(h, m, y);
    }
    template <class T>
    void backward(nn::params_in<T>, context<T>&, core::const_view<T> dy, core::view<T> dh, core::view<T> dm,
                  nn::grads_out<T>, core::grad_mode feature_mode, core::grad_mode mask_mode, core::grad_mode) const {
        detail::split_channels<T>(dy, dh, dm, feature_mode, mask_mode);
    }
    template <class T>
    void forward_tangent(nn::params_in<T>, context<T>&, core::const_view<T> h_dot, core::const_view<T> m_dot,
                         core::view<T> y_dot) const {
        detail::concat_channels<T>(h_dot, m_dot, y_dot);
    }
    template <class T>
    void backward_tangent(nn::params_in<T>, context<T>&, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dh, core::view<T> dh_dot, core::view<T> dm, core::view<T> dm_dot,
                          nn::grads_out<T>, core::grad_mode feature_mode, core::grad_mode mask_mode, core::grad_mode) const {
        detail::split_channels<T>(dy, dh, dm, feature_mode, mask_mode);
        detail::split_channels<T>(dy_dot, dh_dot, dm_dot, feature_mode, mask_mode);
    }
};

// METHOD.md's formulation h <- h + conv1x1(m): y[n, c] = h[n, c] + w[c] m[n], one weight per
// channel, "weight" [C, 1, 1, 1] under the block's "inject" scope, N(0, 1) (the equalised-lr gain
// of a 1x1 conv from one channel is 1). Bilinear in (w, m), so its tangent rules add the cross term
// dw_dot = sum dy_dot m + dy m_dot.
struct add_mask_injection {
    static constexpr std::string_view name = "add";
    static constexpr core::index_t extra_channels = 0;
    static constexpr bool uses_mask = true;

    core::index_t channels = 0;
    nn::parameter_ref weight_ref{};

    template <class T>
    struct context {
        core::const_view<T> m, m_dot;  // the caller's mask and its tangent, kept for backward
    };

    void declare(const nn::registry& r, core::index_t c) {
        IMBDEF_REQUIRE(c >= 1, "policies::add_mask_injection " + r.prefix(), "channels >= 1", std::to_string(c));
        channels = c;
        weight_ref = r.parameter("weight", {c, 1, 1, 1}, nn::initializer::normal(0, 1));
    }

    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> h, core::const_view<T> m, core::view<T> y, context<T>& ctx) const {
        detail::require_injection_shapes("policies::add_mask_injection", channels, extra_channels, h.shape(), m.shape(),
                                         y.shape());
        ctx.m = m;
        add_weighted<T>(h, p[weight_ref], m, y);
    }
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dh, core::view<T> dm,
                  nn::grads_out<T> g, core::grad_mode feature_mode, core::grad_mode mask_mode,
                  core::grad_mode param_mode) const {
        detail::store_all<T>(dy, dh, feature_mode);
        mask_gradient<T>(p[weight_ref], dy, dm, mask_mode);
        if (param_mode != core::grad_mode::none) weight_gradient<T>(dy, ctx.m, {}, {}, g[weight_ref], param_mode);
    }
    template <class T>
    void forward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> h_dot, core::const_view<T> m_dot,
                         core::view<T> y_dot) const {
        ctx.m_dot = m_dot;
        add_weighted<T>(h_dot, p[weight_ref], m_dot, y_dot);
    }
    template <class T>
    void backward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dh, core::view<T> dh_dot, core::view<T> dm, core::view<T> dm_dot,
                          nn::grads_out<T> g_dot, core::grad_mode feature_mode, core::grad_mode mask_mode,
                          core::grad_mode param_mode) const {
        const auto w = p[weight_ref];
        detail::store_all<T>(dy, dh, feature_mode);
        detail::store_all<T>(dy_dot, dh_dot, feature_mode);
        mask_gradient<T>(w, dy, dm, mask_mode);
        mask_gradient<T>(w, dy_dot, dm_dot, mask_mode);  // w has no tangent
        if (param_mode != core::grad_mode::none) weight_gradient<T>(dy_dot, ctx.m, dy, ctx.m_dot, g_dot[weight_ref], param_mode);
    }

private:
    // y[n, c] = h[n, c] + w[c] m[n].
    template <class T>
    static void add_weighted(core::const_view<T> h, core::const_view<T> w, core::const_view<T> m, core::view<T> y) {
        const core::index_t c = h.size(1), hw = h.size(2) * h.size(3);
        core::parallel_for(0, h.size(0) * c, detail::plane_grain(hw), [&](core::index_t lo, core::index_t hi) {
            for (core::index_t plane = lo; plane < hi; ++plane) {
                const T wc = w[plane % c];
                const T* ms = m.data() + (plane / c) * hw;
                for (core::index_t i = 0; i < hw; ++i) y[plane * hw + i] = h[plane * hw + i] + wc * ms[i];
            }
        });
    }
    // dm[n] = sum_c w[c] dy[n, c], summed in channel order for every thread count.
    template <class T>
    static void mask_gradient(core::const_view<T> w, core::const_view<T> dy, core::view<T> dm, core::grad_mode mode) {
        if (mode == core::grad_mode::none) return;
        const core::index_t c = dy.size(1), hw = dy.size(2) * dy.size(3);
        core::parallel_for(0, dy.size(0), 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t n = lo; n < hi; ++n)
                for (core::index_t i = 0; i < hw; ++i) {
                    T s = 0;
                    for (core::index_t ch = 0; ch < c; ++ch) s += w[ch] * dy[(n * c + ch) * hw + i];
                    core::store_grad(dm[n * hw + i], s, mode);
                }
        });
    }
    // dw[c] = sum_{n, pixels} dy[n, c] m[n] (+ dy2[n, c] m2[n] when given: the tangent's cross term).
    template <class T>
    static void weight_gradient(core::const_view<T> dy, core::const_view<T> m, core::const_view<T> dy2,
                                core::const_view<T> m2, core::view<T> dw, core::grad_mode mode) {
        const core::index_t n_count = dy.size(0), c = dy.size(1), hw = dy.size(2) * dy.size(3);
        const bool second = !dy2.empty();
        core::parallel_for(0, c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t ch = lo; ch < hi; ++ch) {
                T s = 0;
                for (core::index_t n = 0; n < n_count; ++n)
                    for (core::index_t i = 0; i < hw; ++i) {
                        s += dy[(n * c + ch) * hw + i] * m[n * hw + i];
                        if (second) s += dy2[(n * c + ch) * hw + i] * m2[n * hw + i];
                    }
                core::store_grad(dw[ch], s, mode);
            }
        });
    }
};

static_assert(mask_injection<no_mask_injection> && mask_injection<concat_mask_injection> &&
              mask_injection<add_mask_injection>);

}  // namespace imbdef::policies
