// ops::softplus: values against log1p(exp(x)) in long double, stability for large |x|, the
// gradient and the tangent rules of R1 against finite differences.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <imbdef/ops/softplus.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

tst::second_order_problem softplus_problem(const shape& s, std::uint64_t stream, double spread) {
    tst::second_order_problem p;
    p.add_data("x", normal_tensor<double>(s, stream, spread));
    p.forward = [](tst::input_views in) {
        tensor<double> y(in[0].shape());
        ops::softplus(in[0], y.view());
        return y;
    };
    p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        ops::softplus_backward(in[0], dy, dx[0], dm);
    };
    p.forward_tangent = [](tst::input_views in, tst::input_views dot) {
        tensor<double> y_dot(in[0].shape());
        ops::softplus_forward_tangent(in[0], dot[0], y_dot.view());
        return y_dot;
    };
    p.backward_tangent = [](tst::input_views in, tst::input_views dot, const_view<double> dy,
                            const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        ops::softplus_backward(in[0], dy, dx[0], grad_mode::assign);
        ops::softplus_backward_tangent(in[0], dot[0], dy, dy_dot, dx_dot[0], grad_mode::assign);
    };
    return p;
}

}  // namespace

TEST_CASE_TEMPLATE("softplus equals log(1 + e^x) and its derivative the logistic function", T, float, double) {
    const tensor<T> x = normal_tensor<T>(shape{4, 1000}, 1, T(8));
    tensor<T> y(x.shape()), g(x.shape());
    const tensor<T> ones(x.shape(), T(1));
    ops::softplus(x, y.view());
    ops::softplus_backward(x, ones, g.view(), grad_mode::assign);
    const long double eps = std::numeric_limits<T>::epsilon();
    for (index_t i = 0; i < x.numel(); ++i) {
        const long double v = x[i];
        const long double expected = std::log1p(std::exp(v));
        const long double slope = 1.0L / (1.0L + std::exp(-v));
        CHECK(std::abs(y[i] - expected) <= 4 * eps * expected);
        CHECK(std::abs(g[i] - slope) <= 4 * eps * slope);
    }
}

TEST_CASE_TEMPLATE("softplus is stable for large |x|", T, float, double) {
    const tensor<T> x(shape{6}, {T(100), T(-100), T(1000), T(-1000), T(30), T(-30)});
    tensor<T> y(x.shape()), g(x.shape());
    const tensor<T> ones(x.shape(), T(1));
    ops::softplus(x, y.view());
    ops::softplus_backward(x, ones, g.view(), grad_mode::assign);
    CHECK(y[0] == T(100));
    CHECK(y[1] == doctest::Approx(static_cast<double>(std::exp(T(-100)))).epsilon(1e-6));
    CHECK(y[2] == T(1000));
    CHECK(y[3] == T(0));
    CHECK(y[4] == doctest::Approx(30.0).epsilon(1e-12));
    CHECK(y[5] == doctest::Approx(std::exp(-30.0)).epsilon(1e-6));
    CHECK(g[0] == T(1));
    CHECK(g[2] == T(1));
    CHECK(g[3] == T(0));
    CHECK(g[5] == doctest::Approx(std::exp(-30.0)).epsilon(1e-6));
    for (index_t i = 0; i < x.numel(); ++i) {
        CHECK(std::isfinite(y[i]));
        CHECK(std::isfinite(g[i]));
    }
}

TEST_CASE_TEMPLATE("softplus and its slope stay within 3 ulp over the whole range, and NaN propagates", T, float,
                   double) {
    // A sweep over [-limit, limit] that crosses the exponential's cut-off to zero and, in float,
    // the subnormal results (counted in units of the smallest subnormal there).
    const T limit = std::is_same_v<T, float> ? T(110) : T(760);
    const index_t n = 200001;
    tensor<T> x(shape{n});
    for (index_t i = 0; i < n; ++i) x[i] = -limit + T(2) * limit * static_cast<T>(i) / static_cast<T>(n - 1);
    tensor<T> y(x.shape()), g(x.shape());
    const tensor<T> ones(x.shape(), T(1));
    ops::softplus(x, y.view());
    ops::softplus_backward(x, ones, g.view(), grad_mode::assign);
    const long double eps = std::numeric_limits<T>::epsilon(), tiny = std::numeric_limits<T>::denorm_min();
    double worst_y = 0, worst_g = 0;
    for (index_t i = 0; i < n; ++i) {
        const long double v = x[i];
        const long double ey = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
        const long double eg = 1.0L / (1.0L + std::exp(-v));
        worst_y = std::max(worst_y, static_cast<double>(std::abs(y[i] - ey) / std::max(tiny, eps * ey)));
        worst_g = std::max(worst_g, static_cast<double>(std::abs(g[i] - eg) / std::max(tiny, eps * eg)));
    }
    CHECK(worst_y <= 3.0);
    CHECK(worst_g <= 3.0);

    const T inf = std::numeric_limits<T>::infinity();
    const tensor<T> special(shape{3}, {inf, -inf, std::numeric_limits<T>::quiet_NaN()});
    const tensor<T> ones3(special.shape(), T(1));
    tensor<T> ys(special.shape()), gs(special.shape());
    ops::softplus(special, ys.view());
    ops::softplus_backward(special, ones3, gs.view(), grad_mode::assign);
    CHECK(ys[0] == inf);
    CHECK(ys[1] == T(0));
    CHECK(std::isnan(ys[2]));
    CHECK(gs[0] == T(1));
    CHECK(gs[1] == T(0));
    CHECK(std::isnan(gs[2]));
}

TEST_CASE("softplus gradient and tangent rules agree with finite differences (double)") {
    std::uint64_t stream = 10;
    for (const shape& s : {shape{1}, shape{9}, shape{8, 1}, shape{3, 4, 5}})
        for (double spread : {1.0, 6.0}) {
            CAPTURE(s.to_string());
            CAPTURE(spread);
            const auto p = softplus_problem(s, stream++, spread);
            const auto r1 = tst::check_gradients(p);
            CHECK_MESSAGE(r1.ok, r1.to_string());
            const auto r2 = tst::check_second_order(p);
            CHECK_MESSAGE(r2.ok, r2.to_string());
        }
}

TEST_CASE("softplus checks shapes and accepts an empty buffer under none") {
    const tensor<float> x(shape{2, 3});
    tensor<float> wrong(shape{3, 2}), right(shape{2, 3});
    CHECK(message_of([&] { ops::softplus(x, wrong.view()); }) ==
          "ops::softplus: expected y of shape [2, 3] (the shape of x), found y of shape [3, 2]");
    CHECK(contains(message_of([&] { ops::softplus_backward_tangent(x, x, x, wrong, right.view(), grad_mode::assign); }),
                   "ops::softplus_backward_tangent: expected dy_dot of shape [2, 3]"));
    CHECK_NOTHROW(ops::softplus_backward(x, x, core::view<float>{}, grad_mode::none));
}
