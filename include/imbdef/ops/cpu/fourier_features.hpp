#pragma once
// The CPU backend of ops::fourier_features (rules in def/fourier_features.hpp). Arguments are
// checked by the front end.
//
// Samples are spread over the pool. Per sample, the features x_n [C, size^2] are built from
// separable tables (sin and cos of a = 2 pi (g(w) f'_x + phi') along w and of b = 2 pi g(h) f'_y
// along h: both angles are affine in the index, so each table is one rotation recurrence in
// double from two sincos calls), then the C x C map is one Eigen GEMM into y_n. Backward
// recomputes x_n, takes dx_n = W'^T dy_n and dweight's share dy_n x_n^T by GEMM, and reduces
// dx_n against the tables per channel.

#include <algorithm>
#include <cmath>
#include <numbers>

// GCC 12 with AVX-512 reports false -Wmaybe-uninitialized warnings inside Eigen's GEMM kernels;
// they are silenced only when the pragma surrounds Eigen's first inclusion.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "../../core/eigen.hpp"
#pragma GCC diagnostic pop
#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/fourier_features.hpp"

namespace imbdef::ops {

namespace detail {

// One sample's per-channel quantities and separable tables, in scratch.
template <class T>
struct fourier_sample {
    core::index_t channels, size;
    T* fx2;     // f'_x [C]
    T* fy2;     // f'_y [C]
    T* amp;     // [C]
    bool* ramp; // [C]
    T* sa;      // amp sin a [C, size] (along w)
    T* ca;      // amp cos a [C, size]
    T* sb;      // sin b [C, size] (along h)
    T* cb;      // cos b [C, size]

    fourier_sample(core::scratch_scope<core::cpu>& scratch, core::index_t c, core::index_t s) : channels(c), size(s) {
        fx2 = scratch.allocate<T>(core::shape{c}).data();
        fy2 = scratch.allocate<T>(core::shape{c}).data();
        amp = scratch.allocate<T>(core::shape{c}).data();
        ramp = scratch.allocate<bool>(core::shape{c}).data();
        sa = scratch.allocate<T>(core::shape{c, s}).data();
        ca = scratch.allocate<T>(core::shape{c, s}).data();
        sb = scratch.allocate<T>(core::shape{c, s}).data();
        cb = scratch.allocate<T>(core::shape{c, s}).data();
    }

    // sin and cos of 2 pi (start + j step) for j in [0, size), scaled by `gain`, by rotation in
    // double (|error| ~ size * 1e-16, far below float rounding).
    static void rotation_table(double start, double step, double gain, core::index_t size, T* s_out, T* c_out) {
        constexpr double two_pi = 2 * std::numbers::pi;
        const double ds = std::sin(two_pi * step), dc = std::cos(two_pi * step);
        double s = std::sin(two_pi * start), c = std::cos(two_pi * start);
        for (core::index_t j = 0; j < size; ++j) {
            s_out[j] = static_cast<T>(gain * s);
            c_out[j] = static_cast<T>(gain * c);
            const double sn = s * dc + c * ds;
            c = c * dc - s * ds;
            s = sn;
        }
    }

    void build(const fourier_frame<T>& fr, const T* freqs, const T* phases, const fourier_features_config<T>& cfg) {
        const double g0 = static_cast<double>(fourier_features_op::grid<T>(0, cfg));
        const double dg = 1.0 / static_cast<double>(cfg.sampling_rate);
        for (core::index_t c = 0; c < channels; ++c) {
            T phase2;
            fourier_features_op::channel(fr, freqs[2 * c], freqs[2 * c + 1], phases[c], cfg, fx2[c], fy2[c], phase2,
                                         amp[c], ramp[c]);
            const double fx = static_cast<double>(fx2[c]), fy = static_cast<double>(fy2[c]);
            rotation_table(g0 * fx + static_cast<double>(phase2), dg * fx, static_cast<double>(amp[c]), size,
                           sa + c * size, ca + c * size);
            rotation_table(g0 * fy, dg * fy, 1.0, size, sb + c * size, cb + c * size);
        }
    }

    // x[c, h, w] = amp (sin a_w cos b_h + cos a_w sin b_h).
    void features(T* x) const {
        for (core::index_t c = 0; c < channels; ++c) {
            const T* s_a = sa + c * size;
            const T* c_a = ca + c * size;
            for (core::index_t h = 0; h < size; ++h) {
                const T cbh = cb[c * size + h], sbh = sb[c * size + h];
                T* row = x + (c * size + h) * size;
                for (core::index_t w = 0; w < size; ++w) row[w] = s_a[w] * cbh + c_a[w] * sbh;
            }
        }
    }

    // Accumulates into dm the gradient of M's rows 0, 1 from dx [C, size^2]. Per channel, the
    // column sums u_w = sum_h dx cos b_h, v_w = sum_h dx sin b_h (and their g(h)-weighted versions)
    // vectorise along w; then, because amp is folded into the a-tables,
    //   amp sum dx sin(theta) = sum_w (sa u + ca v),  amp sum dx cos(theta) = sum_w (ca u - sa v).
    void backward(const T* dx, const T* freqs, const fourier_features_config<T>& cfg, T* u, T dm[6]) const {
        T* v = u + size;
        T* ug = v + size;
        T* vg = ug + size;
        for (core::index_t c = 0; c < channels; ++c) {
            std::fill_n(u, 4 * size, T(0));
            for (core::index_t h = 0; h < size; ++h) {
                const T cbh = cb[c * size + h], sbh = sb[c * size + h];
                const T gh = fourier_features_op::grid<T>(h, cfg);
                const T cbg = cbh * gh, sbg = sbh * gh;
                const T* row = dx + (c * size + h) * size;
                for (core::index_t w = 0; w < size; ++w) {
                    u[w] += row[w] * cbh;
                    v[w] += row[w] * sbh;
                    ug[w] += row[w] * cbg;
                    vg[w] += row[w] * sbg;
                }
            }
            const T* s_a = sa + c * size;
            const T* c_a = ca + c * size;
            T amp_sin = T(0), amp_cos = T(0), amp_cos_gx = T(0), amp_cos_gy = T(0);
            for (core::index_t w = 0; w < size; ++w) {
                const T cw = c_a[w] * u[w] - s_a[w] * v[w];
                amp_sin += s_a[w] * u[w] + c_a[w] * v[w];
                amp_cos += cw;
                amp_cos_gx += cw * fourier_features_op::grid<T>(w, cfg);
                amp_cos_gy += c_a[w] * ug[w] - s_a[w] * vg[w];
            }
            fourier_features_op::channel_backward(freqs[2 * c], freqs[2 * c + 1], fx2[c], fy2[c], amp[c], ramp[c],
                                                  amp_sin, amp_cos, amp_cos_gx, amp_cos_gy, cfg, dm);
        }
    }
};

// Sample chunks, each with its own share of dweight: a fixed count, so the sum of the shares does
// not depend on the thread count.
inline core::index_t fourier_chunks(core::index_t samples) {
    return std::clamp<core::index_t>(samples, 1, core::reduction_partials);
}

}  // namespace detail

template <>
struct backend<fourier_features_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> freqs, core::const_view<T, core::cpu> phases,
                        core::const_view<T, core::cpu> t, core::const_view<T, core::cpu> weight,
                        core::view<T, core::cpu> y, const fourier_features_config<T>& cfg) {
        const core::index_t n = t.size(0), c = weight.size(0), hw = cfg.size * cfg.size;
        const T gain = T(1) / std::sqrt(static_cast<T>(c));
        const auto w = core::as_matrix(weight, c, c);
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            core::scratch_scope scratch;
            detail::fourier_sample<T> smp(scratch, c, cfg.size);
            core::view<T> x = scratch.allocate<T>(core::shape{c, hw});
            for (core::index_t i = lo; i < hi; ++i) {
                smp.build(fourier_features_op::frame(t.data() + 4 * i, cfg), freqs.data(), phases.data(), cfg);
                smp.features(x.data());
                auto yn = core::as_matrix(core::view<T>(y.data() + i * c * hw, core::shape{c, hw}), c, hw);
                yn.noalias() = (gain * w) * core::as_matrix(x, c, hw);
            }
        });
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> freqs, core::const_view<T, core::cpu> phases,
                         core::const_view<T, core::cpu> t, core::const_view<T, core::cpu> weight,
                         core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dt, core::grad_mode data_mode,
                         core::view<T, core::cpu> dweight, core::grad_mode param_mode,
                         const fourier_features_config<T>& cfg) {
        const core::index_t n = t.size(0), c = weight.size(0), hw = cfg.size * cfg.size;
        const T gain = T(1) / std::sqrt(static_cast<T>(c));
        const bool want_t = data_mode != core::grad_mode::none;
        const bool want_w = param_mode != core::grad_mode::none;
        const auto w = core::as_matrix(weight, c, c);
        core::scratch_scope outer;
        const core::index_t chunks = detail::fourier_chunks(n);
        T* partial = want_w ? outer.allocate<T>(core::shape{chunks, c, c}).data() : nullptr;
        core::parallel_for(0, chunks, 1, [&](core::index_t c0, core::index_t c1) {
            core::scratch_scope scratch;
            detail::fourier_sample<T> smp(scratch, c, cfg.size);
            core::view<T> x = scratch.allocate<T>(core::shape{c, hw});
            core::view<T> dx = scratch.allocate<T>(core::shape{c, hw});
            T* sums = scratch.allocate<T>(core::shape{4, cfg.size}).data();
            for (core::index_t chunk = c0; chunk < c1; ++chunk) {
                core::matrix_map<T> dw_part(partial ? partial + chunk * c * c : nullptr, c, c);
                if (want_w) dw_part.setZero();
                for (core::index_t i = n * chunk / chunks; i < n * (chunk + 1) / chunks; ++i) {
                    const T* ti = t.data() + 4 * i;
                    const fourier_frame<T> fr = fourier_features_op::frame(ti, cfg);
                    smp.build(fr, freqs.data(), phases.data(), cfg);
                    const auto dyn = core::as_matrix(core::const_view<T>(dy.data() + i * c * hw, core::shape{c, hw}), c, hw);
                    if (want_w) {
                        smp.features(x.data());
                        dw_part.noalias() += dyn * core::as_matrix(x, c, hw).transpose();
                    }
                    if (want_t) {
                        core::as_matrix(dx, c, hw).noalias() = (gain * w.transpose()) * dyn;
                        T dm[6] = {};
                        smp.backward(dx.data(), freqs.data(), cfg, sums, dm);
                        T g[4];
                        fourier_features_op::frame_backward(fr, ti, dm, cfg, g);
                        for (int k = 0; k < 4; ++k) core::store_grad(dt[4 * i + k], g[k], data_mode);
                    }
                }
            }
        });
        if (!want_w) return;
        T* out = dweight.data();
        for (core::index_t e = 0; e < c * c; ++e) {
            T acc = T(0);
            for (core::index_t chunk = 0; chunk < chunks; ++chunk) acc += partial[chunk * c * c + e];
            core::store_grad(out[e], gain * acc, param_mode);
        }
    }
};

}  // namespace imbdef::ops
