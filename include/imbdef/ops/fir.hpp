#pragma once
// FIR filter design on the host, in double: the filters StyleGAN3 builds once per layer and keeps
// as constant buffers (reference/stylegan3.md section 3.2), and StyleGAN's setup_filter rule for
// the discriminator's and augmentation's filters (section 3.5).
//
//   fir::lowpass(numtaps, cutoff, width, fs)         == scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)
//   fir::radial_lowpass(numtaps, cutoff, width, fs)  the 2-D jinc of config R, [numtaps, numtaps]
//   fir::setup_filter(taps)                          sum 1; fewer than 8 taps -> 2-D outer product
//
// The results are tensors of any floating element type, computed in double and rounded once
// (StyleGAN3 stores its filters in float32). numtaps 1 gives the identity filter [1], which
// upfirdn2d and filtered_lrelu treat as "no filter".

#include <algorithm>
#include <cmath>
#include <concepts>
#include <initializer_list>
#include <numbers>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace imbdef::ops::fir {

// Attenuation in dB of a Kaiser-window design with `numtaps` taps and transition width `width`
// given as a fraction of the Nyquist frequency (scipy.signal.kaiser_atten).
inline double kaiser_atten(core::index_t numtaps, double width) {
    return 2.285 * static_cast<double>(numtaps - 1) * std::numbers::pi * width + 7.95;
}

// The Kaiser window's beta for an attenuation of `atten` dB (scipy.signal.kaiser_beta).
inline double kaiser_beta(double atten) {
    if (atten > 50.0) return 0.1102 * (atten - 8.7);
    if (atten > 21.0) return 0.5842 * std::pow(atten - 21.0, 0.4) + 0.07886 * (atten - 21.0);
    return 0.0;
}

namespace detail {

inline void require_design(const char* where, core::index_t numtaps, double cutoff, double width, double fs) {
    IMBDEF_REQUIRE(numtaps >= 1, where, "numtaps >= 1", "numtaps " + std::to_string(numtaps));
    IMBDEF_REQUIRE(fs > 0.0 && std::isfinite(fs), where, "a positive sampling rate fs", "fs " + std::to_string(fs));
    IMBDEF_REQUIRE(numtaps == 1 || (cutoff > 0.0 && cutoff < fs / 2), where,
                   "a cutoff in (0, fs/2 = " + std::to_string(fs / 2) + ")", "cutoff " + std::to_string(cutoff));
    IMBDEF_REQUIRE(numtaps == 1 || (width > 0.0 && std::isfinite(width)), where, "a positive transition width",
                   "width " + std::to_string(width));
}

// The symmetric Kaiser window of length n at index i (scipy.signal.windows.kaiser, sym=True).
inline double kaiser_window(core::index_t i, core::index_t n, double beta) {
    if (n == 1) return 1.0;
    const double r = 2.0 * static_cast<double>(i) / static_cast<double>(n - 1) - 1.0;
    return std::cyl_bessel_i(0.0, beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / std::cyl_bessel_i(0.0, beta);
}

inline double sinc(double x) {
    if (x == 0.0) return 1.0;
    const double px = std::numbers::pi * x;
    return std::sin(px) / px;
}

template <class T>
core::tensor<T> rounded(const core::tensor<double>& f) {
    if constexpr (std::same_as<T, double>) {
        return f.clone();
    } else {
        core::tensor<T> out(f.shape(), core::uninitialized);
        for (core::index_t i = 0; i < f.numel(); ++i) out[i] = static_cast<T>(f[i]);
        return out;
    }
}

}  // namespace detail

// Kaiser-windowed sinc low-pass, normalised to unit DC gain (sum of taps 1):
//   c = cutoff / (fs/2), h_n = c sinc(c (n - (numtaps-1)/2)) w_n,
//   w = Kaiser(beta = kaiser_beta(kaiser_atten(numtaps, width / (fs/2)))).
// Shape [numtaps]. numtaps 1 returns [1] whatever the other arguments.
template <std::floating_point T = double>
core::tensor<T> lowpass(core::index_t numtaps, double cutoff, double width, double fs) {
    detail::require_design("ops::fir::lowpass", numtaps, cutoff, width, fs);
    core::tensor<double> h(core::shape{numtaps});
    if (numtaps == 1) {
        h[0] = 1.0;
        return detail::rounded<T>(h);
    }
    const double nyq = fs / 2;
    const double c = cutoff / nyq;
    const double beta = kaiser_beta(kaiser_atten(numtaps, width / nyq));
    const double centre = static_cast<double>(numtaps - 1) / 2;
    double sum = 0.0;
    for (core::index_t n = 0; n < numtaps; ++n) {
        h[n] = c * detail::sinc(c * (static_cast<double>(n) - centre)) * detail::kaiser_window(n, numtaps, beta);
        sum += h[n];
    }
    for (double& v : h) v /= sum;
    return detail::rounded<T>(h);
}

// Radial (jinc) low-pass of config R, shape [numtaps, numtaps]:
//   x_k = (k - (numtaps-1)/2) / fs, r = hypot(x_i, x_j), f = J1(2 pi cutoff r) / (pi r)
// (the limit cutoff at r = 0), times the outer product of the 1-D Kaiser windows of `lowpass`,
// normalised to sum 1. numtaps 1 returns [[1]].
template <std::floating_point T = double>
core::tensor<T> radial_lowpass(core::index_t numtaps, double cutoff, double width, double fs) {
    detail::require_design("ops::fir::radial_lowpass", numtaps, cutoff, width, fs);
    core::tensor<double> f(core::shape{numtaps, numtaps});
    if (numtaps == 1) {
        f[0] = 1.0;
        return detail::rounded<T>(f);
    }
    const double beta = kaiser_beta(kaiser_atten(numtaps, width / (fs / 2)));
    const double centre = static_cast<double>(numtaps - 1) / 2;
    double sum = 0.0;
    for (core::index_t i = 0; i < numtaps; ++i) {
        for (core::index_t j = 0; j < numtaps; ++j) {
            const double xi = (static_cast<double>(i) - centre) / fs;
            const double xj = (static_cast<double>(j) - centre) / fs;
            const double r = std::hypot(xi, xj);
            const double jinc =
                r == 0.0 ? cutoff : std::cyl_bessel_j(1.0, 2.0 * std::numbers::pi * cutoff * r) / (std::numbers::pi * r);
            const double v = jinc * detail::kaiser_window(i, numtaps, beta) * detail::kaiser_window(j, numtaps, beta);
            f(i, j) = v;
            sum += v;
        }
    }
    for (double& v : f) v /= sum;
    return detail::rounded<T>(f);
}

// StyleGAN's setup_filter: the taps normalised to sum 1; a 1-D filter with fewer than 8 taps
// becomes its 2-D outer product ([1, 3, 3, 1] -> a 4 x 4 filter over 64). `taps` is rank 1 or 2.
template <std::floating_point T = double>
core::tensor<T> setup_filter(core::const_view<double> taps) {
    constexpr const char* where = "ops::fir::setup_filter";
    IMBDEF_REQUIRE((taps.rank() == 1 || taps.rank() == 2) && taps.numel() >= 1, where,
                   "a non-empty filter of rank 1 or 2", "shape " + taps.shape().to_string());
    double sum = 0.0;
    for (core::index_t i = 0; i < taps.numel(); ++i) sum += taps[i];
    IMBDEF_REQUIRE(sum != 0.0 && std::isfinite(sum), where, "taps with a finite, non-zero sum",
                   "sum " + std::to_string(sum));
    if (taps.rank() == 1 && taps.numel() < 8) {
        const core::index_t n = taps.numel();
        core::tensor<double> f(core::shape{n, n});
        for (core::index_t i = 0; i < n; ++i)
            for (core::index_t j = 0; j < n; ++j) f(i, j) = taps[i] * taps[j] / (sum * sum);
        return detail::rounded<T>(f);
    }
    core::tensor<double> f(taps.shape(), core::uninitialized);
    for (core::index_t i = 0; i < taps.numel(); ++i) f[i] = taps[i] / sum;
    return detail::rounded<T>(f);
}

template <std::floating_point T = double>
core::tensor<T> setup_filter(std::initializer_list<double> taps) {
    const core::tensor<double> t(core::shape{static_cast<core::index_t>(taps.size())}, taps);
    return setup_filter<T>(t.cview());
}

}  // namespace imbdef::ops::fir
