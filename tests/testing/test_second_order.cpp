// testing::check_second_order must pass correct tangent rules and fail wrong ones: a wrong tangent
// of forward, a wrong tangent of backward, a mishandled dy_dot, unwritten or inconsistent buffers.

#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <imbdef/testing.hpp>

namespace {

namespace tst = imbdef::testing;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
using imbdef::core::index_t;
using imbdef::core::shape;
using imbdef::core::store_grad;
using imbdef::core::tensor;
using imbdef::core::uninitialized;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The deliberate mistakes of the affine op below, one at a time.
enum class flaw {
    none,
    forward_tangent_drops_x_w_dot,   // y_dot misses x * w_dot: visible only when w has a tangent
    backward_tangent_drops_dy_x_dot, // dw_dot misses dy * x_dot, half of the product rule
    dy_instead_of_dy_dot,            // dx_dot uses dy where dy_dot belongs
    bias_ignores_dy_dot,             // db_dot written as zero
    dx_dot_unwritten,                // the last entry of db_dot is skipped
    dx_differs,                      // backward_tangent's dx is twice backward's
};

// y[r, c] = x[r, c] * w[r, c] + b[c]: x data, w and b parameters (b broadcast over rows).
//   y_dot  = x_dot w + x w_dot + b_dot
//   dx     = dy w,   dw = dy x,   db = sum_r dy
//   dx_dot = dy_dot w + dy w_dot,   dw_dot = dy_dot x + dy x_dot,   db_dot = sum_r dy_dot
tst::second_order_problem affine_problem(flaw f = flaw::none) {
    tst::second_order_problem p;
    p.add_data("x", tst::random_tensor({3, 4}, 11))
        .add_parameter("w", tst::random_tensor({3, 4}, 12))
        .add_parameter("b", tst::random_tensor({4}, 13));
    p.forward = [](tst::input_views in) {
        const auto x = in[0];
        const auto w = in[1];
        const auto b = in[2];
        tensor<double> y(x.shape(), uninitialized);
        for (index_t i = 0; i < x.numel(); ++i) y[i] = x[i] * w[i] + b[i % x.size(1)];
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        const auto x = in[0];
        const auto w = in[1];
        const index_t rows = x.size(0), cols = x.size(1);
        for (index_t i = 0; i < x.numel(); ++i) {
            if (dm != grad_mode::none) store_grad(dx[0][i], dy[i] * w[i], dm);
            if (pm != grad_mode::none) store_grad(dx[1][i], dy[i] * x[i], pm);
        }
        if (pm == grad_mode::none) return;
        for (index_t c = 0; c < cols; ++c) {
            double s = 0.0;
            for (index_t r = 0; r < rows; ++r) s += dy[r * cols + c];
            store_grad(dx[2][c], s, pm);
        }
    };
    p.forward_tangent = [f](tst::input_views in, tst::input_views dot) {
        const auto x = in[0];
        const auto w = in[1];
        tensor<double> y_dot(x.shape(), uninitialized);
        for (index_t i = 0; i < x.numel(); ++i) {
            const double x_w_dot = f == flaw::forward_tangent_drops_x_w_dot ? 0.0 : x[i] * dot[1][i];
            y_dot[i] = dot[0][i] * w[i] + x_w_dot + dot[2][i % x.size(1)];
        }
        return y_dot;
    };
    p.backward_tangent = [f](tst::input_views in, tst::input_views dot, const_view<double> dy,
                             const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        const auto x = in[0];
        const auto w = in[1];
        const index_t rows = x.size(0), cols = x.size(1);
        for (index_t i = 0; i < x.numel(); ++i) {
            dx[0][i] = (f == flaw::dx_differs ? 2.0 : 1.0) * dy[i] * w[i];
            dx_dot[0][i] = (f == flaw::dy_instead_of_dy_dot ? dy[i] : dy_dot[i]) * w[i] + dy[i] * dot[1][i];
            dx[1][i] = dy[i] * x[i];
            dx_dot[1][i] = dy_dot[i] * x[i] + (f == flaw::backward_tangent_drops_dy_x_dot ? 0.0 : dy[i] * dot[0][i]);
        }
        for (index_t c = 0; c < cols; ++c) {
            double s = 0.0;
            double s_dot = 0.0;
            for (index_t r = 0; r < rows; ++r) {
                s += dy[r * cols + c];
                s_dot += dy_dot[r * cols + c];
            }
            dx[2][c] = s;
            if (f == flaw::dx_dot_unwritten && c == cols - 1) continue;
            dx_dot[2][c] = f == flaw::bias_ignores_dy_dot ? 0.0 : s_dot;
        }
    };
    return p;
}

// Y = X W with X [m, k] data and W [k, n] a parameter.
//   Y_dot  = X_dot W + X W_dot
//   dX     = dY W^T,   dW = X^T dY
//   dX_dot = dY_dot W^T + dY W_dot^T,   dW_dot = X_dot^T dY + X^T dY_dot   (DESIGN.md, "Second order")
// With drop_x_dot_dy, dW_dot misses X_dot^T dY: the term R1 lives on, since R1 perturbs X only.
tst::second_order_problem matmul_problem(bool drop_x_dot_dy = false) {
    tst::second_order_problem p;
    p.add_data("X", tst::random_tensor({4, 3}, 21)).add_parameter("W", tst::random_tensor({3, 2}, 22));
    p.forward = [](tst::input_views in) {
        const auto X = in[0];
        const auto W = in[1];
        tensor<double> y(shape{X.size(0), W.size(1)});
        for (index_t i = 0; i < X.size(0); ++i)
            for (index_t j = 0; j < W.size(1); ++j)
                for (index_t t = 0; t < X.size(1); ++t) y(i, j) += X(i, t) * W(t, j);
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dY, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        const auto X = in[0];
        const auto W = in[1];
        const index_t m = X.size(0), k = X.size(1), n = W.size(1);
        for (index_t i = 0; i < m && dm != grad_mode::none; ++i)
            for (index_t t = 0; t < k; ++t) {
                double s = 0.0;
                for (index_t j = 0; j < n; ++j) s += dY(i, j) * W(t, j);
                store_grad(dx[0](i, t), s, dm);
            }
        for (index_t t = 0; t < k && pm != grad_mode::none; ++t)
            for (index_t j = 0; j < n; ++j) {
                double s = 0.0;
                for (index_t i = 0; i < m; ++i) s += X(i, t) * dY(i, j);
                store_grad(dx[1](t, j), s, pm);
            }
    };
    p.forward_tangent = [](tst::input_views in, tst::input_views dot) {
        const auto X = in[0];
        const auto W = in[1];
        tensor<double> y_dot(shape{X.size(0), W.size(1)});
        for (index_t i = 0; i < X.size(0); ++i)
            for (index_t j = 0; j < W.size(1); ++j)
                for (index_t t = 0; t < X.size(1); ++t) y_dot(i, j) += dot[0](i, t) * W(t, j) + X(i, t) * dot[1](t, j);
        return y_dot;
    };
    p.backward_tangent = [drop_x_dot_dy](tst::input_views in, tst::input_views dot, const_view<double> dY,
                                         const_view<double> dY_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        const auto X = in[0];
        const auto W = in[1];
        const index_t m = X.size(0), k = X.size(1), n = W.size(1);
        for (index_t i = 0; i < m; ++i)
            for (index_t t = 0; t < k; ++t) {
                double s = 0.0;
                double s_dot = 0.0;
                for (index_t j = 0; j < n; ++j) {
                    s += dY(i, j) * W(t, j);
                    s_dot += dY_dot(i, j) * W(t, j) + dY(i, j) * dot[1](t, j);
                }
                dx[0](i, t) = s;
                dx_dot[0](i, t) = s_dot;
            }
        for (index_t t = 0; t < k; ++t)
            for (index_t j = 0; j < n; ++j) {
                double s = 0.0;
                double s_dot = 0.0;
                for (index_t i = 0; i < m; ++i) {
                    s += X(i, t) * dY(i, j);
                    s_dot += (drop_x_dot_dy ? 0.0 : dot[0](i, t) * dY(i, j)) + X(i, t) * dY_dot(i, j);
                }
                dx[1](t, j) = s;
                dx_dot[1](t, j) = s_dot;
            }
    };
    return p;
}

// An elementwise y = f(x) on data, from f's first and second derivatives d1, d2:
//   y_dot = d1 x_dot,   dx = dy d1,   dx_dot = dy_dot d1 + dy d2 x_dot.
// With linearised, dx_dot drops the d2 term, as if f' were a fixed mask.
template <class F, class D1, class D2>
tst::second_order_problem elementwise_problem(tensor<double> x0, F f, D1 d1, D2 d2, bool linearised = false) {
    tst::second_order_problem p;
    p.add_data("x", std::move(x0));
    p.forward = [f](tst::input_views in) {
        tensor<double> y(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y.numel(); ++i) y[i] = f(in[0][i]);
        return y;
    };
    p.backward = [d1](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        if (dm == grad_mode::none) return;
        for (index_t i = 0; i < dy.numel(); ++i) store_grad(dx[0][i], dy[i] * d1(in[0][i]), dm);
    };
    p.forward_tangent = [d1](tst::input_views in, tst::input_views dot) {
        tensor<double> y_dot(in[0].shape(), uninitialized);
        for (index_t i = 0; i < y_dot.numel(); ++i) y_dot[i] = d1(in[0][i]) * dot[0][i];
        return y_dot;
    };
    p.backward_tangent = [d1, d2, linearised](tst::input_views in, tst::input_views dot, const_view<double> dy,
                                              const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        for (index_t i = 0; i < dy.numel(); ++i) {
            const double x = in[0][i];
            dx[0][i] = dy[i] * d1(x);
            dx_dot[0][i] = dy_dot[i] * d1(x) + (linearised ? 0.0 : dy[i] * d2(x) * dot[0][i]);
        }
    };
    return p;
}

tst::second_order_problem tanh_problem(bool linearised = false) {
    const auto f = [](double x) { return std::tanh(x); };
    const auto d1 = [](double x) { return 1.0 - std::tanh(x) * std::tanh(x); };
    const auto d2 = [](double x) { return -2.0 * std::tanh(x) * (1.0 - std::tanh(x) * std::tanh(x)); };
    return elementwise_problem(tst::random_tensor({2, 5}, 31, 0, -2.0, 2.0), f, d1, d2, linearised);
}

tst::second_order_problem softplus_problem() {
    const auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    const auto f = [](double x) { return std::log1p(std::exp(x)); };
    const auto d2 = [sigmoid](double x) { return sigmoid(x) * (1.0 - sigmoid(x)); };
    return elementwise_problem(tst::random_tensor({7}, 41, 0, -3.0, 3.0), f, sigmoid, d2);
}

// Leaky ReLU (slope 0.2) on inputs at least 0.2 away from the kink: its tangent rules multiply by
// the fixed mask, and the second derivative is zero.
tst::second_order_problem leaky_relu_problem() {
    tensor<double> x = tst::random_tensor({3, 2, 2}, 51);
    for (double& v : x) v = v >= 0.0 ? 0.2 + 0.8 * v : -0.2 + 0.8 * v;
    const auto f = [](double v) { return v > 0.0 ? v : 0.2 * v; };
    const auto d1 = [](double v) { return v > 0.0 ? 1.0 : 0.2; };
    const auto d2 = [](double) { return 0.0; };
    return elementwise_problem(std::move(x), f, d1, d2);
}

tst::second_order_options r1_mode() {
    tst::second_order_options o;
    o.perturb_parameters = false;
    return o;
}

void check_passes(const tst::second_order_problem& p, index_t expected_checked,
                  const tst::second_order_options& o = {}) {
    const tst::check_report r = tst::check_second_order(p, o);
    CHECK_MESSAGE(r.ok, r.to_string());
    CHECK(r.checked == expected_checked);
    CHECK(r.failed == 0);
    CHECK(r.violations == 0);
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->score <= 1.0);
}

}  // namespace

TEST_CASE("check_second_order passes correct tangent rules") {
    // checked = numel(y_dot) + numel of every dx_dot.
    SUBCASE("elementwise affine") { check_passes(affine_problem(), 12 + 12 + 12 + 4); }
    SUBCASE("elementwise affine, zero parameter tangents") { check_passes(affine_problem(), 40, r1_mode()); }
    SUBCASE("matrix product") { check_passes(matmul_problem(), 8 + 12 + 6); }
    SUBCASE("matrix product, zero parameter tangents") { check_passes(matmul_problem(), 26, r1_mode()); }
    SUBCASE("tanh") { check_passes(tanh_problem(), 10 + 10); }
    SUBCASE("softplus") { check_passes(softplus_problem(), 7 + 7); }
    SUBCASE("leaky relu away from its kink") { check_passes(leaky_relu_problem(), 12 + 12); }
}

TEST_CASE("the first order of a second_order_problem is checked by check_gradients") {
    const tst::check_report r = tst::check_gradients(matmul_problem());
    CHECK_MESSAGE(r.ok, r.to_string());
    CHECK(r.checked == 12 + 6);
}

TEST_CASE("check_second_order fails a wrong tangent of forward") {
    const tst::second_order_problem p = affine_problem(flaw::forward_tangent_drops_x_w_dot);
    const tst::check_report r = tst::check_second_order(p);
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 12);
    CHECK(r.violations == 0);
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->quantity == "y_dot");
    CHECK(r.worst->input == "output");
    // With zero parameter tangents the missing x * w_dot term is zero anyway: nothing to see.
    const tst::check_report r1 = tst::check_second_order(p, r1_mode());
    CHECK_MESSAGE(r1.ok, r1.to_string());
}

TEST_CASE("check_second_order fails a tangent of backward missing half of a product rule") {
    SUBCASE("elementwise: dw_dot without dy x_dot") {
        const tst::check_report r = tst::check_second_order(affine_problem(flaw::backward_tangent_drops_dy_x_dot));
        CHECK_FALSE(r.ok);
        CHECK(r.failed == 12);
        REQUIRE(r.worst.has_value());
        CHECK(r.worst->quantity == "dx_dot");
        CHECK(r.worst->input == "w");
    }
    SUBCASE("matrix product: dW_dot without X_dot^T dY, caught in R1's setting") {
        const tst::check_report r = tst::check_second_order(matmul_problem(true), r1_mode());
        CHECK_FALSE(r.ok);
        CHECK(r.failed == 6);
        REQUIRE(r.worst.has_value());
        CHECK(r.worst->quantity == "dx_dot");
        CHECK(r.worst->input == "W");
    }
    SUBCASE("tanh: the second-derivative term dropped") {
        const tst::check_report r = tst::check_second_order(tanh_problem(true));
        CHECK_FALSE(r.ok);
        CHECK(r.failed > 0);
        REQUIRE(r.worst.has_value());
        CHECK(r.worst->quantity == "dx_dot");
        CHECK(r.worst->input == "x");
    }
}

TEST_CASE("check_second_order fails a mishandled dy_dot") {
    SUBCASE("dy in place of dy_dot") {
        const tst::check_report r = tst::check_second_order(affine_problem(flaw::dy_instead_of_dy_dot), r1_mode());
        CHECK_FALSE(r.ok);
        CHECK(r.failed == 12);
        REQUIRE(r.worst.has_value());
        CHECK(r.worst->input == "x");
    }
    SUBCASE("dy_dot ignored") {
        const tst::check_report r = tst::check_second_order(affine_problem(flaw::bias_ignores_dy_dot));
        CHECK_FALSE(r.ok);
        CHECK(r.failed == 4);
        REQUIRE(r.worst.has_value());
        CHECK(r.worst->input == "b");
    }
}

TEST_CASE("check_second_order catches an unwritten dx_dot entry") {
    const tst::check_report r = tst::check_second_order(affine_problem(flaw::dx_dot_unwritten));
    CHECK_FALSE(r.ok);
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "b");
    CHECK(r.violation->flat_index == 3);
    CHECK(contains(r.violation->what, "dx_dot unwritten"));
    REQUIRE(r.worst.has_value());
    CHECK(r.worst->input == "b");
    CHECK(std::isnan(r.worst->analytic));
}

TEST_CASE("check_second_order catches a dx that disagrees with backward") {
    const tst::check_report r = tst::check_second_order(affine_problem(flaw::dx_differs));
    CHECK_FALSE(r.ok);
    CHECK(r.failed == 0);  // the tangents themselves are right
    REQUIRE(r.violation.has_value());
    CHECK(r.violation->input == "x");
    CHECK(r.violation->flat_index == 0);
    CHECK(contains(r.violation->what, "differs from the one backward writes"));
    CHECK(r.violation->found == doctest::Approx(2.0 * r.violation->expected));
}

TEST_CASE("check_second_order reports read well") {
    const tst::check_report r = tst::check_second_order(matmul_problem(true), r1_mode());
    const std::string s = r.to_string();
    CHECK(contains(s, "second-order check FAILED"));
    CHECK(contains(s, "dx_dot of 'W'"));
    CHECK(contains(tst::check_second_order(matmul_problem()).to_string(), "second-order check passed"));
}

TEST_CASE("check_second_order rejects a malformed problem") {
    SUBCASE("no forward_tangent") {
        tst::second_order_problem p = tanh_problem();
        p.forward_tangent = nullptr;
        CHECK_THROWS_WITH_AS(tst::check_second_order(p), doctest::Contains("a forward_tangent function"),
                             imbdef::error);
    }
    SUBCASE("no backward_tangent") {
        tst::second_order_problem p = tanh_problem();
        p.backward_tangent = nullptr;
        CHECK_THROWS_AS(tst::check_second_order(p), imbdef::error);
    }
    SUBCASE("a y_dot of the wrong shape") {
        tst::second_order_problem p = tanh_problem();
        p.forward_tangent = [](tst::input_views, tst::input_views) { return tensor<double>(shape{10}); };
        CHECK_THROWS_WITH_AS(tst::check_second_order(p), doctest::Contains("found [10]"), imbdef::error);
    }
    SUBCASE("a zero step") {
        tst::second_order_options o;
        o.steps = {1e-3, 0.0};
        CHECK_THROWS_AS(tst::check_second_order(tanh_problem(), o), imbdef::error);
    }
}
