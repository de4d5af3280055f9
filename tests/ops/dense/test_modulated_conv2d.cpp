// ops::modulated_conv2d: the definition through per-sample weights, the agreement of the fused
// and non-fused evaluations (forward and every gradient), gradients against finite differences
// with the gradient contract, and argument errors.

#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/ops/modulated_conv2d.hpp>
#include <imbdef/testing.hpp>

#include "dense_support.hpp"

using namespace dense_test;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
using imbdef::core::view;
namespace ops = imbdef::ops;
namespace tst = imbdef::testing;

namespace {

struct case_t {
    index_t n, c, h, w, o, k;
};

// Wn[n, o, i] = g d[n, o] W[o, i] s[n, i] and y[n] = conv(x[n], Wn[n], K - 1), by the definition.
tensor<double> reference(const case_t& k, const tensor<double>& x, const tensor<double>& w, const tensor<double>& s,
                         const ops::modulated_conv2d_params& p) {
    const auto g1 = ops::conv_geometry::make(1, k.c, k.h, k.w, k.o, k.k, k.k, 1, k.k - 1, k.k - 1);
    const conv_reference ref{g1};
    const index_t kk = k.k * k.k, plane = g1.oh * g1.ow;
    tensor<double> y(shape{k.n, k.o, g1.oh, g1.ow});
    for (index_t n = 0; n < k.n; ++n) {
        tensor<double> wn(w.shape()), xn(shape{1, k.c, k.h, k.w});
        for (index_t o = 0; o < k.o; ++o) {
            double e = 0.0;
            for (index_t i = 0; i < k.c * kk; ++i) e += std::pow(w[o * k.c * kk + i] * s[n * k.c + i / kk], 2);
            const double d = p.demodulate ? 1.0 / std::sqrt(e + p.eps) : 1.0;
            for (index_t i = 0; i < k.c * kk; ++i)
                wn[o * k.c * kk + i] = p.input_gain * d * w[o * k.c * kk + i] * s[n * k.c + i / kk];
        }
        for (index_t i = 0; i < xn.numel(); ++i) xn[i] = x[n * xn.numel() + i];
        const tensor<double> yn = ref.forward(xn, wn);
        for (index_t i = 0; i < k.o * plane; ++i) y[n * k.o * plane + i] = yn[i];
    }
    return y;
}

const ops::modulated_conv2d_params param_sets[] = {
    {},                                              // hidden layer: demodulated, gain 1
    {.demodulate = true, .input_gain = 0.7},         // after a magnitude EMA update
    {.demodulate = false, .input_gain = 1.3},        // ToRGB
};

shape output_shape(const case_t& k) { return shape{k.n, k.o, k.h + k.k - 1, k.w + k.k - 1}; }

struct grads {
    tensor<double> dx, dw, ds;
};

template <class T>
grads run_backward(const case_t& k, const tensor<double>& x, const tensor<double>& w, const tensor<double>& s,
                   const tensor<double>& dy, ops::modulated_conv2d_params p, tensor<double>* y_out = nullptr) {
    const tensor<T> xt = cast<T>(x), wt = cast<T>(w), st = cast<T>(s), dyt = cast<T>(dy);
    tensor<T> y(output_shape(k)), dx(x.shape()), dw(w.shape()), ds(s.shape());
    ops::modulated_conv2d<T, imbdef::core::cpu>(xt, wt, st, y.view(), p);
    ops::modulated_conv2d_backward<T, imbdef::core::cpu>(xt, wt, st, y, dyt, dx.view(), dw.view(), ds.view(),
                                                         grad_mode::assign, grad_mode::assign, p);
    if (y_out) *y_out = cast<double>(y);
    return {cast<double>(dx), cast<double>(dw), cast<double>(ds)};
}

}  // namespace

TEST_CASE("modulated_conv2d equals its definition in both forms") {
    for (const case_t& k : {case_t{2, 3, 5, 6, 4, 3}, case_t{1, 4, 4, 4, 3, 1}, case_t{3, 5, 7, 3, 2, 3}})
        for (auto p : param_sets)
            for (bool fused : {false, true}) {
                p.fused = fused;
                CAPTURE(fused);
                CAPTURE(p.demodulate);
                const tensor<double> x = normal<double>(shape{k.n, k.c, k.h, k.w}, 1),
                                     w = normal<double>(shape{k.o, k.c, k.k, k.k}, 2),
                                     s = normal<double>(shape{k.n, k.c}, 3);
                const tensor<double> ref = reference(k, x, w, s, p);
                tensor<double> y(ref.shape());
                ops::modulated_conv2d<double, imbdef::core::cpu>(x, w, s, y.view(), p);
                CHECK(rel_error(y, ref) < 1e-13);
                const tensor<float> xf = cast<float>(x), wf = cast<float>(w), sf = cast<float>(s);
                tensor<float> yf(ref.shape());
                ops::modulated_conv2d<float, imbdef::core::cpu>(xf, wf, sf, yf.view(), p);
                CHECK(rel_error(yf, ref) < 2e-6);
            }
}

TEST_CASE_TEMPLATE("modulated_conv2d: the fused and non-fused forms agree in every gradient", T, float, double) {
    const double tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
    for (const case_t& k : {case_t{2, 8, 9, 7, 6, 3}, case_t{3, 40, 12, 12, 33, 3}, case_t{2, 16, 10, 10, 3, 1}})
        for (auto p : param_sets) {
            CAPTURE(k.c);
            CAPTURE(k.k);
            CAPTURE(p.demodulate);
            const tensor<double> x = normal<double>(shape{k.n, k.c, k.h, k.w}, 11),
                                 w = normal<double>(shape{k.o, k.c, k.k, k.k}, 12),
                                 s = normal<double>(shape{k.n, k.c}, 13), dy = normal<double>(output_shape(k), 14);
            tensor<double> y_shared, y_fused;
            p.fused = false;
            const grads a = run_backward<T>(k, x, w, s, dy, p, &y_shared);
            p.fused = true;
            const grads b = run_backward<T>(k, x, w, s, dy, p, &y_fused);
            CHECK(rel_error(y_shared, y_fused) < tol);
            CHECK(rel_error(a.dx, b.dx) < tol);
            CHECK(rel_error(a.dw, b.dw) < tol);
            CHECK(rel_error(a.ds, b.ds) < tol);
        }
}

TEST_CASE("modulated_conv2d gradients against finite differences and the gradient contract") {
    std::uint64_t seed = 30;
    for (const case_t& k : {case_t{2, 3, 4, 5, 3, 3}, case_t{1, 2, 3, 3, 2, 3}, case_t{2, 4, 3, 4, 3, 1}})
        for (auto p : param_sets)
            for (bool fused : {false, true}) {
                p.fused = fused;
                CAPTURE(k.c);
                CAPTURE(k.k);
                CAPTURE(p.demodulate);
                CAPTURE(fused);
                seed += 3;
                const shape ys = output_shape(k);
                tst::gradient_problem prob;
                prob.add_data("x", tst::random_tensor({k.n, k.c, k.h, k.w}, seed))
                    .add_parameter("w", tst::random_tensor({k.o, k.c, k.k, k.k}, seed + 1))
                    .add_data("s", tst::random_tensor({k.n, k.c}, seed + 2, 0, 0.5, 1.5));
                prob.forward = [p, ys](tst::input_views in) {
                    tensor<double> y(ys);
                    ops::modulated_conv2d<double, imbdef::core::cpu>(in[0], in[1], in[2], y.view(), p);
                    return y;
                };
                prob.backward = [p, ys](tst::input_views in, const_view<double> dy, tst::grad_views d, grad_mode dm,
                                        grad_mode pm) {
                    tensor<double> y(ys);
                    ops::modulated_conv2d<double, imbdef::core::cpu>(in[0], in[1], in[2], y.view(), p);
                    ops::modulated_conv2d_backward<double, imbdef::core::cpu>(in[0], in[1], in[2], y, dy, d[0], d[1], d[2],
                                                                              dm, pm, p);
                };
                const tst::check_report r = tst::check_gradients(prob);
                CHECK_MESSAGE(r.ok, r.to_string());
            }
}

TEST_CASE("modulated_conv2d names the op, the argument and both shapes") {
    const tensor<float> x(shape{2, 3, 6, 6}), w(shape{4, 3, 3, 3}), s(shape{2, 3}), sbad(shape{3, 2});
    tensor<float> y(shape{2, 4, 8, 8}), ybad(shape{2, 4, 6, 6});
    CHECK(message_of([&] { ops::modulated_conv2d<float, imbdef::core::cpu>(x, w, sbad, y.view()); }) ==
          "ops::modulated_conv2d: expected s of shape [2, 3] (the shape of [N, I] of x), found s of shape [3, 2]");
    CHECK(message_of([&] { ops::modulated_conv2d<float, imbdef::core::cpu>(x, w, s, ybad.view()); }) ==
          "ops::modulated_conv2d: expected y of shape [2, 4, 8, 8] (the shape of conv(x, w)), found y of shape [2, 4, "
          "6, 6]");
    CHECK(message_of([&] { ops::modulated_conv2d<float, imbdef::core::cpu>(x, w, s, y.view(), {.eps = 0.0}); }) ==
          "ops::modulated_conv2d: expected eps > 0, found eps 0.000000");
    tensor<float> dx(x.shape()), ds(s.shape());
    CHECK(message_of([&] {
              ops::modulated_conv2d_backward<float, imbdef::core::cpu>(x, w, s, ybad, y, dx.view(), view<float>{},
                                                                       ds.view(), grad_mode::assign, grad_mode::none);
          }) == "ops::modulated_conv2d_backward: expected y of shape [2, 4, 8, 8] (the shape of conv(x, w)), found y of "
                "shape [2, 4, 6, 6]");
    // Without demodulation y is not read and may be empty.
    auto no_demod = [&] {
        ops::modulated_conv2d_backward<float, imbdef::core::cpu>(x, w, s, view<float>{}, y, dx.view(), view<float>{},
                                                                 ds.view(), grad_mode::assign, grad_mode::none,
                                                                 {.demodulate = false});
    };
    CHECK_NOTHROW(no_demod());
}
