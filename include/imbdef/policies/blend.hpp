#pragma once
// Blends: how the defect branch's residual enters the backbone (METHOD.md, stage 2):
//   F = F_S + beta * S(M) * F_R
// with backbone features F_S and residual F_R of shape [N, C, H, W] and the defect-mask logit M of
// shape [N, 1, H, W], broadcast over channels. The gate S decides the policy:
//   sigmoid_blend (default)  S = sigmoid(kappa * M), kappa the smoothing coefficient (smaller is
//                            softer); differentiable, so the image discriminator's gradient
//                            reaches the mask head: dM = beta * kappa * S (1 - S) * sum_c dF F_R;
//   hard_gate_blend          S = 1[M >= 0] (DFMGAN); the mask gets no gradient (dM = 0).
// The blurred hard mask follows with the image filters it needs.
// Backward: dF_S = dF, dF_R = beta * S * dF, dM as above; each under the data grad mode.

#include <cmath>
#include <concepts>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace imbdef::policies {

template <class B>
concept blend_policy = requires(const B b, core::const_view<float> f, core::view<float> out, core::grad_mode m) {
    { B::name } -> std::convertible_to<std::string_view>;
    b.forward(f, f, f, out);
    b.backward(f, f, f, out, out, out, m);
};

namespace detail {

inline void require_blend_shapes(std::string_view op, const core::shape& fs, const core::shape& fr, const core::shape& m) {
    const std::string where = "policies::" + std::string(op);
    IMBDEF_REQUIRE(fs.rank() == 4, where, "F_S of rank 4 [N, C, H, W]", "shape " + fs.to_string());
    core::require_same_shape(fr, fs, where + ": F_R vs F_S");
    IMBDEF_REQUIRE(m.rank() == 4 && m[0] == fs[0] && m[1] == 1 && m[2] == fs[2] && m[3] == fs[3], where,
                   "M of shape [" + std::to_string(fs[0]) + ", 1, " + std::to_string(fs[2]) + ", " + std::to_string(fs[3]) + "]",
                   "shape " + m.to_string());
}

// The shared loops of every pointwise gate: Gate provides value(m) and derivative(m).
template <class Gate, class T>
void gated_forward(const Gate& gate, T beta, core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m,
                   core::view<T> f) {
    require_blend_shapes(Gate::name, fs.shape(), fr.shape(), m.shape());
    core::require_same_shape(f.shape(), fs.shape(), "policies::" + std::string(Gate::name) + ": F vs F_S");
    const core::index_t n = fs.size(0), c = fs.size(1), hw = fs.size(2) * fs.size(3);
    core::parallel_for(0, n * c, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t plane = lo; plane < hi; ++plane) {
            const T* mm = m.data() + (plane / c) * hw;
            const core::index_t o = plane * hw;
            for (core::index_t i = 0; i < hw; ++i)
                f[o + i] = fs[o + i] + beta * static_cast<T>(gate.value(mm[i])) * fr[o + i];
        }
    });
}

template <class Gate, class T>
void gated_backward(const Gate& gate, T beta, core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df,
                    core::view<T> dfs, core::view<T> dfr, core::view<T> dm, core::grad_mode mode) {
    if (mode == core::grad_mode::none) return;
    require_blend_shapes(Gate::name, df.shape(), fr.shape(), m.shape());
    core::require_same_shape(dfs.shape(), df.shape(), "policies::" + std::string(Gate::name) + ": dF_S vs dF");
    core::require_same_shape(dfr.shape(), df.shape(), "policies::" + std::string(Gate::name) + ": dF_R vs dF");
    core::require_same_shape(dm.shape(), m.shape(), "policies::" + std::string(Gate::name) + ": dM vs M");
    const core::index_t n = df.size(0), c = df.size(1), hw = df.size(2) * df.size(3);
    core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t s = lo; s < hi; ++s) {
            const T* mm = m.data() + s * hw;
            T* dms = dm.data() + s * hw;
            for (core::index_t i = 0; i < hw; ++i) {
                T acc = 0;
                const T g = static_cast<T>(gate.value(mm[i]));
                for (core::index_t ch = 0; ch < c; ++ch) {
                    const core::index_t k = (s * c + ch) * hw + i;
                    core::store_grad(dfs[k], df[k], mode);
                    core::store_grad(dfr[k], beta * g * df[k], mode);
                    acc += df[k] * fr[k];
                }
                core::store_grad(dms[i], beta * static_cast<T>(gate.derivative(mm[i])) * acc, mode);
            }
        }
    });
}

}  // namespace detail

struct sigmoid_blend {
    static constexpr std::string_view name = "sigmoid_blend";
    double kappa = 10.0;  // smoothing coefficient
    double beta = 1.0;

    double value(double m) const { return 1.0 / (1.0 + std::exp(-kappa * m)); }
    double derivative(double m) const {
        const double s = value(m);
        return kappa * s * (1.0 - s);
    }

    template <class T>
    void forward(core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m, core::view<T> f) const {
        detail::gated_forward(*this, static_cast<T>(beta), fs, fr, m, f);
    }
    template <class T>
    void backward(core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df, core::view<T> dfs,
                  core::view<T> dfr, core::view<T> dm, core::grad_mode mode) const {
        detail::gated_backward(*this, static_cast<T>(beta), fr, m, df, dfs, dfr, dm, mode);
    }
};

struct hard_gate_blend {
    static constexpr std::string_view name = "hard_gate_blend";
    double beta = 1.0;

    double value(double m) const { return m >= 0 ? 1.0 : 0.0; }
    double derivative(double) const { return 0.0; }

    template <class T>
    void forward(core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m, core::view<T> f) const {
        detail::gated_forward(*this, static_cast<T>(beta), fs, fr, m, f);
    }
    template <class T>
    void backward(core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df, core::view<T> dfs,
                  core::view<T> dfr, core::view<T> dm, core::grad_mode mode) const {
        detail::gated_backward(*this, static_cast<T>(beta), fr, m, df, dfs, dfr, dm, mode);
    }
};

static_assert(blend_policy<sigmoid_blend> && blend_policy<hard_gate_blend>);

}  // namespace imbdef::policies
