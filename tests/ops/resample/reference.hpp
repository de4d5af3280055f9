#pragma once
// Direct, unoptimised implementations of the resample family's definitions (reference/stylegan3.md
// sections 3.5 and 7), written from the formulas with no polyphase tricks: the oracles of the
// tests. Everything in double.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/def/filtered_lrelu.hpp>
#include <imbdef/ops/def/upfirdn2d.hpp>

namespace resample_test {

using imbdef::core::index_t;
using imbdef::core::shape;
using imbdef::core::tensor;
namespace core = imbdef::core;
namespace ops = imbdef::ops;

inline tensor<double> normal(const shape& s, std::uint64_t stream, double stddev = 1.0) {
    tensor<double> t(s, core::uninitialized);
    core::fill_normal<double>(t.view(), core::philox_stream{0xF1A7, stream}, 0, 0.0, stddev);
    return t;
}

template <class T>
tensor<T> cast(const tensor<double>& x) {
    tensor<T> out(x.shape(), core::uninitialized);
    for (index_t i = 0; i < x.numel(); ++i) out[i] = static_cast<T>(x[i]);
    return out;
}

inline double dot(const tensor<double>& a, const tensor<double>& b) {
    double s = 0.0;
    for (index_t i = 0; i < a.numel(); ++i) s += a[i] * b[i];
    return s;
}

inline double max_abs_diff(core::const_view<double> a, core::const_view<double> b) {
    double m = 0.0;
    for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

inline double max_abs(core::const_view<double> a) {
    double m = 0.0;
    for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i]));
    return m;
}

// The 2-D taps a filter stands for: a rank-1 filter is its outer product with itself.
inline double tap2d(const tensor<double>& f, index_t ky, index_t kx) {
    return f.rank() == 1 ? f[ky] * f[kx] : f(ky, kx);
}

// upfirdn2d from its definition: build the zero-stuffed, padded signal's samples on demand and
// take every down-th output of the valid convolution.
inline tensor<double> upfirdn2d(const tensor<double>& x, const tensor<double>& f, const ops::upfirdn2d_params& p) {
    const index_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const index_t fy = f.size(0), fx = f.rank() == 1 ? f.size(0) : f.size(1);
    const index_t Ho = ops::detail::floor_divide(H * p.up_y + p.pad_y0 + p.pad_y1 - fy + p.down_y, p.down_y);
    const index_t Wo = ops::detail::floor_divide(W * p.up_x + p.pad_x0 + p.pad_x1 - fx + p.down_x, p.down_x);
    tensor<double> y(shape{N, C, Ho, Wo});
    auto sample = [&](index_t n, index_t c, index_t a, index_t b) -> double {
        const index_t uy = a - p.pad_y0, ux = b - p.pad_x0;  // position in the zero-stuffed signal
        if (uy < 0 || ux < 0 || uy >= H * p.up_y || ux >= W * p.up_x) return 0.0;
        if (uy % p.up_y != 0 || ux % p.up_x != 0) return 0.0;
        return x(n, c, uy / p.up_y, ux / p.up_x);
    };
    for (index_t n = 0; n < N; ++n)
        for (index_t c = 0; c < C; ++c)
            for (index_t o = 0; o < Ho; ++o)
                for (index_t q = 0; q < Wo; ++q) {
                    double s = 0.0;
                    for (index_t ky = 0; ky < fy; ++ky)
                        for (index_t kx = 0; kx < fx; ++kx) {
                            const double t = p.flip_filter ? tap2d(f, ky, kx) : tap2d(f, fy - 1 - ky, fx - 1 - kx);
                            s += t * sample(n, c, o * p.down_y + ky, q * p.down_x + kx);
                        }
                    y(n, c, o, q) = p.gain * s;
                }
    return y;
}

}  // namespace resample_test

namespace resample_test {

// filtered_lrelu from its definition (reference section 3.5): bias, up-FIR over the full padded
// buffer, activation, down-FIR. `codes` receives the activation codes of the whole buffer.
struct lrelu_result {
    tensor<double> y;
    tensor<double> z;  // the up-FIR output, before the activation
    std::vector<unsigned char> codes;
};

inline tensor<double> identity_if_empty(const tensor<double>& f) {
    if (f.numel() > 0) return f.clone();
    return tensor<double>(shape{1}, {1.0});
}

inline lrelu_result filtered_lrelu(const tensor<double>& x, const tensor<double>& fu_in, const tensor<double>& fd_in,
                                   const tensor<double>& b, const ops::filtered_lrelu_params& p) {
    const tensor<double> fu = identity_if_empty(fu_in), fd = identity_if_empty(fd_in);
    tensor<double> xb = x.clone();
    const index_t C = x.size(1), plane = x.size(2) * x.size(3);
    for (index_t i = 0; i < xb.numel(); ++i) xb[i] += b[(i / plane) % C];
    const double up_gain = double(p.up) * p.up;  // up per axis of a separable filter
    lrelu_result r;
    r.z = upfirdn2d(xb, fu, ops::upfirdn2d_params{p.up, p.up, 1, 1, p.pad_x0, p.pad_x1, p.pad_y0, p.pad_y1, up_gain,
                                                 p.flip_filter});
    tensor<double> a = r.z.clone();
    r.codes.resize(static_cast<std::size_t>(a.numel()));
    for (index_t i = 0; i < a.numel(); ++i) {
        double v = p.gain * a[i];
        const bool neg = v < 0;
        if (neg) v *= p.slope;
        const bool cl = std::abs(v) > p.clamp;
        if (cl) v = v > 0 ? p.clamp : -p.clamp;
        a[i] = v;
        r.codes[static_cast<std::size_t>(i)] = static_cast<unsigned char>((neg ? 1 : 0) | (cl ? 2 : 0));
    }
    r.y = upfirdn2d(a, fd, ops::upfirdn2d_params{1, 1, p.down, p.down, 0, 0, 0, 0, 1.0, p.flip_filter});
    return r;
}

}  // namespace resample_test
