#pragma once
// Helpers shared by the dense-op tests: reproducible inputs, float/double conversion, comparison,
// and the direct (loop) definitions the optimised ops are checked against.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include <imbdef/core.hpp>
#include <imbdef/ops/def/conv2d.hpp>

namespace dense_test {

using imbdef::core::index_t;
using imbdef::core::shape;
using imbdef::core::tensor;

template <class T>
tensor<T> normal(const shape& s, std::uint64_t stream, T stddev = T(1)) {
    tensor<T> t(s, imbdef::core::uninitialized);
    imbdef::core::fill_normal(t.view(), imbdef::core::philox_stream{0xD3A5E, stream}, 0, T(0), stddev);
    return t;
}

template <class To, class From>
tensor<To> cast(const tensor<From>& a) {
    tensor<To> out(a.shape(), imbdef::core::uninitialized);
    for (index_t i = 0; i < a.numel(); ++i) out[i] = static_cast<To>(a[i]);
    return out;
}

// max |a - b| / (1 + max |b|): a scale-free error against a reference.
template <class A, class B>
double rel_error(const tensor<A>& a, const tensor<B>& b) {
    double diff = 0.0, scale = 0.0;
    for (index_t i = 0; i < a.numel(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
        scale = std::max(scale, std::abs(static_cast<double>(b[i])));
    }
    return diff / (1.0 + scale);
}

inline std::string message_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "no imbdef::error";
}

// The convolution by its definition (def/conv2d.hpp), and its two gradients by direct summation.
struct conv_reference {
    imbdef::ops::conv_geometry g;

    template <class F>
    void for_each_tap(F&& f) const {
        for (index_t n = 0; n < g.n; ++n)
            for (index_t o = 0; o < g.o; ++o)
                for (index_t i = 0; i < g.oh; ++i)
                    for (index_t j = 0; j < g.ow; ++j)
                        for (index_t c = 0; c < g.c; ++c)
                            for (index_t u = 0; u < g.kh; ++u)
                                for (index_t v = 0; v < g.kw; ++v) {
                                    const index_t ih = i * g.stride + u - g.pad_h, iw = j * g.stride + v - g.pad_w;
                                    if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                                    f(((n * g.o + o) * g.oh + i) * g.ow + j, ((n * g.c + c) * g.h + ih) * g.w + iw,
                                      ((o * g.c + c) * g.kh + u) * g.kw + v);
                                }
    }

    tensor<double> forward(const tensor<double>& x, const tensor<double>& w, const tensor<double>* b = nullptr) const {
        tensor<double> y(shape{g.n, g.o, g.oh, g.ow});
        for_each_tap([&](index_t yi, index_t xi, index_t wi) { y[yi] += w[wi] * x[xi]; });
        if (b)
            for (index_t i = 0; i < y.numel(); ++i) y[i] += (*b)[i / (g.oh * g.ow) % g.o];
        return y;
    }
    tensor<double> data_grad(const tensor<double>& dy, const tensor<double>& w) const {
        tensor<double> dx(shape{g.n, g.c, g.h, g.w});
        for_each_tap([&](index_t yi, index_t xi, index_t wi) { dx[xi] += w[wi] * dy[yi]; });
        return dx;
    }
    tensor<double> weight_grad(const tensor<double>& x, const tensor<double>& dy) const {
        tensor<double> dw(shape{g.o, g.c, g.kh, g.kw});
        for_each_tap([&](index_t yi, index_t xi, index_t wi) { dw[wi] += x[xi] * dy[yi]; });
        return dw;
    }

    // The three at once (one pass over the taps).
    struct all_t {
        tensor<double> y, dx, dw;
    };
    all_t all(const tensor<double>& x, const tensor<double>& w, const tensor<double>& dy) const {
        all_t r{tensor<double>(shape{g.n, g.o, g.oh, g.ow}), tensor<double>(shape{g.n, g.c, g.h, g.w}),
                tensor<double>(shape{g.o, g.c, g.kh, g.kw})};
        for_each_tap([&](index_t yi, index_t xi, index_t wi) {
            r.y[yi] += w[wi] * x[xi];
            r.dx[xi] += w[wi] * dy[yi];
            r.dw[wi] += x[xi] * dy[yi];
        });
        return r;
    }
};

}  // namespace dense_test
