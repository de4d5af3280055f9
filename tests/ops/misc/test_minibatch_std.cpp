// ops::minibatch_std: the forward against a direct transcription of the reference's reshape,
// the strided grouping, the gradient and its true second derivative against finite differences,
// and the argument checks.

#include <cmath>
#include <vector>

#include <imbdef/ops/minibatch_std.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

// The reference's formulation, step by step: view x as [G, M, F, Cf, H, W] (sample g M + j),
// subtract the mean over G, square, mean over G, add eps, sqrt, mean over (Cf, H, W), then
// repeat over G and concatenate.
tensor<double> reference(const tensor<double>& x, index_t group_size, index_t f_blocks, double eps = 1e-8) {
    const index_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const index_t g_count = std::min(group_size, n), m = n / g_count, cf = c / f_blocks;
    std::vector<double> stat(static_cast<std::size_t>(m * f_blocks), 0.0);
    for (index_t j = 0; j < m; ++j)
        for (index_t f = 0; f < f_blocks; ++f) {
            double acc = 0;
            for (index_t ci = 0; ci < cf; ++ci)
                for (index_t yy = 0; yy < h; ++yy)
                    for (index_t xx = 0; xx < w; ++xx) {
                        double mean = 0;
                        for (index_t g = 0; g < g_count; ++g) mean += x(g * m + j, f * cf + ci, yy, xx);
                        mean /= static_cast<double>(g_count);
                        double var = 0;
                        for (index_t g = 0; g < g_count; ++g) {
                            const double d = x(g * m + j, f * cf + ci, yy, xx) - mean;
                            var += d * d;
                        }
                        acc += std::sqrt(var / static_cast<double>(g_count) + eps);
                    }
            stat[static_cast<std::size_t>(j * f_blocks + f)] = acc / static_cast<double>(cf * h * w);
        }
    tensor<double> y(shape{n, c + f_blocks, h, w});
    for (index_t i = 0; i < n; ++i)
        for (index_t ch = 0; ch < c + f_blocks; ++ch)
            for (index_t yy = 0; yy < h; ++yy)
                for (index_t xx = 0; xx < w; ++xx)
                    y(i, ch, yy, xx) = ch < c ? x(i, ch, yy, xx)
                                              : stat[static_cast<std::size_t>((i % m) * f_blocks + (ch - c))];
    return y;
}

struct config {
    shape x;
    index_t group_size;
    index_t num_channels;
};

// Odd sizes, G > N (G becomes N), N = 1 (a single member: sd = sqrt(eps)), F > 1, 1x1 maps.
const config configs[] = {
    {shape{4, 3, 2, 2}, 2, 1}, {shape{8, 4, 3, 5}, 4, 2}, {shape{2, 5, 3, 1}, 4, 1},
    {shape{6, 6, 1, 1}, 3, 3}, {shape{1, 2, 3, 3}, 4, 1}, {shape{3, 2, 2, 3}, 3, 2},
};

tst::second_order_problem problem(const config& cfg, std::uint64_t stream) {
    const ops::minibatch_std_params params{.group_size = cfg.group_size, .num_channels = cfg.num_channels};
    const shape out = ops::minibatch_std_output_shape(cfg.x, params);
    tst::second_order_problem p;
    p.add_data("x", normal_tensor<double>(cfg.x, stream));
    p.forward = [=](tst::input_views in) {
        tensor<double> y(out);
        ops::minibatch_std(in[0], y.view(), params);
        return y;
    };
    p.backward = [=](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        ops::minibatch_std_backward(in[0], dy, dx[0], dm, params);
    };
    p.forward_tangent = [=](tst::input_views in, tst::input_views dot) {
        tensor<double> y_dot(out);
        ops::minibatch_std_forward_tangent(in[0], dot[0], y_dot.view(), params);
        return y_dot;
    };
    p.backward_tangent = [=](tst::input_views in, tst::input_views dot, const_view<double> dy,
                             const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        ops::minibatch_std_backward(in[0], dy, dx[0], grad_mode::assign, params);
        ops::minibatch_std_backward_tangent(in[0], dot[0], dy, dy_dot, dx_dot[0], grad_mode::assign, params);
    };
    return p;
}

}  // namespace

TEST_CASE("minibatch_std forward equals the reference's reshape formulation") {
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        CAPTURE(cfg.group_size);
        CAPTURE(cfg.num_channels);
        const tensor<double> x = normal_tensor<double>(cfg.x, 1);
        const ops::minibatch_std_params params{.group_size = cfg.group_size, .num_channels = cfg.num_channels};
        tensor<double> y(ops::minibatch_std_output_shape(cfg.x, params));
        ops::minibatch_std(x, y.view(), params);
        CHECK(max_rel_diff(y, reference(x, cfg.group_size, cfg.num_channels)) < 1e-14);

        // float agrees with double to float rounding
        const tensor<float> xf = convert<float>(x);
        tensor<float> yf(y.shape());
        ops::minibatch_std(xf, yf.view(), params);
        CHECK(max_rel_diff(yf, y) < 1e-5);
    }
}

TEST_CASE("minibatch_std groups are strided: sample g (N/G) + j belongs to group j") {
    // N = 4, G = 2: groups {0, 2} and {1, 3}. Samples 0 and 2 are equal, so group 0's statistic is
    // sqrt(eps); samples 1 and 3 differ by 2 everywhere, so group 1's is sqrt(1 + eps).
    tensor<double> x(shape{4, 1, 1, 2}, {0.5, -0.25, 7.0, 3.0, 0.5, -0.25, 5.0, 1.0});
    tensor<double> y(shape{4, 2, 1, 2});
    ops::minibatch_std(x, y.view(), {.group_size = 2});
    const double s0 = std::sqrt(1e-8), s1 = std::sqrt(1.0 + 1e-8);
    const double expected_extra[4] = {s0, s1, s0, s1};
    for (index_t n = 0; n < 4; ++n) {
        CAPTURE(n);
        CHECK(y(n, 0, 0, 0) == x(n, 0, 0, 0));
        CHECK(y(n, 0, 0, 1) == x(n, 0, 0, 1));
        CHECK(y(n, 1, 0, 0) == doctest::Approx(expected_extra[n]).epsilon(1e-14));
        CHECK(y(n, 1, 0, 1) == doctest::Approx(expected_extra[n]).epsilon(1e-14));
    }
}

TEST_CASE("minibatch_std backward agrees with finite differences and keeps the gradient contract") {
    std::uint64_t stream = 10;
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        const auto r = tst::check_gradients(problem(cfg, stream++));
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("minibatch_std tangent rules agree with finite differences of forward and backward") {
    std::uint64_t stream = 20;
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        const auto r = tst::check_second_order(problem(cfg, stream++));
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("minibatch_std backward_tangent follows the gradient mode") {
    const config cfg{shape{4, 2, 3, 3}, 2, 1};
    const ops::minibatch_std_params params{.group_size = 2};
    const shape out = ops::minibatch_std_output_shape(cfg.x, params);
    const tensor<double> x = normal_tensor<double>(cfg.x, 30), x_dot = normal_tensor<double>(cfg.x, 31);
    const tensor<double> dy = normal_tensor<double>(out, 32), dy_dot = normal_tensor<double>(out, 33);
    const tensor<double> before = normal_tensor<double>(cfg.x, 34);
    tensor<double> assigned = before.clone(), accumulated = before.clone(), untouched = before.clone();
    ops::minibatch_std_backward_tangent(x, x_dot, dy, dy_dot, assigned.view(), grad_mode::assign, params);
    ops::minibatch_std_backward_tangent(x, x_dot, dy, dy_dot, accumulated.view(), grad_mode::accumulate, params);
    ops::minibatch_std_backward_tangent(x, x_dot, dy, dy_dot, untouched.view(), grad_mode::none, params);
    for (index_t i = 0; i < x.numel(); ++i) {
        CHECK(accumulated[i] == doctest::Approx(before[i] + assigned[i]).epsilon(1e-13));
        CHECK(untouched[i] == before[i]);
    }
    CHECK_NOTHROW(
        ops::minibatch_std_backward_tangent(x, x_dot, dy, dy_dot, core::view<double>{}, grad_mode::none, params));
}

TEST_CASE("minibatch_std rejects bad arguments, naming the op and both values") {
    const tensor<float> x(shape{6, 4, 4, 4});
    tensor<float> y(shape{6, 5, 4, 4});
    const std::string batch = message_of([&] { ops::minibatch_std(x, y.view(), {.group_size = 4}); });
    CHECK(batch ==
          "ops::minibatch_std: expected a batch size divisible by the group size 4 (min(group_size 4, N)), found "
          "batch size N = 6 for x of shape [6, 4, 4, 4]");
    const std::string blocks = message_of([&] { ops::minibatch_std(x, y.view(), {.group_size = 2, .num_channels = 3}); });
    CHECK(blocks ==
          "ops::minibatch_std: expected num_channels dividing the 4 channels of x, found num_channels 3 for x of "
          "shape [6, 4, 4, 4]");
    tensor<float> wrong(shape{6, 4, 4, 4});
    const std::string out = message_of([&] { ops::minibatch_std(x, wrong.view(), {.group_size = 2}); });
    CHECK(out ==
          "ops::minibatch_std: expected y of shape [6, 5, 4, 4] (the shape of x with the extra channels), found y "
          "of shape [6, 4, 4, 4]");
    tensor<float> dx(shape{6, 4, 4, 4});
    CHECK(contains(message_of([&] { ops::minibatch_std_backward(x, x, dx.view(), grad_mode::assign, {.group_size = 2}); }),
                   "ops::minibatch_std_backward: expected dy of shape [6, 5, 4, 4]"));
    const tensor<float> flat(shape{6, 4});
    CHECK(contains(message_of([&] { ops::minibatch_std(flat, y.view()); }), "expected x of rank 4"));
    CHECK_THROWS_AS(ops::minibatch_std(x, y.view(), {.group_size = 0}), imbdef::error);
    // G = min(group_size, N): a group larger than the batch is the whole batch.
    CHECK_NOTHROW(ops::minibatch_std(x, y.view(), {.group_size = 8}));
}
