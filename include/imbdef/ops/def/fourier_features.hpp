#pragma once
// StyleGAN3's Fourier-feature input (reference section 2), the per-sample and per-channel rules
// both backends run.
//
// Per sample, t = (r_c, r_s, t_x, t_y) is the affine layer's output:
//   rho = |t[0:2]|,  (c, s, tx, ty) = t / rho
//   A = M_r M_t = [[c, -s, -c tx + s ty], [s, c, -s tx - c ty], [0, 0, 1]],   M = A U
// with U the user transform (identity while training). Per channel, with f = freqs[c], phi = phases[c]:
//   f'   = (f_x M00 + f_y M10,  f_x M01 + f_y M11)     (the row vector f times M[0:2, 0:2])
//   phi' = phi + f_x M02 + f_y M12
//   amp  = clamp(1 - (|f'| - bw) / (rate/2 - bw), 0, 1)
// On the grid g(j) = (j + 1/2 - size/2) / rate, with theta = 2 pi (g(w) f'_x + g(h) f'_y + phi'):
//   x[c, h, w] = amp sin(theta),   y = (weight / sqrt(C)) x   (a C x C map per pixel, no bias)
// sin(theta) is evaluated separably: with a = 2 pi (g(w) f'_x + phi') and b = 2 pi g(h) f'_y,
// sin(a + b) = sin a cos b + cos a sin b, so a channel costs 4 size sines and cosines, not size^2.
//
// Backward (weight and t; freqs and phases are constant buffers):
//   dweight = (1/sqrt(C)) sum_n dy_n x_n^T,   dx = (weight / sqrt(C))^T dy
//   d amp = sum dx sin(theta);  dphi' = 2 pi amp sum dx cos(theta)
//   df'_x = 2 pi amp sum dx cos(theta) g(w) + d|f'| f'_x / |f'|,  likewise f'_y with g(h),
//   where d|f'| = -d amp / (rate/2 - bw) strictly inside the clamp's ramp and 0 outside;
//   dM[i][j] = sum_c f_i df'_j (j < 2), dM[i][2] = sum_c f_i dphi';  dA = dM U^T;
//   dc = dA00 + dA11 - tx dA02 - ty dA12,  ds = dA10 - dA01 + ty dA02 - tx dA12,
//   dtx = -c dA02 - s dA12,  dty = s dA02 - c dA12;
//   dt_k = dtn_k / rho - [k < 2] t_k (sum_j dtn_j t_j) / rho^3.
// Generator-only: no tangent rules.

#include <array>
#include <cmath>
#include <numbers>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct fourier_features_params {
    core::index_t size = 36;      // output is size x size (sizes[0] = s[0] + 2 margin)
    double sampling_rate = 16;    // s[0]
    double bandwidth = 2;         // f_c[0]; must lie in (0, sampling_rate / 2)
    std::array<double, 9> transform{1, 0, 0, 0, 1, 0, 0, 0, 1};  // U, row-major; identity in training
};

// The parameters in the element type, as the backends take them.
template <class T>
struct fourier_features_config {
    core::index_t size;
    T sampling_rate, bandwidth;
    T u[9];
};

// One sample's frame: t normalised and the rows 0, 1 of M = M_r M_t U.
template <class T>
struct fourier_frame {
    T c, s, tx, ty, rho;
    T m[6];  // M00 M01 M02 M10 M11 M12
};

struct fourier_features_op {
    static constexpr std::string_view name = "ops::fourier_features";

    template <class T>
    IMBDEF_HD static T grid(core::index_t j, const fourier_features_config<T>& cfg) noexcept {
        return (static_cast<T>(j) + T(0.5) - static_cast<T>(cfg.size) * T(0.5)) / cfg.sampling_rate;
    }

    template <class T>
    IMBDEF_HD static fourier_frame<T> frame(const T* t, const fourier_features_config<T>& cfg) noexcept {
        fourier_frame<T> f;
        f.rho = std::sqrt(t[0] * t[0] + t[1] * t[1]);
        f.c = t[0] / f.rho;
        f.s = t[1] / f.rho;
        f.tx = t[2] / f.rho;
        f.ty = t[3] / f.rho;
        const T a[6] = {f.c, -f.s, -f.c * f.tx + f.s * f.ty, f.s, f.c, -f.s * f.tx - f.c * f.ty};
        const T* u = cfg.u;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j) f.m[3 * i + j] = a[3 * i] * u[j] + a[3 * i + 1] * u[3 + j] + a[3 * i + 2] * u[6 + j];
        return f;
    }

    // f', phi' and amp of one channel; ramp reports whether amp lies strictly inside the clamp.
    template <class T>
    IMBDEF_HD static void channel(const fourier_frame<T>& fr, T fx, T fy, T phase, const fourier_features_config<T>& cfg,
                                  T& fx2, T& fy2, T& phase2, T& amp, bool& ramp) noexcept {
        fx2 = fx * fr.m[0] + fy * fr.m[3];
        fy2 = fx * fr.m[1] + fy * fr.m[4];
        phase2 = phase + fx * fr.m[2] + fy * fr.m[5];
        const T a = T(1) - (std::sqrt(fx2 * fx2 + fy2 * fy2) - cfg.bandwidth) / (cfg.sampling_rate * T(0.5) - cfg.bandwidth);
        ramp = a > T(0) && a < T(1);
        amp = a < T(0) ? T(0) : (a > T(1) ? T(1) : a);
    }

    // Accumulates into dm (the gradient of M's rows 0, 1) one channel's share, from the sums
    //   k_sin = amp sum dx sin(theta),      k_cos = amp sum dx cos(theta),
    //   k_gx = amp sum dx cos(theta) g(w),  k_gy = amp sum dx cos(theta) g(h).
    // The amplitude path needs sum dx sin(theta) = k_sin / amp only on the ramp, where amp > 0.
    template <class T>
    IMBDEF_HD static void channel_backward(T fx, T fy, T fx2, T fy2, T amp, bool ramp, T k_sin, T k_cos, T k_gx,
                                           T k_gy, const fourier_features_config<T>& cfg, T dm[6]) noexcept {
        const T two_pi = T(2) * std::numbers::pi_v<T>;
        const T dphase = two_pi * k_cos;
        T dfx = two_pi * k_gx, dfy = two_pi * k_gy;
        if (ramp) {
            const T norm = std::sqrt(fx2 * fx2 + fy2 * fy2);
            const T dnorm = -(k_sin / amp) / (cfg.sampling_rate * T(0.5) - cfg.bandwidth);
            dfx += dnorm * fx2 / norm;
            dfy += dnorm * fy2 / norm;
        }
        dm[0] += fx * dfx;
        dm[1] += fx * dfy;
        dm[2] += fx * dphase;
        dm[3] += fy * dfx;
        dm[4] += fy * dfy;
        dm[5] += fy * dphase;
    }

    // dt (4 values) from dm: dA = dm U^T, then A's parametrisation by (c, s, tx, ty), then the
    // normalisation by rho.
    template <class T>
    IMBDEF_HD static void frame_backward(const fourier_frame<T>& fr, const T* t, const T dm[6],
                                         const fourier_features_config<T>& cfg, T dt[4]) noexcept {
        const T* u = cfg.u;
        T da[6];
        for (int i = 0; i < 2; ++i)
            for (int k = 0; k < 3; ++k)
                da[3 * i + k] = dm[3 * i] * u[3 * k] + dm[3 * i + 1] * u[3 * k + 1] + dm[3 * i + 2] * u[3 * k + 2];
        const T dc = da[0] + da[4] - fr.tx * da[2] - fr.ty * da[5];
        const T ds = da[3] - da[1] + fr.ty * da[2] - fr.tx * da[5];
        const T dtx = -fr.c * da[2] - fr.s * da[5];
        const T dty = fr.s * da[2] - fr.c * da[5];
        const T dn[4] = {dc, ds, dtx, dty};
        const T dot = dn[0] * t[0] + dn[1] * t[1] + dn[2] * t[2] + dn[3] * t[3];
        const T rho3 = fr.rho * fr.rho * fr.rho;
        for (int k = 0; k < 4; ++k) dt[k] = dn[k] / fr.rho - (k < 2 ? t[k] * dot / rho3 : T(0));
    }
};

}  // namespace imbdef::ops
