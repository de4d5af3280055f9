#pragma once
// Detail injection: PGDI, Progress-coupled Gated Detail Injection (METHOD.md, stage 1, our default
// formulation), and its neutral alternative. At one chosen layer of the generator, with features F:
//   H  = F - lowpass(F)                      high-frequency residual (binomial 3x3, depthwise)
//   g  = sigmoid(conv1x1([F, H]) + bias)     per-pixel gate, bias initialised to -2
//   F' = F + alpha(p) g H                    alpha: a gating schedule of training progress p
// At inference p = 1. With alpha(p) = 0 the layer is the identity and its parameters get zero
// gradients, which is what the schedule's early phase intends.
//
// A detail-injection policy declares its parameters for a given channel count and maps features
// to features of the same shape given the progress; backward follows the gradient contract.

#include <cmath>
#include <concepts>
#include <string>
#include <string_view>

#include "../core/grad_mode.hpp"
#include "../core/parallel.hpp"
#include "../nn/module.hpp"
#include "../ops/binomial_lowpass.hpp"
#include "../ops/conv2d.hpp"
#include "gating_schedule.hpp"

namespace imbdef::policies {

template <class P>
concept detail_injection = std::copy_constructible<P> && requires(P p, const P cp, const nn::registry& r, core::index_t c,
                                                                  typename P::template context<float>& ctx,
                                                                  nn::params_in<float> params, nn::grads_out<float> g,
                                                                  core::const_view<float> x, core::view<float> y,
                                                                  core::grad_mode m) {
    { P::name } -> std::convertible_to<std::string_view>;
    p.declare(r, c);
    cp.forward(params, x, 0.5, y, ctx);
    cp.backward(params, ctx, x, y, g, m, m);
};

struct no_injection {
    static constexpr std::string_view name = "none";
    template <class T>
    struct context {};
    void declare(const nn::registry&, core::index_t) {}
    template <class T>
    void forward(nn::params_in<T>, core::const_view<T> x, double, core::view<T> y, context<T>&) const {
        core::copy(x, y);
    }
    template <class T>
    void backward(nn::params_in<T>, context<T>&, core::const_view<T> dy, core::view<T> dx, nn::grads_out<T>,
                  core::grad_mode data_mode, core::grad_mode) const {
        if (data_mode == core::grad_mode::none) return;
        for (core::index_t i = 0; i < dx.numel(); ++i) core::store_grad(dx[i], dy[i], data_mode);
    }
};

template <gating_schedule Schedule = cosine_ramp_schedule>
struct pgdi {
    static constexpr std::string_view name = "pgdi";
    Schedule schedule{};
    double gate_bias_init = -2.0;

    nn::parameter_ref gate_weight{}, gate_bias{};
    core::index_t channels = 0;

    template <class T>
    struct context {
        core::const_view<T> x;
        T alpha = 0;
        core::tensor<T> high, stacked, w_eff, gate, d_high, d_stacked, d_gate, d_w, low_adjoint;
    };

    void declare(const nn::registry& r, core::index_t c) {
        channels = c;
        gate_weight = r.parameter("gate.weight", {1, 2 * c, 1, 1}, nn::initializer::normal(0, 1));
        gate_bias = r.parameter("gate.bias", {1}, nn::initializer::constant(gate_bias_init));
    }

    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> x, double progress, core::view<T> y, context<T>& ctx) const {
        IMBDEF_REQUIRE(x.rank() == 4 && x.size(1) == channels, "policies::pgdi",
                       "features [N, " + std::to_string(channels) + ", H, W]", "shape " + x.shape().to_string());
        ctx.x = x;
        ctx.alpha = static_cast<T>(schedule(progress));
        const core::index_t n = x.size(0), c = channels, hw = x.size(2) * x.size(3);
        const core::view<T> h = nn::ensure_shape(ctx.high, x.shape());
        ops::binomial_lowpass<T>(x, h);
        const core::view<T> st = nn::ensure_shape(ctx.stacked, {n, 2 * c, x.size(2), x.size(3)});
        core::parallel_for(0, n * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t plane = lo; plane < hi; ++plane) {
                const core::index_t s = plane / c, ch = plane % c;
                const T* xs = x.data() + plane * hw;
                T* hs = h.data() + plane * hw;
                T* f_dst = st.data() + (s * 2 * c + ch) * hw;
                T* h_dst = st.data() + (s * 2 * c + c + ch) * hw;
                for (core::index_t i = 0; i < hw; ++i) {
                    hs[i] = xs[i] - hs[i];
                    f_dst[i] = xs[i];
                    h_dst[i] = hs[i];
                }
            }
        });
        const auto w = p[gate_weight];
        const core::view<T> we = nn::ensure_shape(ctx.w_eff, w.shape());
        const T wg = static_cast<T>(1.0 / std::sqrt(static_cast<double>(2 * c)));
        for (core::index_t i = 0; i < w.numel(); ++i) we[i] = w[i] * wg;
        const core::view<T> g = nn::ensure_shape(ctx.gate, {n, 1, x.size(2), x.size(3)});
        ops::conv2d<T>(st, we, p[gate_bias], g, {});
        for (T& v : g) v = T(1) / (T(1) + std::exp(-v));
        const T a = ctx.alpha;
        core::parallel_for(0, n * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t plane = lo; plane < hi; ++plane) {
                const T* gs = g.data() + (plane / c) * hw;
                for (core::index_t i = 0; i < hw; ++i) y[plane * hw + i] = x[plane * hw + i] + a * gs[i] * h[plane * hw + i];
            }
        });
    }

    template <class T>
    void backward([[maybe_unused]] nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, nn::grads_out<T> grads,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        const core::index_t n = dy.size(0), c = channels, hw = dy.size(2) * dy.size(3);
        const T a = ctx.alpha;
        const auto& h = ctx.high;
        const auto& g = ctx.gate;
        // dz: the gate's pre-activation gradient; dH: what reaches H directly.
        const core::view<T> dz = nn::ensure_shape(ctx.d_gate, g.shape());
        const core::view<T> dh = nn::ensure_shape(ctx.d_high, h.shape());
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t s = lo; s < hi; ++s)
                for (core::index_t i = 0; i < hw; ++i) {
                    T acc = 0;
                    const T gi = g[s * hw + i];
                    for (core::index_t ch = 0; ch < c; ++ch) {
                        const core::index_t k = (s * c + ch) * hw + i;
                        acc += dy[k] * h[k];
                        dh[k] = a * gi * dy[k];
                    }
                    dz[s * hw + i] = a * acc * gi * (T(1) - gi);
                }
        });
        const T wg = static_cast<T>(1.0 / std::sqrt(static_cast<double>(2 * c)));
        if (param_mode != core::grad_mode::none) {
            const core::view<T> dwe = nn::ensure_shape(ctx.d_w, ctx.w_eff.shape());
            ops::conv2d_backward_weight<T>(ctx.stacked.cview(), dz, dwe, core::grad_mode::assign, {});
            const auto gw = grads[gate_weight];
            for (core::index_t i = 0; i < gw.numel(); ++i) core::store_grad(gw[i], dwe[i] * wg, param_mode);
            ops::conv2d_backward_bias<T>(dz, grads[gate_bias], param_mode);
        }
        if (data_mode == core::grad_mode::none) return;
        const core::view<T> dst = nn::ensure_shape(ctx.d_stacked, ctx.stacked.shape());
        ops::conv2d_backward_data<T>(dz, ctx.w_eff.cview(), dst, core::grad_mode::assign, {});
        // Total gradient at H (direct and through the gate), then H = F - lowpass(F).
        core::parallel_for(0, n * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t plane = lo; plane < hi; ++plane) {
                const core::index_t s = plane / c, ch = plane % c;
                const T* dsh = dst.data() + (s * 2 * c + c + ch) * hw;
                for (core::index_t i = 0; i < hw; ++i) dh[plane * hw + i] += dsh[i];
            }
        });
        // dF = dy + d_stacked[F part] + dH - lowpass^T(dH); the lowpass adjoint goes through a
        // buffer so that accumulate mode adds each term once.
        const core::view<T> low_t = nn::ensure_shape(ctx.low_adjoint, dy.shape());
        ops::binomial_lowpass_backward<T>(dh, low_t, core::grad_mode::assign);
        core::parallel_for(0, n * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t plane = lo; plane < hi; ++plane) {
                const core::index_t s = plane / c, ch = plane % c;
                const T* dsf = dst.data() + (s * 2 * c + ch) * hw;
                for (core::index_t i = 0; i < hw; ++i) {
                    const core::index_t k = plane * hw + i;
                    core::store_grad(dx[k], dy[k] + dsf[i] + dh[k] - low_t[k], data_mode);
                }
            }
        });
    }
};

static_assert(detail_injection<no_injection> && detail_injection<pgdi<>>);

}  // namespace imbdef::policies
