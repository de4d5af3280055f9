// ops::normalize_2nd_moment: the closed form, its gradient against finite differences and the
// argument checks.

#include <cmath>

#include <imbdef/ops/normalize_2nd_moment.hpp>

#include "support.hpp"

using namespace misc_test;

TEST_CASE_TEMPLATE("normalize_2nd_moment gives every sample a unit mean square", T, float, double) {
    const tensor<T> x = normal_tensor<T>(shape{8, 256}, 1, T(3));
    tensor<T> y(x.shape());
    ops::normalize_2nd_moment(x, y.view());
    for (index_t n = 0; n < 8; ++n) {
        double sq = 0, ref_sq = 0;
        for (index_t i = 0; i < 256; ++i) ref_sq += static_cast<double>(x(n, i)) * x(n, i);
        const double r = 1.0 / std::sqrt(ref_sq / 256 + 1e-8);
        for (index_t i = 0; i < 256; ++i) {
            sq += static_cast<double>(y(n, i)) * y(n, i);
            CHECK(y(n, i) == doctest::Approx(x(n, i) * r).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-13));
        }
        CHECK(sq / 256 == doctest::Approx(1.0).epsilon(1e-5));
    }
}

TEST_CASE("normalize_2nd_moment maps a zero sample to zeros") {
    tensor<double> x(shape{2, 3}, {0.0, 0.0, 0.0, 1.0, -2.0, 2.0});
    tensor<double> y(x.shape());
    ops::normalize_2nd_moment(x, y.view());
    CHECK(y[0] == 0.0);
    CHECK(y[2] == 0.0);
    CHECK(y[3] == doctest::Approx(1.0 / std::sqrt(3.0 + 1e-8)).epsilon(1e-14));
}

TEST_CASE("normalize_2nd_moment backward agrees with finite differences (double)") {
    std::uint64_t stream = 10;
    for (const shape& s : {shape{1, 1}, shape{1, 5}, shape{3, 7}, shape{2, 3, 4}, shape{8, 64}}) {
        CAPTURE(s.to_string());
        tst::gradient_problem p;
        p.add_data("z", normal_tensor<double>(s, stream++));
        p.forward = [](tst::input_views in) {
            tensor<double> y(in[0].shape());
            ops::normalize_2nd_moment(in[0], y.view());
            return y;
        };
        p.backward = [](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
            ops::normalize_2nd_moment_backward(in[0], dy, dx[0], dm);
        };
        const auto r = tst::check_gradients(p);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("normalize_2nd_moment checks its arguments") {
    const tensor<float> flat(shape{5});
    tensor<float> y(shape{5});
    CHECK(message_of([&] { ops::normalize_2nd_moment(flat, y.view()); }) ==
          "ops::normalize_2nd_moment: expected x of rank >= 2 [N, features...], found x of shape [5]");
    const tensor<float> x(shape{2, 3});
    tensor<float> wrong(shape{3, 2});
    CHECK(message_of([&] { ops::normalize_2nd_moment_backward(x, x, wrong.view(), grad_mode::accumulate); }) ==
          "ops::normalize_2nd_moment_backward: expected dx of shape [2, 3] (the shape of x), found dx of shape [3, 2]");
    CHECK_NOTHROW(ops::normalize_2nd_moment_backward(x, x, core::view<float>{}, grad_mode::none));
}
