// The image filters: Sobel gradients and magnitude, the binomial 3 x 3 low-pass, the exp2 and
// Gaussian blurs, resize. Each against a direct implementation of its definition, its adjoint
// identity, the gradient checker, and (for the linear ones) the second-order checker with the op
// itself as its tangent rules.

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/image_filters.hpp>
#include <imbdef/testing.hpp>

#include "reference.hpp"

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;
namespace ref = resample_test;
namespace tst = imbdef::testing;

namespace {

const shape shapes[] = {shape{1, 1, 1, 1}, shape{1, 1, 1, 7}, shape{2, 1, 6, 1}, shape{1, 2, 5, 9},
                        shape{2, 3, 17, 13}, shape{1, 1, 40, 37}};

// The stencil definition: correlation with the 3 x 3 kernel over the border-extended input.
tensor<double> stencil(const tensor<double>& x, const ops::stencil3x3& k, ops::border_mode border) {
    const index_t H = x.size(2), W = x.size(3);
    tensor<double> y(x.shape());
    auto at = [&](index_t n, index_t c, index_t i, index_t j) -> double {
        if (border == ops::border_mode::replicate) {
            i = std::clamp<index_t>(i, 0, H - 1);
            j = std::clamp<index_t>(j, 0, W - 1);
        } else if (i < 0 || j < 0 || i >= H || j >= W) {
            return 0.0;
        }
        return x(n, c, i, j);
    };
    for (index_t n = 0; n < x.size(0); ++n)
        for (index_t c = 0; c < x.size(1); ++c)
            for (index_t i = 0; i < H; ++i)
                for (index_t j = 0; j < W; ++j) {
                    double s = 0;
                    for (index_t a = 0; a < 3; ++a)
                        for (index_t b = 0; b < 3; ++b) s += k[static_cast<std::size_t>(3 * a + b)] * at(n, c, i + a - 1, j + b - 1);
                    y(n, c, i, j) = s;
                }
    return y;
}

// A linear image op under test: forward, backward (under a mode), and the output shape.
struct linear_op {
    std::string name;
    shape x;
    shape y;
    std::function<void(core::const_view<double>, core::view<double>)> forward;
    std::function<void(core::const_view<double>, core::view<double>, grad_mode)> backward;
};

void check_linear(const linear_op& op, std::uint64_t seed, bool second_order) {
    CAPTURE(op.name);
    CAPTURE(op.x.to_string());
    // Adjoint identity.
    const tensor<double> x = ref::normal(op.x, seed);
    tensor<double> Ax(op.y);
    op.forward(x, Ax.view());
    const tensor<double> yv = ref::normal(op.y, seed + 1);
    tensor<double> ATy(op.x);
    op.backward(yv, ATy.view(), grad_mode::assign);
    const double lhs = ref::dot(Ax, yv), rhs = ref::dot(x, ATy);
    CHECK(std::abs(lhs - rhs) <= 1e-11 * (1.0 + std::abs(lhs)));

    tst::second_order_problem prob;
    prob.add_data("x", ref::normal(op.x, seed + 2));
    const shape ys = op.y;
    auto fwd = [f = op.forward, ys](core::const_view<double> in) {
        tensor<double> y(ys);
        f(in, y.view());
        return y;
    };
    prob.forward = [fwd](tst::input_views in) { return fwd(in[0]); };
    prob.backward = [b = op.backward](tst::input_views, core::const_view<double> dy, tst::grad_views dx, grad_mode mode,
                                      grad_mode) { b(dy, dx[0], mode); };
    const auto r = tst::check_gradients(prob);
    CHECK_MESSAGE(r.ok, r.to_string());
    if (!second_order) return;
    prob.forward_tangent = [fwd](tst::input_views, tst::input_views dot) { return fwd(dot[0]); };
    prob.backward_tangent = [b = op.backward](tst::input_views, tst::input_views, core::const_view<double> dy,
                                              core::const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        b(dy, dx[0], grad_mode::assign);
        b(dy_dot, dx_dot[0], grad_mode::assign);
    };
    const auto r2 = tst::check_second_order(prob);
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

std::string message_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "no imbdef::error";
}

}  // namespace

TEST_CASE("sobel equals the stencil definition under both borders, float and double") {
    for (const auto border : {ops::border_mode::zero, ops::border_mode::replicate})
        for (const bool normalized : {true, false})
            for (const shape& s : shapes) {
                CAPTURE(s.to_string());
                CAPTURE(ops::to_string(border));
                const ops::sobel_params p{border, normalized};
                const tensor<double> x = ref::normal(s, 1);
                tensor<double> gx(s), gy(s);
                ops::sobel<double>(x, gx.view(), gy.view(), p);
                const tensor<double> ex = stencil(x, ops::sobel_op::kernel_x(normalized), border);
                const tensor<double> ey = stencil(x, ops::sobel_op::kernel_y(normalized), border);
                CHECK(ref::max_abs_diff(gx, ex) <= 1e-14 * (1 + ref::max_abs(ex)));
                CHECK(ref::max_abs_diff(gy, ey) <= 1e-14 * (1 + ref::max_abs(ey)));
                const tensor<float> xf = ref::cast<float>(x);
                tensor<float> gxf(s);
                ops::sobel<float>(xf, gxf.view(), core::view<float>{}, p);
                double worst = 0;
                for (index_t i = 0; i < gxf.numel(); ++i) worst = std::max(worst, std::abs(double(gxf[i]) - ex[i]));
                CHECK(worst <= 1e-5 * (1 + ref::max_abs(ex)));
            }
}

TEST_CASE("sobel of a ramp: slope 1 inside; the border rule decides the edges") {
    tensor<double> x(shape{1, 1, 4, 6});
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < 6; ++j) x(0, 0, i, j) = double(j);
    tensor<double> gx(x.shape()), gy(x.shape());
    ops::sobel<double>(x, gx.view(), gy.view());  // replicate, normalized
    for (index_t i = 0; i < 4; ++i) {
        CHECK(gx(0, 0, i, 0) == doctest::Approx(0.5));
        for (index_t j = 1; j < 5; ++j) CHECK(gx(0, 0, i, j) == doctest::Approx(1.0));
        CHECK(gx(0, 0, i, 5) == doctest::Approx(0.5));
        for (index_t j = 0; j < 6; ++j) CHECK(gy(0, 0, i, j) == 0.0);
    }
    ops::sobel<double>(x, gx.view(), gy.view(), ops::sobel_params{ops::border_mode::zero});
    CHECK(gx(0, 0, 1, 5) == doctest::Approx(-2.0));  // (0 - 4) * 4 / 8
    CHECK(gy(0, 0, 0, 2) == doctest::Approx(1.0));   // (row 1 - zeros above): (1 + 2 * 2 + 3) / 8
}

TEST_CASE("sobel, binomial low-pass, blurs and resize: adjoints, gradients, tangent rules") {
    std::vector<linear_op> linear;
    for (const auto border : {ops::border_mode::zero, ops::border_mode::replicate}) {
        const std::string b(ops::to_string(border));
        for (const shape& s : {shape{1, 1, 1, 1}, shape{1, 2, 5, 4}, shape{2, 1, 3, 7}}) {
            const ops::sobel_params p{border};
            linear.push_back({"sobel gx+gy " + b, s, shape{s[0], s[1], 2 * s[2], s[3]},
                              [p, s](core::const_view<double> x, core::view<double> y) {
                                  const index_t half = s.numel();
                                  ops::sobel<double>(x, core::view<double>(y.data(), s),
                                                     core::view<double>(y.data() + half, s), p);
                              },
                              [p, s](core::const_view<double> dy, core::view<double> dx, grad_mode mode) {
                                  const index_t half = s.numel();
                                  ops::sobel_backward<double>(core::const_view<double>(dy.data(), s),
                                                              core::const_view<double>(dy.data() + half, s), dx, mode, p);
                              }});
            const ops::binomial_lowpass_params q{border};
            linear.push_back({"binomial " + b, s, s,
                              [q](core::const_view<double> x, core::view<double> y) { ops::binomial_lowpass<double>(x, y, q); },
                              [q](core::const_view<double> dy, core::view<double> dx, grad_mode mode) {
                                  ops::binomial_lowpass_backward<double>(dy, dx, mode, q);
                              }});
        }
    }
    for (const double sigma : {0.2, 0.7, 1.5}) {
        const shape s{1, 2, 6, 9};
        linear.push_back({"exp2 blur " + std::to_string(sigma), s, s,
                          [sigma](core::const_view<double> x, core::view<double> y) { ops::exp2_blur<double>(x, y, sigma); },
                          [sigma](core::const_view<double> dy, core::view<double> dx, grad_mode mode) {
                              ops::exp2_blur_backward<double>(dy, dx, mode, sigma);
                          }});
        linear.push_back({"gaussian blur " + std::to_string(sigma), s, s,
                          [sigma](core::const_view<double> x, core::view<double> y) { ops::gaussian_blur<double>(x, y, sigma); },
                          [sigma](core::const_view<double> dy, core::view<double> dx, grad_mode mode) {
                              ops::gaussian_blur_backward<double>(dy, dx, mode, sigma);
                          }});
    }
    const shape resize_cases[][2] = {{shape{1, 2, 6, 9}, shape{1, 2, 3, 4}},  // area 2 and 2.25
                                     {shape{2, 1, 5, 7}, shape{2, 1, 8, 15}}, // bicubic
                                     {shape{1, 1, 4, 9}, shape{1, 1, 7, 5}},  // enlarge y, shrink x
                                     {shape{1, 1, 3, 1}, shape{1, 1, 3, 1}},  // identity
                                     {shape{1, 1, 1, 2}, shape{1, 1, 5, 1}}};
    for (const auto& rc : resize_cases) {
        const ops::resize_params p{-0.75};
        linear.push_back({"resize to " + rc[1].to_string(), rc[0], rc[1],
                          [p](core::const_view<double> x, core::view<double> y) { ops::resize<double>(x, y, p); },
                          [p](core::const_view<double> dy, core::view<double> dx, grad_mode mode) {
                              ops::resize_backward<double>(dy, dx, mode, p);
                          }});
    }
    std::uint64_t seed = 10;
    for (const linear_op& op : linear) {
        check_linear(op, seed, true);
        seed += 3;
    }
}

TEST_CASE("sobel magnitude: the definition and its gradient") {
    for (const shape& s : {shape{1, 1, 1, 1}, shape{2, 2, 5, 6}}) {
        CAPTURE(s.to_string());
        const tensor<double> x = ref::normal(s, 20);
        const ops::sobel_params p{ops::border_mode::replicate, true, 1e-4};
        tensor<double> m(s);
        ops::sobel_magnitude<double>(x, m.view(), p);
        const tensor<double> ex = stencil(x, ops::sobel_op::kernel_x(true), p.border);
        const tensor<double> ey = stencil(x, ops::sobel_op::kernel_y(true), p.border);
        for (index_t i = 0; i < m.numel(); ++i)
            CHECK(m[i] == doctest::Approx(std::sqrt(ex[i] * ex[i] + ey[i] * ey[i] + 1e-4)).epsilon(1e-14));
        tst::gradient_problem prob;
        prob.add_data("x", x.clone());
        prob.forward = [p](tst::input_views in) {
            tensor<double> y(in[0].shape());
            ops::sobel_magnitude<double>(in[0], y.view(), p);
            return y;
        };
        prob.backward = [p](tst::input_views in, core::const_view<double> dy, tst::grad_views dx, grad_mode mode, grad_mode) {
            ops::sobel_magnitude_backward<double>(in[0], dy, dx[0], mode, p);
        };
        const auto r = tst::check_gradients(prob);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("binomial low-pass: [1 2 1]^2 / 16 inside, constants kept under replicate") {
    const tensor<double> x = ref::normal(shape{2, 3, 9, 8}, 30);
    tensor<double> y(x.shape());
    for (const auto border : {ops::border_mode::zero, ops::border_mode::replicate}) {
        ops::binomial_lowpass<double>(x, y.view(), ops::binomial_lowpass_params{border});
        const tensor<double> e = stencil(x, ops::binomial_lowpass_op::kernel(), border);
        CHECK(ref::max_abs_diff(y, e) <= 1e-14);
    }
    const tensor<float> c(shape{1, 2, 5, 7}, 0.75f);
    tensor<float> yc(c.shape());
    ops::binomial_lowpass<float>(c, yc.view());
    for (index_t i = 0; i < yc.numel(); ++i) CHECK(yc[i] == 0.75f);
}

TEST_CASE("exp2 blur uses 2^-(k/sigma)^2 on [-floor(3 sigma), floor(3 sigma)]; gaussian exp(-k^2 / 2 sigma^2) on ceil") {
    const tensor<double> x = ref::normal(shape{1, 2, 12, 11}, 40);
    for (const double sigma : {0.2, 1.0, 1.7}) {
        CAPTURE(sigma);
        for (const bool gauss : {false, true}) {
            const index_t r = gauss ? index_t(std::ceil(3 * sigma)) : index_t(std::floor(3 * sigma));
            tensor<double> f(shape{2 * r + 1});
            double sum = 0;
            for (index_t k = -r; k <= r; ++k) {
                const double t = static_cast<double>(k) / sigma;
                f[k + r] = gauss ? std::exp(-0.5 * t * t) : std::exp2(-t * t);
                sum += f[k + r];
            }
            for (double& v : f) v /= sum;
            const tensor<double> e = ref::upfirdn2d(x, f, ops::upfirdn2d_params::uniform(1, 1, r, r, r, r));
            tensor<double> y(x.shape());
            if (gauss)
                ops::gaussian_blur<double>(x, y.view(), sigma);
            else
                ops::exp2_blur<double>(x, y.view(), sigma);
            CHECK(ref::max_abs_diff(y, e) <= 1e-13);
        }
    }
    // sigma < 1/3: no taps besides the centre, the identity (StyleGAN3 skips the blur there).
    tensor<double> y(x.shape());
    ops::exp2_blur<double>(x, y.view(), 0.3);
    CHECK(ref::max_abs_diff(y, x) == 0.0);
}

TEST_CASE("resize: area averages, bicubic reproduces linear ramps, equal size is the identity") {
    // Area by 2: the mean of each 2 x 2 block.
    const tensor<double> x = ref::normal(shape{1, 2, 6, 8}, 50);
    tensor<double> y(shape{1, 2, 3, 4});
    ops::resize<double>(x, y.view());
    for (index_t c = 0; c < 2; ++c)
        for (index_t i = 0; i < 3; ++i)
            for (index_t j = 0; j < 4; ++j) {
                const double mean = (x(0, c, 2 * i, 2 * j) + x(0, c, 2 * i + 1, 2 * j) + x(0, c, 2 * i, 2 * j + 1) +
                                     x(0, c, 2 * i + 1, 2 * j + 1)) / 4;
                CHECK(y(0, c, i, j) == doctest::Approx(mean).epsilon(1e-14));
            }
    // Area by 5/3 along one row: output 1 covers [5/3, 10/3): 1/3 of x1, all of x2, 1/3 of x3, over 5/3.
    const tensor<double> row(shape{1, 1, 1, 5}, {1.0, 2.0, 4.0, 8.0, 16.0});
    tensor<double> r3(shape{1, 1, 1, 3});
    ops::resize<double>(row, r3.view());
    CHECK(r3[1] == doctest::Approx((2.0 / 3 + 4.0 + 8.0 / 3) / (5.0 / 3)));
    CHECK(r3[0] == doctest::Approx((1.0 + 2.0 * 2 / 3) / (5.0 / 3)));
    // Keys' a = -0.5 reproduces a ramp at the sampled positions, away from the clamped border
    // (another a does not, which the check also shows).
    tensor<double> ramp(shape{1, 1, 1, 10});
    for (index_t j = 0; j < 10; ++j) ramp[j] = 3.0 * double(j) - 1.0;
    for (const double a : {-0.5, -0.75}) {
        tensor<double> up(shape{1, 1, 1, 25});
        ops::resize<double>(ramp, up.view(), ops::resize_params{a});
        double worst = 0.0;
        for (index_t o = 0; o < 25; ++o) {
            const double src = (static_cast<double>(o) + 0.5) * 10.0 / 25.0 - 0.5;
            if (src < 1.0 || src > 8.0) continue;
            worst = std::max(worst, std::abs(up[o] - (3.0 * src - 1.0)));
        }
        if (a == -0.5)
            CHECK(worst <= 1e-12);
        else
            CHECK(worst > 1e-3);
    }
    // One enlargement against the formula: in 4 -> out 6, output 2 samples src = 2.5 * 4 / 6 - 0.5.
    const tensor<double> four(shape{1, 1, 1, 4}, {1.0, -2.0, 0.5, 3.0});
    tensor<double> six(shape{1, 1, 1, 6});
    ops::resize<double>(four, six.view());
    {
        const double src = 2.5 * 4.0 / 6.0 - 0.5;
        double expect = 0.0;
        for (index_t j = 0; j <= 3; ++j) expect += ops::resize_op::cubic(src - double(j), -0.5) * four[j];
        CHECK(six[2] == doctest::Approx(expect).epsilon(1e-14));
    }
    // Enlarging a constant keeps it everywhere (the clamped border included).
    const tensor<float> c(shape{1, 1, 3, 4}, 2.5f);
    tensor<float> cu(shape{1, 1, 7, 9});
    ops::resize<float>(c, cu.view());
    for (index_t i = 0; i < cu.numel(); ++i) CHECK(cu[i] == doctest::Approx(2.5f).epsilon(1e-6));
    // Equal size: bit-identical.
    tensor<double> same(x.shape());
    ops::resize<double>(x, same.view());
    CHECK(ref::max_abs_diff(same, x) == 0.0);
}

TEST_CASE("image filters name the op, the argument and both values on bad arguments") {
    const tensor<float> x(shape{1, 2, 5, 6});
    tensor<float> wrong(shape{1, 2, 6, 5});
    CHECK(message_of([&] { ops::sobel<float>(x, wrong.view(), core::view<float>{}); }) ==
          "ops::sobel: expected gx of shape [1, 2, 5, 6] (the shape of x), found gx of shape [1, 2, 6, 5]");
    CHECK(message_of([&] { ops::binomial_lowpass<float>(x, wrong.view()); }) ==
          "ops::binomial_lowpass: expected y of shape [1, 2, 5, 6] (the shape of x), found y of shape [1, 2, 6, 5]");
    tensor<float> y(x.shape());
    CHECK(message_of([&] { ops::exp2_blur<float>(x, y.view(), 0.0); }) ==
          "ops::exp2_blur: expected sigma > 0, found sigma 0.000000");
    CHECK(message_of([&] { ops::gaussian_blur_backward<float>(x, y.view(), grad_mode::assign, -1.0); }) ==
          "ops::gaussian_blur_backward: expected sigma > 0, found sigma -1.000000");
    tensor<float> other(shape{1, 3, 4, 4});
    CHECK(message_of([&] { ops::resize<float>(x, other.view()); }) ==
          "ops::resize: expected y with the batch and channels of x [1, 2, 5, 6], found y of shape [1, 3, 4, 4]");
    const tensor<float> flat(shape{5, 6});
    tensor<float> flat_out(shape{5, 6});
    CHECK(message_of([&] { ops::sobel_magnitude<float>(flat, flat_out.view()); }) ==
          "ops::sobel_magnitude: expected x of rank 4 [N, C, H, W], found x of shape [5, 6]");
    CHECK_NOTHROW(ops::resize_backward<float>(other, core::view<float>{}, grad_mode::none));
}
