// ops::bias_act: the closed form, the gradient contract and finite differences, the tangent
// rules of R1, and argument errors.

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include <imbdef/ops/bias_act.hpp>
#include <imbdef/testing.hpp>

#include "dense_support.hpp"

using namespace dense_test;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
using imbdef::core::view;
namespace ops = imbdef::ops;
namespace tst = imbdef::testing;

namespace {

double closed_form(double v, const ops::bias_act_params& p) {
    const double a = p.act == ops::activation::lrelu && v <= 0 ? p.slope * v : v;
    return std::clamp(a * p.resolved_gain(), -p.resolved_clamp(), p.resolved_clamp());
}

// Inputs whose x + b stays away from 0 and whose |y| stays away from the clamp by more than any
// finite-difference step, where the op is smooth.
tensor<double> smooth_inputs(const shape& s, std::uint64_t stream, const tensor<double>& b, int axis,
                             const ops::bias_act_params& p) {
    tensor<double> x = normal<double>(s, stream);
    index_t inner = 1;
    for (int a = axis + 1; a < s.rank(); ++a) inner *= s[a];
    for (index_t i = 0; i < x.numel(); ++i) {
        const double bias = b.empty() ? 0.0 : b[i / inner % s[axis]];
        double v = x[i] + bias;
        if (std::abs(v) < 0.1) v += v >= 0 ? 0.1 : -0.1;
        if (p.clamp && std::abs(std::abs(closed_form(v, p)) - *p.clamp) < 0.2) v *= 0.5;
        x[i] = v - bias;
    }
    return x;
}

const ops::bias_act_params param_sets[] = {
    {},                                                                    // lrelu, sqrt 2
    {.act = ops::activation::linear},                                      // identity
    {.act = ops::activation::lrelu, .slope = 0.1, .gain = 1.0, .clamp = 0.9},
    {.act = ops::activation::linear, .gain = 0.5, .clamp = 0.4},
};

}  // namespace

TEST_CASE_TEMPLATE("bias_act equals the closed form along any channel axis", T, float, double) {
    struct layout {
        shape s;
        int axis;
    };
    for (const layout& l : {layout{{2, 3, 4, 5}, 1}, layout{{7, 6}, 1}, layout{{3, 4, 2}, -1}, layout{{5}, 0}})
        for (const auto& base : param_sets) {
            ops::bias_act_params p = base;
            p.axis = l.axis;
            const int axis = l.axis < 0 ? l.axis + l.s.rank() : l.axis;
            const tensor<T> x = normal<T>(l.s, 1);
            const tensor<T> b = normal<T>(shape{l.s[axis]}, 2);
            tensor<T> y(l.s);
            ops::bias_act<T, imbdef::core::cpu>(x, b, y.view(), p);
            index_t inner = 1;
            for (int a = axis + 1; a < l.s.rank(); ++a) inner *= l.s[a];
            double worst = 0;
            for (index_t i = 0; i < x.numel(); ++i) {
                const double v = static_cast<double>(x[i]) + static_cast<double>(b[i / inner % l.s[axis]]);
                worst = std::max(worst, std::abs(static_cast<double>(y[i]) - closed_form(v, p)));
            }
            CHECK(worst < (sizeof(T) == 4 ? 1e-5 : 1e-14));
        }
}

TEST_CASE("bias_act defaults: lrelu slope 0.2, gain sqrt 2, no clamp; linear gain 1") {
    const tensor<double> x(shape{1, 4}, {3.0, -3.0, 1000.0, -1000.0});
    tensor<double> y(x.shape());
    ops::bias_act<double, imbdef::core::cpu>(x, {}, y.view());
    CHECK(y[0] == doctest::Approx(3.0 * std::numbers::sqrt2));
    CHECK(y[1] == doctest::Approx(-0.6 * std::numbers::sqrt2));
    CHECK(y[2] == doctest::Approx(1000.0 * std::numbers::sqrt2));
    ops::bias_act<double, imbdef::core::cpu>(x, {}, y.view(), {.act = ops::activation::linear, .clamp = 256.0});
    CHECK(y[0] == 3.0);
    CHECK(y[2] == 256.0);
    CHECK(y[3] == -256.0);
}

TEST_CASE("bias_act runs in place, and its backward with dx aliasing dy") {
    const ops::bias_act_params p{.clamp = 1.5};
    const tensor<float> x = normal<float>(shape{3, 8, 5}, 3);
    const tensor<float> b = normal<float>(shape{8}, 4);
    tensor<float> y(x.shape());
    ops::bias_act<float, imbdef::core::cpu>(x, b, y.view(), p);
    tensor<float> inplace = x.clone();
    ops::bias_act<float, imbdef::core::cpu>(inplace, b, inplace.view(), p);
    CHECK(rel_error(inplace, y) == 0.0);

    const tensor<float> dy = normal<float>(x.shape(), 5);
    tensor<float> dx(x.shape()), db(shape{8}), db2(shape{8});
    ops::bias_act_backward<float, imbdef::core::cpu>(y, dy, dx.view(), db.view(), grad_mode::assign, grad_mode::assign, p);
    tensor<float> g = dy.clone();
    ops::bias_act_backward<float, imbdef::core::cpu>(y, g, g.view(), db2.view(), grad_mode::assign, grad_mode::assign, p);
    CHECK(rel_error(g, dx) == 0.0);
    CHECK(rel_error(db2, db) == 0.0);
}

TEST_CASE("bias_act backward: the saved-output rule against finite differences, all contracts") {
    struct layout {
        shape s;
        int axis;
    };
    for (const layout& l : {layout{{2, 3, 4, 5}, 1}, layout{{1, 5, 3, 1}, 1}, layout{{4, 7}, 1}, layout{{3, 2, 5}, -1}})
        for (const auto& base : param_sets) {
            ops::bias_act_params p = base;
            p.axis = l.axis;
            CAPTURE(l.s.to_string());
            CAPTURE(ops::to_string(p.act));
            const int axis = l.axis < 0 ? l.axis + l.s.rank() : l.axis;
            const tensor<double> b = normal<double>(shape{l.s[axis]}, 6, 0.3);
            tst::second_order_problem prob;
            prob.add_data("x", smooth_inputs(l.s, 7, b, axis, p)).add_parameter("b", b.clone());
            prob.forward = [p](tst::input_views in) {
                tensor<double> y(in[0].shape());
                ops::bias_act<double, imbdef::core::cpu>(in[0], in[1], y.view(), p);
                return y;
            };
            prob.backward = [p](tst::input_views in, const_view<double> dy, tst::grad_views d, grad_mode dm,
                                grad_mode pm) {
                tensor<double> y(in[0].shape());
                ops::bias_act<double, imbdef::core::cpu>(in[0], in[1], y.view(), p);
                ops::bias_act_backward<double, imbdef::core::cpu>(y, dy, d[0], d[1], dm, pm, p);
            };
            prob.forward_tangent = [p](tst::input_views in, tst::input_views dot) {
                tensor<double> y(in[0].shape()), y_dot(in[0].shape());
                ops::bias_act<double, imbdef::core::cpu>(in[0], in[1], y.view(), p);
                ops::bias_act_forward_tangent<double, imbdef::core::cpu>(y, dot[0], dot[1], y_dot.view(), p);
                return y_dot;
            };
            prob.backward_tangent = [p](tst::input_views in, tst::input_views, const_view<double> dy,
                                        const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
                tensor<double> y(in[0].shape());
                ops::bias_act<double, imbdef::core::cpu>(in[0], in[1], y.view(), p);
                ops::bias_act_backward<double, imbdef::core::cpu>(y, dy, dx[0], dx[1], grad_mode::assign,
                                                                  grad_mode::assign, p);
                ops::bias_act_backward_tangent<double, imbdef::core::cpu>(y, dy_dot, dx_dot[0], dx_dot[1],
                                                                          grad_mode::assign, grad_mode::assign, p);
            };
            const tst::check_report r = tst::check_gradients(prob);
            CHECK_MESSAGE(r.ok, r.to_string());
            for (bool perturb : {true, false}) {
                const tst::check_report r2 = tst::check_second_order(prob, {.perturb_parameters = perturb});
                CHECK_MESSAGE(r2.ok, r2.to_string());
            }
        }
}

TEST_CASE("bias_act without a bias, and a backward that wants no bias gradient") {
    const ops::bias_act_params p{.slope = 0.3, .clamp = 2.0};
    const tensor<double> x = normal<double>(shape{2, 3, 4}, 8);
    tensor<double> y(x.shape());
    ops::bias_act<double, imbdef::core::cpu>(x, {}, y.view(), p);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(y[i] == doctest::Approx(closed_form(x[i], p)));
    const tensor<double> dy = normal<double>(x.shape(), 9);
    tensor<double> dx(x.shape());
    ops::bias_act_backward<double, imbdef::core::cpu>(y, dy, dx.view(), {}, grad_mode::assign, grad_mode::assign, p);
    const auto rule = ops::bias_act_op::make_rule<double>(p);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == dy[i] * rule.factor(y[i]));
}

TEST_CASE("bias_act names the op, the argument and both shapes") {
    const tensor<float> x(shape{2, 3, 4});
    tensor<float> y(shape{2, 3, 4}), bad(shape{2, 4, 3});
    const tensor<float> b(shape{4});
    CHECK(message_of([&] { ops::bias_act<float, imbdef::core::cpu>(x, b, y.view()); }) ==
          "ops::bias_act: expected b of shape [3] (the shape of the channel axis of x), found b of shape [4]");
    CHECK(message_of([&] { ops::bias_act<float, imbdef::core::cpu>(x, {}, bad.view()); }) ==
          "ops::bias_act: expected y of shape [2, 3, 4] (the shape of x), found y of shape [2, 4, 3]");
    CHECK(message_of([&] { ops::bias_act<float, imbdef::core::cpu>(x, {}, y.view(), {.axis = 3}); }) ==
          "ops::bias_act: expected a channel axis in [-3, 3), found axis 3 for x of shape [2, 3, 4]");
    CHECK(message_of([&] {
              ops::bias_act_backward<float, imbdef::core::cpu>(y, x, bad.view(), {}, grad_mode::assign, grad_mode::none);
          }) == "ops::bias_act_backward: expected dx of shape [2, 3, 4] (the shape of y), found dx of shape [2, 4, 3]");
    CHECK(message_of([&] {
              ops::bias_act_backward_tangent<float, imbdef::core::cpu>(y, bad, y.view(), {}, grad_mode::assign,
                                                                       grad_mode::none);
          }) == "ops::bias_act_backward_tangent: expected dy_dot of shape [2, 3, 4] (the shape of y), found dy_dot of "
                "shape [2, 4, 3]");
    CHECK(message_of([&] { ops::bias_act<float, imbdef::core::cpu>(x, {}, y.view(), {.clamp = -1.0}); }) ==
          "ops::bias_act: expected clamp >= 0, found clamp -1.000000");
    // Buffers under none are neither checked nor touched.
    auto none_call = [&] {
        ops::bias_act_backward<float, imbdef::core::cpu>(y, x, view<float>{}, view<float>{}, grad_mode::none,
                                                         grad_mode::none);
    };
    CHECK_NOTHROW(none_call());
}
