#pragma once
// The CPU backend of ops::modulated_conv2d (definition and gradients in
// def/modulated_conv2d.hpp), on the convolution backend: the non-fused form passes the styles and
// demodulation coefficients as the convolution's channel scales; the fused form builds per-sample
// weights. Arguments are checked by the front end (ops/modulated_conv2d.hpp).

#include <algorithm>
#include <cmath>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../backend.hpp"
#include "../def/conv2d.hpp"
#include "../def/modulated_conv2d.hpp"
#include "conv2d.hpp"

namespace imbdef::ops {

template <>
struct backend<modulated_conv2d_op, core::cpu> {
    using index_t = core::index_t;
    using conv = backend<conv2d_op, core::cpu>;

    template <class T>
    static void forward(const conv_geometry& g, const T* x, const T* w, const T* s, T* y,
                        const modulated_conv2d_params& p) {
        core::scratch_scope scope;
        T* scale = output_scale(scope, g, w, s, p);
        if (!p.fused) {
            conv::forward(g, x, w, static_cast<const T*>(nullptr), y, false, s, scale);
            return;
        }
        T* wn = scope.allocate<T>(core::shape{g.o * g.ckk()}).data();
        const conv_geometry g1 = one_sample(g);
        for (index_t n = 0; n < g.n; ++n) {
            sample_weights(g, w, s + n * g.c, scale + n * g.o, wn);
            conv::forward(g1, x + n * g.c * g.in_plane(), wn, static_cast<const T*>(nullptr), y + n * g.o * g.out_plane(),
                          false);
        }
    }

    // dx, ds under data_mode; dw under param_mode. y is the forward's output (read only with
    // demodulation).
    template <class T>
    static void backward(const conv_geometry& g, const T* x, const T* w, const T* s, const T* y, const T* dy, T* dx,
                         T* dw, T* ds, core::grad_mode data_mode, core::grad_mode param_mode,
                         const modulated_conv2d_params& p) {
        if (p.fused)
            backward_fused(g, x, w, s, y, dy, dx, dw, ds, data_mode, param_mode, p);
        else
            backward_shared(g, x, w, s, y, dy, dx, dw, ds, data_mode, param_mode, p);
    }

private:
    static conv_geometry one_sample(conv_geometry g) {
        g.n = 1;
        return g;
    }

    // Q[o, i] = sum_{u,v} W[o, i, u, v]^2.
    template <class T>
    static T* weight_energy(core::scratch_scope<>& scope, const conv_geometry& g, const T* w) {
        const index_t kk = g.kh * g.kw;
        T* q = scope.allocate<T>(core::shape{g.o * g.c}).data();
        core::parallel_for(0, g.o * g.c, 4096, [&](index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r) {
                T e = T(0);
                for (index_t t = 0; t < kk; ++t) e += w[r * kk + t] * w[r * kk + t];
                q[r] = e;
            }
        });
        return q;
    }

    // g d[n, o] for every sample and output channel ([N, O]).
    template <class T>
    static T* output_scale(core::scratch_scope<>& scope, const conv_geometry& g, const T* w, const T* s,
                           const modulated_conv2d_params& p) {
        T* scale = scope.allocate<T>(core::shape{g.n * g.o}).data();
        const T gain = static_cast<T>(p.input_gain);
        if (!p.demodulate) {
            std::fill_n(scale, g.n * g.o, gain);
            return scale;
        }
        const T* q = weight_energy(scope, g, w);
        const T eps = static_cast<T>(p.eps);
        core::parallel_for(0, g.n * g.o, 256, [&](index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r) {
                const index_t n = r / g.o, o = r % g.o;
                T e = T(0);
                for (index_t i = 0; i < g.c; ++i) e += s[n * g.c + i] * s[n * g.c + i] * q[o * g.c + i];
                scale[r] = gain / std::sqrt(e + eps);
            }
        });
        return scale;
    }

    // wn[o, i, :, :] = scale[o] * W[o, i, :, :] * s[i] for one sample.
    template <class T>
    static void sample_weights(const conv_geometry& g, const T* w, const T* s, const T* scale, T* wn) {
        const index_t kk = g.kh * g.kw;
        core::parallel_for(0, g.o * g.c, 1024, [&](index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r) {
                const T f = scale[r / g.c] * s[r % g.c];
                for (index_t t = 0; t < kk; ++t) wn[r * kk + t] = f * w[r * kk + t];
            }
        });
    }

    // e[n, o] = d^2 sum_{h,w} dy y = (gain / scale)^2 sum dy y (0 without demodulation).
    template <class T>
    static T* demod_term(core::scratch_scope<>& scope, const conv_geometry& g, const T* y, const T* dy,
                         const T* scale, const modulated_conv2d_params& p) {
        T* e = scope.allocate<T>(core::shape{g.n * g.o}).data();
        const index_t plane = g.out_plane();
        const T gain = static_cast<T>(p.input_gain);
        core::parallel_for(0, g.n * g.o, std::max<index_t>(1, 8192 / std::max<index_t>(1, plane)),
                           [&](index_t r0, index_t r1) {
                               for (index_t r = r0; r < r1; ++r) {
                                   T acc = T(0);
                                   for (index_t t = 0; t < plane; ++t) acc += dy[r * plane + t] * y[r * plane + t];
                                   const T d = scale[r] / gain;
                                   e[r] = d * d * acc;
                               }
                           });
        return e;
    }

    // ds[n, i] (ds_mode) = sum_{h,w} dxt x - s sum_o e[n, o] Q[o, i]   (e may be null: no second term)
    // and, in the same pass, dx (dx_mode) = s dxt; dxt may be dx itself.
    template <class T>
    static void style_and_data_gradient(const conv_geometry& g, const T* x, const T* s, const T* dxt, const T* e,
                                        const T* q, T* ds, T* dx, core::grad_mode mode) {
        const index_t plane = g.in_plane();
        core::parallel_for(0, g.n * g.c, std::max<index_t>(1, 8192 / std::max<index_t>(1, plane)),
                           [&](index_t r0, index_t r1) {
                               for (index_t r = r0; r < r1; ++r) {
                                   const T* xr = x + r * plane;
                                   const T* dr = dxt + r * plane;
                                   T* out = dx + r * plane;
                                   const T sr = s[r];
                                   T part[16] = {};
                                   index_t t = 0;
                                   if (mode == core::grad_mode::assign) {
                                       for (; t + 16 <= plane; t += 16)
                                           for (int l = 0; l < 16; ++l) {
                                               const T d = dr[t + l];
                                               part[l] += d * xr[t + l];
                                               out[t + l] = sr * d;
                                           }
                                   } else {
                                       for (; t + 16 <= plane; t += 16)
                                           for (int l = 0; l < 16; ++l) {
                                               const T d = dr[t + l];
                                               part[l] += d * xr[t + l];
                                               out[t + l] += sr * d;
                                           }
                                   }
                                   for (; t < plane; ++t) {
                                       part[0] += dr[t] * xr[t];
                                       core::store_grad(out[t], sr * dr[t], mode);
                                   }
                                   T acc = T(0);
                                   for (int l = 0; l < 16; ++l) acc += part[l];
                                   if (e) {
                                       const index_t n = r / g.c, i = r % g.c;
                                       T corr = T(0);
                                       for (index_t o = 0; o < g.o; ++o) corr += e[n * g.o + o] * q[o * g.c + i];
                                       acc -= sr * corr;
                                   }
                                   core::store_grad(ds[r], acc, mode);
                               }
                           });
    }

    // dw[o, i, :, :] -= W[o, i, :, :] sum_n e[n, o] s[n, i]^2
    template <class T>
    static void weight_correction(const conv_geometry& g, const T* w, const T* s, const T* e, T* dw) {
        const index_t kk = g.kh * g.kw;
        core::parallel_for(0, g.o * g.c, 1024, [&](index_t r0, index_t r1) {
            for (index_t r = r0; r < r1; ++r) {
                const index_t o = r / g.c, i = r % g.c;
                T f = T(0);
                for (index_t n = 0; n < g.n; ++n) f += e[n * g.o + o] * s[n * g.c + i] * s[n * g.c + i];
                for (index_t t = 0; t < kk; ++t) dw[r * kk + t] -= f * w[r * kk + t];
            }
        });
    }

    template <class T>
    static void backward_shared(const conv_geometry& g, const T* x, const T* w, const T* s, const T* y, const T* dy,
                                T* dx, T* dw, T* ds, core::grad_mode data_mode, core::grad_mode param_mode,
                                const modulated_conv2d_params& p) {
        core::scratch_scope scope;
        const T* scale = output_scale(scope, g, w, s, p);
        const T* e = p.demodulate ? demod_term(scope, g, y, dy, scale, p) : nullptr;
        const T* q = p.demodulate ? weight_energy(scope, g, w) : nullptr;
        if (conv::dots_apply(g)) {
            backward_dots(scope, g, x, w, s, dy, dx, dw, ds, data_mode, param_mode, scale, e, q);
            return;
        }
        if (data_mode != core::grad_mode::none) {
            // dxt = conv_transpose(scale dy, W); dx = s dxt, ds from dxt.
            const bool in_dx = data_mode == core::grad_mode::assign;
            T* dxt = in_dx ? dx : scope.allocate<T>(core::shape{g.n * g.c * g.in_plane()}).data();
            conv::backward_data(g, dy, w, dxt, core::grad_mode::assign, scale);
            style_and_data_gradient(g, x, s, dxt, e, q, ds, dx, data_mode);
        }
        if (param_mode != core::grad_mode::none) {
            conv::backward_weight(g, x, dy, dw, param_mode, s, scale);
            if (e) weight_correction(g, w, s, e, dw);
        }
    }

    // The non-fused backward of a 1x1 layer with few channels (ToRGB): with the per-sample dot
    // products P[n][o][i] = sum_q dy[n, o, q] x[n, i, q] (the per-sample weight gradients),
    //   ds[n, i] = sum_o P scale[n, o] W[o, i] - s sum_o e Q,   dW[o, i] = sum_n P scale[n, o] s[n, i] - ...,
    // and dx = s (.) conv_transpose(scale dy, W) written in one pass: no pass over dx and x for ds.
    template <class T>
    static void backward_dots(core::scratch_scope<>& scope, const conv_geometry& g, const T* x, const T* w, const T* s,
                              const T* dy, T* dx, T* dw, T* ds, core::grad_mode data_mode, core::grad_mode param_mode,
                              const T* scale, const T* e, const T* q) {
        T* pd = scope.allocate<T>(core::shape{g.n * g.o * g.c}).data();
        conv::sample_dots(g, x, dy, pd);
        if (data_mode != core::grad_mode::none) {
            conv::backward_data(g, dy, w, dx, data_mode, scale, s);
            for (index_t n = 0; n < g.n; ++n)
                for (index_t i = 0; i < g.c; ++i) {
                    T acc = T(0), corr = T(0);
                    for (index_t o = 0; o < g.o; ++o) {
                        acc += pd[(n * g.o + o) * g.c + i] * scale[n * g.o + o] * w[o * g.c + i];
                        if (e) corr += e[n * g.o + o] * q[o * g.c + i];
                    }
                    core::store_grad(ds[n * g.c + i], acc - s[n * g.c + i] * corr, data_mode);
                }
        }
        if (param_mode != core::grad_mode::none) {
            for (index_t o = 0; o < g.o; ++o)
                for (index_t i = 0; i < g.c; ++i) {
                    T acc = T(0);
                    for (index_t n = 0; n < g.n; ++n)
                        acc += pd[(n * g.o + o) * g.c + i] * scale[n * g.o + o] * s[n * g.c + i];
                    core::store_grad(dw[o * g.c + i], acc, param_mode);
                }
            if (e) weight_correction(g, w, s, e, dw);
        }
    }

    // Through the per-sample weights: G[n] = wgrad(x[n], dy[n]), then
    //   dW += G scale s,   ds[n, i] += sum_{o,u,v} G scale W,   h[n, o] = sum_{i,u,v} G W s,
    // and e[n, o] = gain h d^3 feeds the demodulation terms.
    template <class T>
    static void backward_fused(const conv_geometry& g, const T* x, const T* w, const T* s, const T* /*y*/,
                               const T* dy, T* dx, T* dw, T* ds, core::grad_mode data_mode,
                               core::grad_mode param_mode, const modulated_conv2d_params& p) {
        core::scratch_scope scope;
        const T* scale = output_scale(scope, g, w, s, p);
        const index_t kk = g.kh * g.kw;
        const index_t wsize = g.o * g.ckk();
        const conv_geometry g1 = one_sample(g);
        T* wn = scope.allocate<T>(core::shape{wsize}).data();
        T* gw = scope.allocate<T>(core::shape{wsize}).data();
        T* dw_acc = scope.allocate<T>(core::shape{wsize}).data();
        T* ds_acc = scope.allocate<T>(core::shape{g.n * g.c}).data();
        T* e = scope.allocate<T>(core::shape{g.n * g.o}).data();
        std::fill_n(dw_acc, wsize, T(0));
        const T gain = static_cast<T>(p.input_gain);
        for (index_t n = 0; n < g.n; ++n) {
            const T* sn = s + n * g.c;
            const T* scn = scale + n * g.o;
            const T* xn = x + n * g.c * g.in_plane();
            const T* dyn = dy + n * g.o * g.out_plane();
            if (data_mode != core::grad_mode::none) {
                sample_weights(g, w, sn, scn, wn);
                conv::backward_data(g1, dyn, wn, dx + n * g.c * g.in_plane(), data_mode);
            }
            conv::backward_weight(g1, xn, dyn, gw, core::grad_mode::assign);
            core::parallel_for(0, g.o, 1, [&](index_t o0, index_t o1) {
                for (index_t o = o0; o < o1; ++o) {
                    T h = T(0);
                    for (index_t i = 0; i < g.c; ++i)
                        for (index_t t = 0; t < kk; ++t) {
                            const index_t idx = (o * g.c + i) * kk + t;
                            h += gw[idx] * w[idx] * sn[i];
                            dw_acc[idx] += gw[idx] * scn[o] * sn[i];
                        }
                    const T d = scn[o] / gain;
                    e[n * g.o + o] = p.demodulate ? gain * h * d * d * d : T(0);
                }
            });
            core::parallel_for(0, g.c, 1, [&](index_t i0, index_t i1) {
                for (index_t i = i0; i < i1; ++i) {
                    T acc = T(0);
                    for (index_t o = 0; o < g.o; ++o)
                        for (index_t t = 0; t < kk; ++t) {
                            const index_t idx = (o * g.c + i) * kk + t;
                            acc += gw[idx] * scn[o] * w[idx];
                        }
                    ds_acc[n * g.c + i] = acc;
                }
            });
        }
        const T* q = p.demodulate ? weight_energy(scope, g, w) : nullptr;
        if (data_mode != core::grad_mode::none) {
            core::parallel_for(0, g.n * g.c, 256, [&](index_t r0, index_t r1) {
                for (index_t r = r0; r < r1; ++r) {
                    T v = ds_acc[r];
                    if (q) {
                        const index_t n = r / g.c, i = r % g.c;
                        T corr = T(0);
                        for (index_t o = 0; o < g.o; ++o) corr += e[n * g.o + o] * q[o * g.c + i];
                        v -= s[r] * corr;
                    }
                    core::store_grad(ds[r], v, data_mode);
                }
            });
        }
        if (param_mode != core::grad_mode::none) {
            if (p.demodulate) weight_correction(g, w, s, e, dw_acc);
            for (index_t i = 0; i < wsize; ++i) core::store_grad(dw[i], dw_acc[i], param_mode);
        }
    }
};

}  // namespace imbdef::ops
