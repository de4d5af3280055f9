// ops::sum and ops::mean: against direct loops over every axis subset, across thread counts (the
// chunked partial sums), the broadcast backward, gradient and tangent checks, argument checks.

#include <cmath>
#include <limits>
#include <vector>

#include <imbdef/ops/reduce.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

// Direct reference in long double: for every element of x, add it to the output its kept
// indices select.
std::vector<long double> reference_sums(const tensor<double>& x, const std::vector<int>& axes) {
    const shape& s = x.shape();
    bool red[shape::max_rank] = {};
    for (int a : axes) red[a < 0 ? a + s.rank() : a] = true;
    index_t outputs = 1;
    for (int a = 0; a < s.rank(); ++a)
        if (!red[a]) outputs *= s[a];
    std::vector<long double> out(static_cast<std::size_t>(outputs), 0.0L);
    for (index_t i = 0; i < x.numel(); ++i) {
        index_t rem = i, o = 0, scale = 1;
        for (int a = s.rank() - 1; a >= 0; --a) {
            const index_t idx = rem % s[a];
            rem /= s[a];
            if (!red[a]) {
                o += idx * scale;
                scale *= s[a];
            }
        }
        out[static_cast<std::size_t>(o)] += x[i];
    }
    return out;
}

struct thread_count_guard {
    int saved = core::num_threads();
    ~thread_count_guard() { core::set_num_threads(saved); }
};

void check_against_reference(const shape& s, const std::vector<int>& axes, std::uint64_t stream) {
    const tensor<double> x = normal_tensor<double>(s, stream);
    const ops::reduce_axes ra(std::span<const int>(axes.data(), axes.size()));
    const std::vector<long double> ref = reference_sums(x, axes);
    index_t reduced = 1;
    for (int a : axes) reduced *= s[a < 0 ? a + s.rank() : a];
    tensor<double> y(ops::reduced_shape(s, ra));
    tensor<double> m(ops::reduced_shape(s, ra, true));
    ops::sum(x, ra, y.view());
    ops::mean(x, ra, m.view());
    REQUIRE(static_cast<std::size_t>(y.numel()) == ref.size());
    const double tol = 1e-14 * std::sqrt(static_cast<double>(reduced)) + 1e-15;
    index_t bad = 0;
    for (index_t o = 0; o < y.numel(); ++o) {
        const long double r = ref[static_cast<std::size_t>(o)];
        bad += !(std::abs(y[o] - r) <= tol * (1 + std::abs(r)) * 10);
        bad += !(std::abs(m[o] - r / reduced) <= tol * (1 + std::abs(r / reduced)) * 10);
    }
    CHECK(bad == 0);
}

tst::second_order_problem reduce_problem(const shape& s, const ops::reduce_axes& axes, bool mean,
                                         std::uint64_t stream) {
    tst::second_order_problem p;
    p.add_data("x", normal_tensor<double>(s, stream));
    const shape out = ops::reduced_shape(s, axes);
    auto fwd = [=](const_view<double> x, core::view<double> y) {
        if (mean)
            ops::mean(x, axes, y);
        else
            ops::sum(x, axes, y);
    };
    auto bwd = [=](const_view<double> dy, core::view<double> dx, grad_mode m) {
        if (mean)
            ops::mean_backward(dy, axes, dx, m);
        else
            ops::sum_backward(dy, axes, dx, m);
    };
    p.forward = [=](tst::input_views in) {
        tensor<double> y(out);
        fwd(in[0], y.view());
        return y;
    };
    p.backward = [=](tst::input_views, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        bwd(dy, dx[0], dm);
    };
    p.forward_tangent = [=](tst::input_views, tst::input_views dot) {
        tensor<double> y(out);
        fwd(dot[0], y.view());
        return y;
    };
    p.backward_tangent = [=](tst::input_views, tst::input_views, const_view<double> dy, const_view<double> dy_dot,
                             tst::grad_views dx, tst::grad_views dx_dot) {
        bwd(dy, dx[0], grad_mode::assign);
        bwd(dy_dot, dx_dot[0], grad_mode::assign);
    };
    return p;
}

}  // namespace

TEST_CASE("sum and mean over every subset of axes equal direct loops") {
    const shape s{2, 3, 4, 5};
    std::uint64_t stream = 1;
    for (int mask = 0; mask < 16; ++mask) {
        std::vector<int> axes;
        for (int a = 0; a < 4; ++a)
            if (mask & (1 << a)) axes.push_back(a);
        CAPTURE(mask);
        check_against_reference(s, axes, stream++);
    }
    check_against_reference(s, {-1, -3}, stream++);
    check_against_reference(shape{1, 3, 1, 5}, {0, 3}, stream++);
    check_against_reference(shape{}, {}, stream++);
}

TEST_CASE("sum and mean of large tensors agree across thread counts (chunked partial sums)") {
    thread_count_guard guard;
    struct cfg {
        shape s;
        std::vector<int> axes;
    };
    // Large enough for several chunks of the backend's grain (2^17 elements).
    const cfg cases[] = {
        {shape{3, 300001}, {0, 1}},        {shape{3, 300001}, {1}},          {shape{3, 300001}, {0}},
        {shape{8, 3, 128, 128}, {1, 2, 3}}, {shape{8, 32, 33, 31}, {0, 2, 3}}, {shape{5, 80000, 2}, {1}},
        {shape{2, 100000, 3}, {0, 2}},
    };
    std::uint64_t stream = 100;
    for (int threads : {1, 2, 3, 5}) {
        core::set_num_threads(threads);
        CAPTURE(threads);
        for (const auto& c : cases) {
            CAPTURE(c.s.to_string());
            check_against_reference(c.s, c.axes, stream++);
        }
    }
}

TEST_CASE_TEMPLATE("sum over all axes accepts any one-element y, and float sums stay accurate", T, float, double) {
    const tensor<T> x = normal_tensor<T>(shape{8, 3, 128, 128}, 7);
    long double ref = 0;
    for (T v : x) ref += v;
    tensor<T> scalar(shape{}), one(shape{1}), ones(shape{1, 1});
    ops::sum(x, scalar.view());
    ops::sum(x, one.view());
    ops::sum(x, ones.view());
    const double tol = std::is_same_v<T, float> ? 1e-2 : 1e-9;
    CHECK(std::abs(scalar[0] - ref) <= tol);
    CHECK(one[0] == scalar[0]);
    CHECK(ones[0] == scalar[0]);
    tensor<T> mean(shape{});
    ops::mean(x, mean.view());
    CHECK(std::abs(mean[0] - ref / x.numel()) <= tol / 1e5);
}

TEST_CASE("sum of an empty reduction is 0 and its mean NaN") {
    const tensor<double> x(shape{3, 0});
    tensor<double> s(shape{3}), m(shape{3});
    ops::sum(x, {1}, s.view());
    ops::mean(x, {1}, m.view());
    for (index_t i = 0; i < 3; ++i) {
        CHECK(s[i] == 0.0);
        CHECK(std::isnan(m[i]));
    }
}

TEST_CASE("sum and mean backward agree with finite differences; tangents are the ops themselves") {
    struct cfg {
        shape s;
        ops::reduce_axes axes;
    };
    const cfg cases[] = {
        {shape{2, 3, 4, 5}, {0, 2, 3}}, {shape{2, 3, 4, 5}, {1, 2, 3}}, {shape{2, 3, 4, 5}, {0, 1, 2, 3}},
        {shape{3, 5}, {0}},             {shape{3, 5}, {}},              {shape{1, 7, 1}, {-1}},
    };
    std::uint64_t stream = 200;
    for (const auto& c : cases)
        for (bool mean : {false, true}) {
            CAPTURE(c.s.to_string());
            CAPTURE(mean);
            const auto p = reduce_problem(c.s, c.axes, mean, stream++);
            const auto r1 = tst::check_gradients(p);
            CHECK_MESSAGE(r1.ok, r1.to_string());
            const auto r2 = tst::check_second_order(p);
            CHECK_MESSAGE(r2.ok, r2.to_string());
        }
}

TEST_CASE("sum backward over all axes and in keepdim form broadcasts dy") {
    const tensor<double> dy(shape{}, {2.5});
    tensor<double> dx(shape{3, 4}, 1.0);
    ops::sum_backward(dy, dx.view(), grad_mode::accumulate);
    for (double v : dx) CHECK(v == 3.5);
    const tensor<double> dyk(shape{3, 1}, {1.0, 2.0, 3.0});
    ops::mean_backward(dyk, {1}, dx.view(), grad_mode::assign);
    for (index_t r = 0; r < 3; ++r)
        for (index_t c = 0; c < 4; ++c) CHECK(dx(r, c) == static_cast<double>(r + 1) / 4.0);
}

TEST_CASE("sum and mean reject bad axes and shapes, naming the op and both values") {
    const tensor<float> x(shape{2, 3, 4});
    tensor<float> y(shape{2, 4});
    CHECK(message_of([&] { ops::sum(x, {3}, y.view()); }) ==
          "ops::sum: expected axes in [-3, 3) for x of shape [2, 3, 4], found axis 3");
    CHECK(message_of([&] { ops::mean(x, {1, -2}, y.view()); }) ==
          "ops::mean: expected each axis at most once, found axis -2 repeated");
    tensor<float> wrong(shape{4, 2});
    CHECK(message_of([&] { ops::sum(x, {1}, wrong.view()); }) ==
          "ops::sum: expected y of shape [2, 4] or [2, 1, 4] (x's shape [2, 3, 4] reduced over the axes), found y of "
          "shape [4, 2]");
    tensor<float> two(shape{2});
    CHECK(message_of([&] { ops::sum(x, two.view()); }) ==
          "ops::sum: expected y with one element (the sum over all axes of x of shape [2, 3, 4]), found y of shape [2]");
    tensor<float> dx(shape{2, 3, 4});
    CHECK(contains(message_of([&] { ops::sum_backward(wrong, {1}, dx.view(), grad_mode::assign); }),
                   "ops::sum_backward: expected dy of shape [2, 4] or [2, 1, 4]"));
    CHECK_NOTHROW(ops::sum_backward(wrong, {1}, core::view<float>{}, grad_mode::none));
}
