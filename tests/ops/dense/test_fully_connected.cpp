// ops::fully_connected: the equalised-learning-rate definition, gradients against finite
// differences with the gradient contract, the tangent rules of R1, float against double, and
// argument errors.

#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/ops/fully_connected.hpp>
#include <imbdef/testing.hpp>

#include "dense_support.hpp"

using namespace dense_test;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
namespace ops = imbdef::ops;
namespace tst = imbdef::testing;

namespace {

// y[n, o] = act(g_w sum_i x[n, i] w[o, i] + g_b b[o]) by the definition.
tensor<double> reference(const tensor<double>& x, const tensor<double>& w, const tensor<double>* b,
                         const ops::fully_connected_params& p) {
    const index_t n = x.size(0), in = x.size(1), out = w.size(0);
    const double wg = p.lr_multiplier / std::sqrt(static_cast<double>(in));
    const auto rule = ops::bias_act_op::make_rule<double>(p.activation_params());
    tensor<double> y(shape{n, out});
    for (index_t r = 0; r < n; ++r)
        for (index_t o = 0; o < out; ++o) {
            double s = 0.0;
            for (index_t i = 0; i < in; ++i) s += x(r, i) * w(o, i);
            y(r, o) = rule.forward(wg * s + (b ? (*b)[o] * p.lr_multiplier : 0.0));
        }
    return y;
}

const ops::fully_connected_params fc_sets[] = {
    {},                                                                        // linear, lr 1
    {.lr_multiplier = 0.01, .act = ops::activation::lrelu},                    // the mapping network's
    {.lr_multiplier = 0.5, .act = ops::activation::lrelu, .slope = 0.1, .act_gain = 1.3, .clamp = 1.0},
};

// A problem whose pre-activations stay away from the kink and the clamp by more than the steps.
tst::second_order_problem fc_problem(index_t n, index_t in_features, index_t out, bool bias, const ops::fully_connected_params& p,
                                     std::uint64_t seed) {
    tensor<double> x = normal<double>(shape{n, in_features}, seed);
    tensor<double> w = normal<double>(shape{out, in_features}, seed + 1, 1.0 / p.lr_multiplier);
    tensor<double> b = normal<double>(shape{out}, seed + 2, 0.2 / p.lr_multiplier);
    // Nudge b so that every pre-activation is at least 0.1 from 0 and the clamp's threshold.
    const tensor<double> z0 = reference(x, w, nullptr, {.lr_multiplier = p.lr_multiplier});
    const double gain = p.activation_params().resolved_gain();
    for (int pass = 0; pass < 20; ++pass) {
        bool ok = true;
        for (index_t o = 0; o < out && ok; ++o)
            for (index_t r = 0; r < n && ok; ++r) {
                const double z = z0(r, o) + b[o] * p.lr_multiplier;
                const double a = std::abs(z) * (z > 0 || p.act == ops::activation::linear ? 1.0 : p.slope) * gain;
                if (std::abs(z) < 0.1 || (p.clamp && std::abs(a - *p.clamp) < 0.1)) {
                    b[o] += 0.173 / p.lr_multiplier;
                    ok = false;
                }
            }
        if (ok) break;
    }
    tst::second_order_problem prob;
    prob.add_data("x", std::move(x)).add_parameter("w", std::move(w));
    if (bias) prob.add_parameter("b", std::move(b));
    auto bias_of = [bias](tst::input_views in) { return bias ? in[2] : const_view<double>{}; };
    auto forward = [p, out, bias_of](tst::input_views in) {
        tensor<double> y(shape{in[0].size(0), out});
        ops::fully_connected<double, imbdef::core::cpu>(in[0], in[1], bias_of(in), y.view(), p);
        return y;
    };
    prob.forward = forward;
    prob.backward = [p, forward, bias](tst::input_views in, const_view<double> dy, tst::grad_views d, grad_mode dm,
                                       grad_mode pm) {
        const tensor<double> y = forward(in);
        ops::fully_connected_backward<double, imbdef::core::cpu>(in[0], in[1], y, dy, d[0], d[1],
                                                                 bias ? d[2] : imbdef::core::view<double>{}, dm, pm, p);
    };
    prob.forward_tangent = [p, out, forward, bias_of](tst::input_views in, tst::input_views dot) {
        const tensor<double> y = forward(in);
        tensor<double> y_dot(shape{in[0].size(0), out});
        ops::fully_connected_forward_tangent<double, imbdef::core::cpu>(in[0], in[1], y, dot[0], dot[1], bias_of(dot),
                                                                        y_dot.view(), p);
        return y_dot;
    };
    prob.backward_tangent = [p, forward, bias](tst::input_views in, tst::input_views dot, const_view<double> dy,
                                               const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        const tensor<double> y = forward(in);
        const imbdef::core::view<double> none{};
        ops::fully_connected_backward<double, imbdef::core::cpu>(in[0], in[1], y, dy, dx[0], dx[1], bias ? dx[2] : none,
                                                                 grad_mode::assign, grad_mode::assign, p);
        ops::fully_connected_backward_tangent<double, imbdef::core::cpu>(in[0], in[1], y, dot[0], dot[1], dy, dy_dot,
                                                                         dx_dot[0], dx_dot[1], bias ? dx_dot[2] : none,
                                                                         grad_mode::assign, grad_mode::assign, p);
    };
    return prob;
}

}  // namespace

TEST_CASE("fully_connected equals its definition; float agrees with double") {
    for (const auto& p : fc_sets)
        for (auto [n, in, out] : {std::tuple<index_t, index_t, index_t>{1, 1, 1}, {8, 512, 512}, {5, 37, 70}, {16, 300, 3}}) {
            CAPTURE(n);
            CAPTURE(in);
            CAPTURE(out);
            const tensor<double> x = normal<double>(shape{n, in}, 1);
            const tensor<double> w = normal<double>(shape{out, in}, 2, 1.0 / p.lr_multiplier);
            const tensor<double> b = normal<double>(shape{out}, 3);
            const tensor<double> ref = reference(x, w, &b, p);
            tensor<double> y(ref.shape());
            ops::fully_connected<double, imbdef::core::cpu>(x, w, b, y.view(), p);
            CHECK(rel_error(y, ref) < 1e-13);
            const tensor<float> xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b);
            tensor<float> yf(ref.shape());
            ops::fully_connected<float, imbdef::core::cpu>(xf, wf, bf, yf.view(), p);
            CHECK(rel_error(yf, ref) < 1e-5);
        }
}

TEST_CASE("fully_connected gradients against finite differences, with and without a bias") {
    std::uint64_t seed = 10;
    for (const auto& p : fc_sets)
        for (auto [n, in, out] : {std::tuple<index_t, index_t, index_t>{1, 3, 2}, {4, 9, 6}, {3, 17, 5}})
            for (bool bias : {true, false}) {
                CAPTURE(n);
                CAPTURE(in);
                CAPTURE(out);
                CAPTURE(bias);
                const auto prob = fc_problem(n, in, out, bias, p, seed += 3);
                const tst::check_report r = tst::check_gradients(prob);
                CHECK_MESSAGE(r.ok, r.to_string());
            }
}

TEST_CASE("fully_connected tangent rules (R1) against central differences") {
    std::uint64_t seed = 100;
    for (const auto& p : fc_sets)
        for (bool perturb : {true, false}) {
            const auto prob = fc_problem(3, 11, 7, true, p, seed += 3);
            const tst::check_report r = tst::check_second_order(prob, {.perturb_parameters = perturb});
            CHECK_MESSAGE(r.ok, r.to_string());
        }
}

TEST_CASE("fully_connected float backward agrees with double, under assign and accumulate") {
    const ops::fully_connected_params p{.lr_multiplier = 0.01, .act = ops::activation::lrelu, .clamp = 2.0};
    const index_t n = 8, in = 96, out = 70;
    const tensor<double> x = normal<double>(shape{n, in}, 20), w = normal<double>(shape{out, in}, 21, 100.0),
                         b = normal<double>(shape{out}, 22, 10.0), dy = normal<double>(shape{n, out}, 23);
    tensor<double> y(shape{n, out}), dx(x.shape()), dw(w.shape()), db(b.shape());
    ops::fully_connected<double, imbdef::core::cpu>(x, w, b, y.view(), p);
    ops::fully_connected_backward<double, imbdef::core::cpu>(x, w, y, dy, dx.view(), dw.view(), db.view(),
                                                             grad_mode::assign, grad_mode::assign, p);
    const tensor<float> xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b), dyf = cast<float>(dy),
                        yf = cast<float>(y);
    for (grad_mode m : {grad_mode::assign, grad_mode::accumulate}) {
        tensor<float> dxf(x.shape(), 1.0f), dwf(w.shape(), 1.0f), dbf(b.shape(), 1.0f);
        ops::fully_connected_backward<float, imbdef::core::cpu>(xf, wf, yf, dyf, dxf.view(), dwf.view(), dbf.view(), m, m,
                                                                p);
        const float shift = m == grad_mode::accumulate ? 1.0f : 0.0f;
        for (auto* t : {&dxf, &dwf, &dbf})
            for (float& v : *t) v -= shift;
        CHECK(rel_error(dxf, dx) < 1e-5);
        CHECK(rel_error(dwf, dw) < 1e-5);
        CHECK(rel_error(dbf, db) < 1e-5);
    }
}

TEST_CASE("fully_connected names the op, the argument and both shapes") {
    const tensor<float> x(shape{4, 6}), w(shape{5, 6}), wbad(shape{5, 7}), b(shape{4});
    tensor<float> y(shape{4, 5}), ybad(shape{5, 4});
    CHECK(message_of([&] { ops::fully_connected<float, imbdef::core::cpu>(x, wbad, {}, y.view()); }) ==
          "ops::fully_connected: expected w of shape [out, 6] (in of x of shape [4, 6]), found w of shape [5, 7]");
    CHECK(message_of([&] { ops::fully_connected<float, imbdef::core::cpu>(x, w, b, y.view()); }) ==
          "ops::fully_connected: expected b of shape [5] (the shape of the rows of w), found b of shape [4]");
    CHECK(message_of([&] { ops::fully_connected<float, imbdef::core::cpu>(x, w, {}, ybad.view()); }) ==
          "ops::fully_connected: expected y of shape [4, 5] (the shape of x w^T), found y of shape [5, 4]");
    tensor<float> dx(shape{4, 6});
    CHECK(message_of([&] {
              ops::fully_connected_backward<float, imbdef::core::cpu>(x, w, y, ybad, dx.view(), {}, {},
                                                                      grad_mode::assign, grad_mode::none);
          }) == "ops::fully_connected_backward: expected dy of shape [4, 5] (the shape of x w^T), found dy of shape [5, 4]");
}
