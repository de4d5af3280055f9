// ops::grid_sample and ops::affine_grid: against a direct transcription of torch's bilinear,
// zero-padded, align_corners=False sampling; known shifts; zero padding that cannot leak
// infinities; the transpose (gradient check) and the tangent rules (the ops themselves).

#include <cmath>
#include <limits>

#include <imbdef/ops/affine_grid.hpp>
#include <imbdef/ops/grid_sample.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

// torch's semantics, written out: unnormalise, take the four neighbours, weight by the opposite
// areas, read zero outside the image.
tensor<double> reference(const tensor<double>& x, const tensor<double>& grid) {
    const index_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const index_t ho = grid.size(1), wo = grid.size(2);
    tensor<double> y(shape{n, c, ho, wo});
    for (index_t s = 0; s < n; ++s)
        for (index_t i = 0; i < ho; ++i)
            for (index_t j = 0; j < wo; ++j) {
                const double ix = ((grid(s, i, j, 0) + 1) * static_cast<double>(w) - 1) / 2;
                const double iy = ((grid(s, i, j, 1) + 1) * static_cast<double>(h) - 1) / 2;
                const double x_w = std::floor(ix), y_n = std::floor(iy);
                const double x_e = x_w + 1, y_s = y_n + 1;
                const double nw = (x_e - ix) * (y_s - iy), ne = (ix - x_w) * (y_s - iy);
                const double sw = (x_e - ix) * (iy - y_n), se = (ix - x_w) * (iy - y_n);
                for (index_t ch = 0; ch < c; ++ch) {
                    auto at = [&](double yy, double xx) {
                        if (xx < 0 || yy < 0 || xx >= static_cast<double>(w) || yy >= static_cast<double>(h)) return 0.0;
                        return x(s, ch, static_cast<index_t>(yy), static_cast<index_t>(xx));
                    };
                    y(s, ch, i, j) = nw * at(y_n, x_w) + ne * at(y_n, x_e) + sw * at(y_s, x_w) + se * at(y_s, x_e);
                }
            }
    return y;
}

tensor<double> uniform_grid(index_t n, index_t ho, index_t wo, std::uint64_t stream, double reach) {
    return tst::random_tensor(shape{n, ho, wo, 2}, 0x9e1d, stream, -reach, reach);
}

struct config {
    shape x;
    index_t ho, wo;
    double reach;  // grid coordinates uniform in (-reach, reach): beyond 1 samples the zero border
};

const config configs[] = {
    {shape{1, 1, 1, 1}, 1, 1, 1.0},   {shape{2, 3, 5, 4}, 6, 7, 1.3},  {shape{3, 2, 4, 4}, 3, 5, 0.9},
    {shape{1, 3, 7, 9}, 4, 4, 2.5},   {shape{4, 1, 3, 2}, 5, 1, 1.1},
};

tst::second_order_problem problem(const config& cfg, std::uint64_t stream) {
    auto grid = std::make_shared<tensor<double>>(uniform_grid(cfg.x[0], cfg.ho, cfg.wo, stream, cfg.reach));
    const shape out{cfg.x[0], cfg.x[1], cfg.ho, cfg.wo};
    tst::second_order_problem p;
    p.add_data("x", normal_tensor<double>(cfg.x, stream));
    p.forward = [=](tst::input_views in) {
        tensor<double> y(out);
        ops::grid_sample(in[0], *grid, y.view());
        return y;
    };
    p.backward = [=](tst::input_views, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        ops::grid_sample_backward(*grid, dy, dx[0], dm);
    };
    p.forward_tangent = [=](tst::input_views, tst::input_views dot) {
        tensor<double> y(out);
        ops::grid_sample(dot[0], *grid, y.view());
        return y;
    };
    p.backward_tangent = [=](tst::input_views, tst::input_views, const_view<double> dy, const_view<double> dy_dot,
                             tst::grad_views dx, tst::grad_views dx_dot) {
        ops::grid_sample_backward(*grid, dy, dx[0], grad_mode::assign);
        ops::grid_sample_backward(*grid, dy_dot, dx_dot[0], grad_mode::assign);
    };
    return p;
}

struct thread_count_guard {
    int saved = core::num_threads();
    ~thread_count_guard() { core::set_num_threads(saved); }
};

}  // namespace

TEST_CASE("grid_sample equals torch's bilinear, zero-padded, align_corners=False sampling") {
    std::uint64_t stream = 1;
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        const tensor<double> x = normal_tensor<double>(cfg.x, stream);
        const tensor<double> grid = uniform_grid(cfg.x[0], cfg.ho, cfg.wo, stream++, cfg.reach);
        tensor<double> y(shape{cfg.x[0], cfg.x[1], cfg.ho, cfg.wo});
        ops::grid_sample(x, grid, y.view());
        CHECK(max_rel_diff(y, reference(x, grid)) < 1e-14);
        tensor<float> yf(y.shape());
        ops::grid_sample(convert<float>(x), convert<float>(grid), yf.view());
        CHECK(max_rel_diff(yf, y) < 1e-5);
    }
}

TEST_CASE("grid_sample on the identity grid returns the image, and a 2/W shift moves it one pixel") {
    const index_t n = 2, c = 3, h = 5, w = 6;
    const tensor<double> x = normal_tensor<double>(shape{n, c, h, w}, 3);
    tensor<double> theta(shape{n, 2, 3});
    for (index_t s = 0; s < n; ++s) {
        theta(s, 0, 0) = 1;
        theta(s, 1, 1) = 1;
    }
    tensor<double> grid(shape{n, h, w, 2});
    ops::affine_grid(theta, grid.view());
    tensor<double> y(x.shape());
    ops::grid_sample(x, grid, y.view());
    CHECK(max_rel_diff(y, x) < 1e-14);

    for (index_t s = 0; s < n; ++s) theta(s, 0, 2) = 2.0 / static_cast<double>(w);
    ops::affine_grid(theta, grid.view());
    ops::grid_sample(x, grid, y.view());
    for (index_t s = 0; s < n; ++s)
        for (index_t ch = 0; ch < c; ++ch)
            for (index_t i = 0; i < h; ++i)
                for (index_t j = 0; j < w; ++j)
                    CHECK(y(s, ch, i, j) == doctest::Approx(j + 1 < w ? x(s, ch, i, j + 1) : 0.0).epsilon(1e-12));
}

TEST_CASE("grid_sample reads zeros outside the image, and nothing outside leaks in") {
    tensor<float> x(shape{1, 1, 2, 2}, {std::numeric_limits<float>::infinity(), 1.0f, 2.0f, 3.0f});
    // (1, 1) in grid coordinates is the bottom-right corner: taps (1, 1), (2, 1), (1, 2), (2, 2),
    // three of them outside. Far outside and NaN sample nothing.
    tensor<float> grid(shape{1, 1, 3, 2}, {1.0f, 1.0f, 5.0f, -7.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f});
    tensor<float> y(shape{1, 1, 1, 3});
    ops::grid_sample(x, grid, y.view());
    CHECK(y[0] == doctest::Approx(0.25 * 3.0));
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == 0.0f);
    tensor<float> dx(x.shape(), 5.0f);
    const tensor<float> dy(shape{1, 1, 1, 3}, {1.0f, std::numeric_limits<float>::infinity(), 2.0f});
    ops::grid_sample_backward(grid, dy, dx.view(), grad_mode::assign);
    CHECK(dx[0] == 0.0f);
    CHECK(dx[1] == 0.0f);
    CHECK(dx[2] == 0.0f);
    CHECK(dx[3] == doctest::Approx(0.25));
}

TEST_CASE("grid_sample backward is the transpose, also split by plane when samples are few") {
    thread_count_guard guard;
    std::uint64_t stream = 10;
    for (int threads : {1, 2, 3}) {
        core::set_num_threads(threads);
        CAPTURE(threads);
        for (const auto& cfg : configs) {
            CAPTURE(cfg.x.to_string());
            const auto r = tst::check_gradients(problem(cfg, stream++));
            CHECK_MESSAGE(r.ok, r.to_string());
        }
    }
}

TEST_CASE("grid_sample tangent rules are the forward on x_dot and the backward on dy_dot") {
    std::uint64_t stream = 40;
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        const auto r = tst::check_second_order(problem(cfg, stream++));
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("affine_grid equals theta applied to the pixel centres, for [N, 2, 3] and [N, 3, 3]") {
    const index_t n = 2, h = 3, w = 5;
    const tensor<double> theta3 = normal_tensor<double>(shape{n, 3, 3}, 50);
    tensor<double> theta2(shape{n, 2, 3});
    for (index_t s = 0; s < n; ++s)
        for (index_t r = 0; r < 2; ++r)
            for (index_t k = 0; k < 3; ++k) theta2(s, r, k) = theta3(s, r, k);
    tensor<double> g3(shape{n, h, w, 2}), g2(shape{n, h, w, 2});
    ops::affine_grid(theta3, g3.view());
    ops::affine_grid(theta2, g2.view());
    for (index_t s = 0; s < n; ++s)
        for (index_t i = 0; i < h; ++i)
            for (index_t j = 0; j < w; ++j) {
                const double bx = (2.0 * static_cast<double>(j) + 1) / w - 1, by = (2.0 * static_cast<double>(i) + 1) / h - 1;
                for (index_t k = 0; k < 2; ++k) {
                    const double e = theta3(s, k, 0) * bx + theta3(s, k, 1) * by + theta3(s, k, 2);
                    CHECK(g3(s, i, j, k) == doctest::Approx(e).epsilon(1e-14));
                    CHECK(g2(s, i, j, k) == g3(s, i, j, k));
                }
            }
}

TEST_CASE("grid_sample and affine_grid reject bad shapes, naming the op and both shapes") {
    const tensor<float> x(shape{2, 3, 4, 4});
    const tensor<float> grid(shape{2, 5, 6, 2});
    tensor<float> y(shape{2, 3, 5, 6});
    const tensor<float> bad_grid(shape{1, 5, 6, 2});
    CHECK(message_of([&] { ops::grid_sample(x, bad_grid, y.view()); }) ==
          "ops::grid_sample: expected grid of shape [2, Ho, Wo, 2], found grid of shape [1, 5, 6, 2]");
    tensor<float> bad_y(shape{2, 3, 6, 5});
    CHECK(message_of([&] { ops::grid_sample(x, grid, bad_y.view()); }) ==
          "ops::grid_sample: expected y of shape [2, 3, 5, 6] (the shape of [N, C] of x and [Ho, Wo] of grid), found y "
          "of shape [2, 3, 6, 5]");
    tensor<float> dx(shape{2, 3, 4, 4});
    CHECK(contains(message_of([&] { ops::grid_sample_backward(grid, bad_y, dx.view(), grad_mode::assign); }),
                   "ops::grid_sample_backward: expected dy of shape [2, 3, 5, 6]"));
    CHECK_NOTHROW(ops::grid_sample_backward(grid, y, core::view<float>{}, grad_mode::none));
    const tensor<float> theta(shape{2, 4, 3});
    tensor<float> g(shape{2, 5, 6, 2});
    CHECK(message_of([&] { ops::affine_grid(theta, g.view()); }) ==
          "ops::affine_grid: expected theta of shape [2, 2, 3] or [2, 3, 3] (N from grid), found theta of shape [2, 4, 3]");
}
