// ops::color_matrix: the RGB rule and the luma rule against direct formulas, gradient (the
// transpose) and tangent checks, argument checks.

#include <imbdef/ops/color_matrix.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

// rgb' = C[:3, :3] rgb + C[:3, 3]; for one channel, the mean of the three outputs with r = g = b = x.
tensor<double> reference(const tensor<double>& x, const tensor<double>& m) {
    const index_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
    tensor<double> y(x.shape());
    for (index_t s = 0; s < n; ++s)
        for (index_t p = 0; p < plane; ++p) {
            double in[3];
            for (index_t k = 0; k < 3; ++k) in[k] = x[(s * c + (c == 1 ? 0 : k)) * plane + p];
            double out[3];
            for (index_t i = 0; i < 3; ++i) out[i] = m(s, i, 0) * in[0] + m(s, i, 1) * in[1] + m(s, i, 2) * in[2] + m(s, i, 3);
            if (c == 1)
                y[s * plane + p] = (out[0] + out[1] + out[2]) / 3;
            else
                for (index_t i = 0; i < 3; ++i) y[(s * 3 + i) * plane + p] = out[i];
        }
    return y;
}

struct config {
    shape x;
    index_t matrix_rows;
};

const config configs[] = {{shape{2, 3, 4, 5}, 4}, {shape{1, 3, 1, 1}, 3}, {shape{3, 1, 3, 3}, 4},
                          {shape{2, 1, 1, 7}, 3}, {shape{2, 3, 91, 97}, 4}};

tst::second_order_problem problem(const config& cfg, std::uint64_t stream) {
    auto m = std::make_shared<tensor<double>>(normal_tensor<double>(shape{cfg.x[0], cfg.matrix_rows, 4}, stream + 500));
    tst::second_order_problem p;
    p.add_data("x", normal_tensor<double>(cfg.x, stream));
    p.forward = [=](tst::input_views in) {
        tensor<double> y(in[0].shape());
        ops::color_matrix(in[0], *m, y.view());
        return y;
    };
    p.backward = [=](tst::input_views, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
        ops::color_matrix_backward(*m, dy, dx[0], dm);
    };
    p.forward_tangent = [=](tst::input_views, tst::input_views dot) {
        tensor<double> y(dot[0].shape());
        ops::color_matrix_forward_tangent(*m, dot[0], y.view());
        return y;
    };
    p.backward_tangent = [=](tst::input_views, tst::input_views, const_view<double> dy, const_view<double> dy_dot,
                             tst::grad_views dx, tst::grad_views dx_dot) {
        ops::color_matrix_backward(*m, dy, dx[0], grad_mode::assign);
        ops::color_matrix_backward(*m, dy_dot, dx_dot[0], grad_mode::assign);
    };
    return p;
}

}  // namespace

TEST_CASE("color_matrix applies C[:3, :3] rgb + C[:3, 3], and the luma rule to one channel") {
    std::uint64_t stream = 1;
    for (const auto& cfg : configs) {
        CAPTURE(cfg.x.to_string());
        const tensor<double> x = normal_tensor<double>(cfg.x, stream);
        const tensor<double> m = normal_tensor<double>(shape{cfg.x[0], cfg.matrix_rows, 4}, stream++);
        tensor<double> y(x.shape());
        ops::color_matrix(x, m, y.view());
        CHECK(max_rel_diff(y, reference(x, m)) < 1e-14);
        tensor<float> yf(x.shape());
        ops::color_matrix(convert<float>(x), convert<float>(m), yf.view());
        CHECK(max_rel_diff(yf, y) < 1e-5);
    }
}

TEST_CASE("color_matrix with the identity matrix and an offset adds the offset per channel") {
    tensor<double> m(shape{1, 4, 4});
    for (index_t i = 0; i < 4; ++i) m(0, i, i) = 1;
    m(0, 0, 3) = 0.5;
    m(0, 1, 3) = -0.25;
    m(0, 2, 3) = 0.125;
    const tensor<double> x = normal_tensor<double>(shape{1, 3, 2, 2}, 5);
    tensor<double> y(x.shape());
    ops::color_matrix(x, m, y.view());
    const double offset[3] = {0.5, -0.25, 0.125};
    for (index_t c = 0; c < 3; ++c)
        for (index_t p = 0; p < 4; ++p) CHECK(y[c * 4 + p] == x[c * 4 + p] + offset[c]);
    const tensor<double> g(shape{1, 1, 2, 2}, {1.0, 2.0, 3.0, 4.0});
    tensor<double> yg(g.shape());
    ops::color_matrix(g, m, yg.view());
    for (index_t p = 0; p < 4; ++p) CHECK(yg[p] == doctest::Approx(g[p] + (0.5 - 0.25 + 0.125) / 3).epsilon(1e-15));
}

TEST_CASE("color_matrix backward is the transpose and its tangent rules hold") {
    std::uint64_t stream = 20;
    for (const auto& cfg : configs) {
        if (cfg.x.numel() > 1000) continue;
        CAPTURE(cfg.x.to_string());
        const auto p = problem(cfg, stream++);
        const auto r1 = tst::check_gradients(p);
        CHECK_MESSAGE(r1.ok, r1.to_string());
        const auto r2 = tst::check_second_order(p);
        CHECK_MESSAGE(r2.ok, r2.to_string());
    }
    tst::gradient_check_options o;
    o.max_elements_per_input = 64;
    const auto big = tst::check_gradients(problem(configs[4], 99), o);
    CHECK_MESSAGE(big.ok, big.to_string());
}

TEST_CASE("color_matrix rejects bad shapes, naming the op and both shapes") {
    const tensor<float> x(shape{2, 2, 4, 4});
    const tensor<float> m(shape{2, 4, 4});
    tensor<float> y(shape{2, 2, 4, 4});
    CHECK(message_of([&] { ops::color_matrix(x, m, y.view()); }) ==
          "ops::color_matrix: expected x of shape [N, 3, H, W] or [N, 1, H, W], found x of shape [2, 2, 4, 4]");
    const tensor<float> rgb(shape{2, 3, 4, 4});
    const tensor<float> bad_m(shape{1, 4, 4});
    tensor<float> out(shape{2, 3, 4, 4});
    CHECK(message_of([&] { ops::color_matrix(rgb, bad_m, out.view()); }) ==
          "ops::color_matrix: expected matrix of shape [2, 3, 4] or [2, 4, 4] (N from x), found matrix of shape [1, 4, 4]");
    CHECK(contains(message_of([&] { ops::color_matrix_backward(m, rgb, y.view(), grad_mode::assign); }),
                   "ops::color_matrix_backward: expected dx of shape [2, 3, 4, 4]"));
    CHECK_NOTHROW(ops::color_matrix_backward(m, rgb, core::view<float>{}, grad_mode::none));
}
