// ops::leaky_relu on the CPU: closed form, the gradient contract, argument checks, the backward
// pass against central finite differences (testing::check_gradients) and the tangent rules of R1
// (testing::check_second_order).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include <imbdef/core.hpp>
#include <imbdef/ops/leaky_relu.hpp>
#include <imbdef/testing.hpp>

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::tensor;

namespace {

template <class T>
tensor<T> normal_tensor(const core::shape& s, std::uint64_t stream, T stddev = T(1)) {
    tensor<T> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0x5eed, stream}, 0, T(0), stddev);
    return t;
}

// Inputs with exact zeros of both signs, where the rule's branch is decided by x >= 0.
template <class T>
tensor<T> inputs(const core::shape& s, std::uint64_t stream) {
    tensor<T> x = normal_tensor<T>(s, stream);
    if (x.numel() > 2) {
        x[0] = T(0);
        x[1] = -T(0);
    }
    return x;
}

template <class T>
T closed_form(T x, T slope, T gain) {
    return gain * (x >= 0 ? x : slope * x);
}

template <class T>
T closed_form_grad(T x, T dy, T slope, T gain) {
    return x >= 0 ? dy * gain : dy * gain * slope;
}

const core::shape shapes[] = {core::shape{}, core::shape{1}, core::shape{7}, core::shape{2, 3, 5, 4},
                              core::shape{3, 70001}};

}  // namespace

TEST_CASE_TEMPLATE("leaky_relu forward equals the closed form", T, float, double) {
    const ops::leaky_relu_params custom{.slope = 0.05, .gain = 1.5};
    for (const auto& params : {ops::leaky_relu_params{}, custom}) {
        const T slope = static_cast<T>(params.slope), gain = static_cast<T>(params.gain);
        for (const auto& s : shapes) {
            CAPTURE(s.to_string());
            const tensor<T> x = inputs<T>(s, 1);
            tensor<T> y(s);
            ops::leaky_relu(x, y.view(), params);
            index_t mismatches = 0;
            for (index_t i = 0; i < x.numel(); ++i) mismatches += y[i] != closed_form(x[i], slope, gain);
            CHECK(mismatches == 0);
        }
    }
}

TEST_CASE_TEMPLATE("leaky_relu defaults are StyleGAN's lrelu: slope 0.2, gain sqrt 2", T, float, double) {
    const tensor<T> x(core::shape{4}, {T(2), T(-2), T(0), -T(0)});
    tensor<T> y(x.shape());
    ops::leaky_relu(x, y.view());
    const T gain = std::numbers::sqrt2_v<T>;
    CHECK(y[0] == gain * T(2));
    CHECK(y[1] == gain * (T(0.2) * T(-2)));
    CHECK(y[2] == T(0));
    CHECK(y[3] == T(0));
    CHECK(std::signbit(y[3]));
}

TEST_CASE_TEMPLATE("leaky_relu runs in place", T, float, double) {
    const tensor<T> x = inputs<T>(core::shape{5, 9}, 2);
    tensor<T> expected(x.shape());
    ops::leaky_relu(x, expected.view());
    tensor<T> y = x.clone();
    ops::leaky_relu(y, y.view());
    for (index_t i = 0; i < x.numel(); ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE_TEMPLATE("leaky_relu backward follows the gradient mode", T, float, double) {
    const ops::leaky_relu_params params{.slope = 0.1, .gain = 1.25};
    const T slope = static_cast<T>(params.slope), gain = static_cast<T>(params.gain);
    for (const auto& s : shapes) {
        CAPTURE(s.to_string());
        const tensor<T> x = inputs<T>(s, 3);
        const tensor<T> dy = normal_tensor<T>(s, 4);
        const tensor<T> before = normal_tensor<T>(s, 5);

        SUBCASE("assign overwrites, whatever dx held") {
            tensor<T> dx = before.clone();
            ops::leaky_relu_backward(x, dy, dx.view(), grad_mode::assign, params);
            index_t mismatches = 0;
            for (index_t i = 0; i < x.numel(); ++i) mismatches += dx[i] != closed_form_grad(x[i], dy[i], slope, gain);
            CHECK(mismatches == 0);
        }
        SUBCASE("accumulate adds to dx") {
            // Within rounding of the sum: a host build that contracts (-march=native) may fuse the
            // add with the last product, in the op or in this test.
            tensor<T> dx = before.clone();
            ops::leaky_relu_backward(x, dy, dx.view(), grad_mode::accumulate, params);
            index_t mismatches = 0;
            for (index_t i = 0; i < x.numel(); ++i) {
                const T g = closed_form_grad(x[i], dy[i], slope, gain);
                const T tolerance = 2 * std::numeric_limits<T>::epsilon() * (std::abs(before[i]) + std::abs(g));
                mismatches += !(std::abs(dx[i] - (before[i] + g)) <= tolerance);
            }
            CHECK(mismatches == 0);
        }
        SUBCASE("none leaves dx untouched") {
            tensor<T> dx = before.clone();
            ops::leaky_relu_backward(x, dy, dx.view(), grad_mode::none, params);
            index_t mismatches = 0;
            for (index_t i = 0; i < x.numel(); ++i) mismatches += dx[i] != before[i];
            CHECK(mismatches == 0);
        }
    }
}

TEST_CASE("leaky_relu backward under grad_mode::none accepts an empty dx") {
    const tensor<double> x = inputs<double>(core::shape{3, 4}, 6);
    const tensor<double> dy = normal_tensor<double>(x.shape(), 7);
    CHECK_NOTHROW(ops::leaky_relu_backward(x, dy, core::view<double>{}, grad_mode::none));
}

TEST_CASE("leaky_relu backward: dx may alias dy") {
    const tensor<float> x = inputs<float>(core::shape{6, 7}, 8);
    const tensor<float> dy = normal_tensor<float>(x.shape(), 9);
    tensor<float> expected(x.shape());
    ops::leaky_relu_backward(x, dy, expected.view(), grad_mode::assign);
    tensor<float> g = dy.clone();
    ops::leaky_relu_backward(x, g, g.view(), grad_mode::assign);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(g[i] == expected[i]);
}

TEST_CASE("leaky_relu names the op, the argument and both shapes on a shape mismatch") {
    const tensor<float> x(core::shape{2, 3});
    tensor<float> wrong(core::shape{3, 2});
    tensor<float> right(core::shape{2, 3});

    auto message_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const imbdef::error& e) {
            return e.what();
        }
        return "no imbdef::error";
    };

    const std::string fwd = message_of([&] { ops::leaky_relu(x, wrong.view()); });
    CHECK(fwd == "ops::leaky_relu: expected y of shape [2, 3] (the shape of x), found y of shape [3, 2]");

    const std::string bwd_dy =
        message_of([&] { ops::leaky_relu_backward(x, wrong, right.view(), grad_mode::assign); });
    CHECK(bwd_dy == "ops::leaky_relu_backward: expected dy of shape [2, 3] (the shape of x), found dy of shape [3, 2]");

    const std::string bwd_dx =
        message_of([&] { ops::leaky_relu_backward(x, right, wrong.view(), grad_mode::accumulate); });
    CHECK(bwd_dx == "ops::leaky_relu_backward: expected dx of shape [2, 3] (the shape of x), found dx of shape [3, 2]");

    // dy is checked under every mode; dx only when it is written.
    CHECK_THROWS_AS(ops::leaky_relu_backward(x, wrong, right.view(), grad_mode::none), imbdef::error);
    CHECK_NOTHROW(ops::leaky_relu_backward(x, right, wrong.view(), grad_mode::none));

    // Same element count, different rank: still a mismatch.
    tensor<float> flat(core::shape{6});
    CHECK_THROWS_AS(ops::leaky_relu(x, flat.view()), imbdef::error);
}

namespace {

// Inputs at least 0.1 away from the kink at 0, where the rule is linear: the largest finite-
// difference steps may cross it, the smaller ones do not, and an element passes on any step.
testing::second_order_problem leaky_relu_problem(const core::shape& s, std::uint64_t stream,
                                                 const ops::leaky_relu_params& params) {
    tensor<double> x = normal_tensor<double>(s, stream);
    for (double& v : x) v += v >= 0 ? 0.1 : -0.1;
    testing::second_order_problem p;
    p.add_data("x", std::move(x));
    p.forward = [params](testing::input_views in) {
        tensor<double> y(in[0].shape());
        ops::leaky_relu(in[0], y.view(), params);
        return y;
    };
    p.backward = [params](testing::input_views in, core::const_view<double> dy, testing::grad_views dx,
                          grad_mode data_mode, grad_mode) {
        ops::leaky_relu_backward(in[0], dy, dx[0], data_mode, params);
    };
    p.forward_tangent = [params](testing::input_views in, testing::input_views dot) {
        tensor<double> y_dot(in[0].shape());
        ops::leaky_relu_forward_tangent(in[0], dot[0], y_dot.view(), params);
        return y_dot;
    };
    p.backward_tangent = [params](testing::input_views in, testing::input_views, core::const_view<double> dy,
                                  core::const_view<double> dy_dot, testing::grad_views dx, testing::grad_views dx_dot) {
        ops::leaky_relu_backward(in[0], dy, dx[0], grad_mode::assign, params);
        ops::leaky_relu_backward_tangent(in[0], dy_dot, dx_dot[0], grad_mode::assign, params);
    };
    return p;
}

const core::shape checked_shapes[] = {core::shape{1}, core::shape{7}, core::shape{3, 4, 5}, core::shape{2, 3, 5, 4}};

}  // namespace

TEST_CASE("leaky_relu backward agrees with central finite differences (double)") {
    const ops::leaky_relu_params custom{.slope = 0.05, .gain = 1.5};
    std::uint64_t stream = 10;
    for (const auto& params : {ops::leaky_relu_params{}, custom})
        for (const auto& s : checked_shapes) {
            CAPTURE(s.to_string());
            const auto r = testing::check_gradients(leaky_relu_problem(s, stream++, params));
            CHECK_MESSAGE(r.ok, r.to_string());
        }
}

// R1's tangent rules: y_dot and dx_dot are the derivative's factor applied to x_dot and dy_dot.
TEST_CASE("leaky_relu tangent rules agree with finite differences of forward and backward (double)") {
    const ops::leaky_relu_params custom{.slope = 0.05, .gain = 1.5};
    std::uint64_t stream = 20;
    for (const auto& params : {ops::leaky_relu_params{}, custom})
        for (const auto& s : checked_shapes) {
            CAPTURE(s.to_string());
            const auto r = testing::check_second_order(leaky_relu_problem(s, stream++, params));
            CHECK_MESSAGE(r.ok, r.to_string());
        }
}

TEST_CASE("leaky_relu tangent rules check their shapes and follow the gradient mode") {
    const tensor<double> x = inputs<double>(core::shape{4, 5}, 30);
    const tensor<double> t = normal_tensor<double>(x.shape(), 31);
    const tensor<double> before = normal_tensor<double>(x.shape(), 32);
    tensor<double> y_dot(x.shape()), dx(x.shape());
    ops::leaky_relu_forward_tangent(x, t, y_dot.view());
    ops::leaky_relu_backward(x, t, dx.view(), grad_mode::assign);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(y_dot[i] == dx[i]);

    tensor<double> acc = before.clone(), untouched = before.clone();
    ops::leaky_relu_backward_tangent(x, t, acc.view(), grad_mode::accumulate);
    ops::leaky_relu_backward_tangent(x, t, untouched.view(), grad_mode::none);
    for (index_t i = 0; i < x.numel(); ++i) {
        CHECK(acc[i] == doctest::Approx(before[i] + dx[i]).epsilon(1e-15));
        CHECK(untouched[i] == before[i]);
    }
    CHECK_NOTHROW(ops::leaky_relu_backward_tangent(x, t, core::view<double>{}, grad_mode::none));
    tensor<double> wrong(core::shape{5, 4});
    CHECK_THROWS_AS(ops::leaky_relu_forward_tangent(x, t, wrong.view()), imbdef::error);
    CHECK_THROWS_AS(ops::leaky_relu_backward_tangent(x, wrong, dx.view(), grad_mode::assign), imbdef::error);
}
