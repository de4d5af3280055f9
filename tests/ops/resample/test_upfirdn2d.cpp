// ops::upfirdn2d: the definition (zeros after each sample, floor-division sizes, flip, gain,
// negative pads), the adjoint identity of the backward, the gradient and second-order checkers,
// the gradient contract and the argument checks.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/fir.hpp>
#include <imbdef/ops/upfirdn2d.hpp>
#include <imbdef/testing.hpp>

#include "reference.hpp"
#include "../../support/heap_counter.hpp"

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;
using ops::upfirdn2d_params;
namespace ref = resample_test;
namespace tst = imbdef::testing;

namespace {

struct config {
    shape x;
    shape f;
    upfirdn2d_params p;
};

std::string describe(const config& c) {
    const auto& p = c.p;
    return "x " + c.x.to_string() + " f " + c.f.to_string() + " up " + std::to_string(p.up_x) + "/" +
           std::to_string(p.up_y) + " down " + std::to_string(p.down_x) + "/" + std::to_string(p.down_y) + " pad [" +
           std::to_string(p.pad_x0) + ", " + std::to_string(p.pad_x1) + ", " + std::to_string(p.pad_y0) + ", " +
           std::to_string(p.pad_y1) + "] gain " + std::to_string(p.gain) + (p.flip_filter ? " flip" : "");
}

// Every combination the generator and discriminator use, and awkward ones: factors 1, 2, 4 set
// independently per axis, pads of both signs, odd sizes, separable and 2-D filters of odd and
// even length, flip and gain.
std::vector<config> configs() {
    std::vector<config> out;
    const int factors[] = {1, 2, 4};
    int i = 0;
    for (int ux : factors)
        for (int uy : factors)
            for (int dx : factors)
                for (int dy : factors) {
                    ++i;
                    const index_t taps = 1 + (i % 7);
                    const bool two_d = i % 3 == 0;
                    const shape f = two_d ? shape{taps, 1 + ((i + 2) % 5)} : shape{taps};
                    const index_t fy = f[0], fx = two_d ? f[1] : f[0];
                    upfirdn2d_params p{ux, uy, dx, dy, 0, 0, 0, 0, 1.0, i % 4 == 1};
                    // Pads from cropping to generous padding, chosen so the output is non-empty.
                    p.pad_x0 = (i % 5) - 2;
                    p.pad_x1 = fx - 1 + ((i * 7) % 5) - 2;
                    p.pad_y0 = fy - 1 - (i % 4);
                    p.pad_y1 = ((i * 3) % 6) - 2;
                    p.gain = i % 2 ? 1.0 : 1.5;
                    const shape x{1 + i % 2, 1 + i % 3, 3 + i % 6, 4 + (i * 5) % 7};
                    if (ops::detail::floor_divide(x[2] * uy + p.pad_y0 + p.pad_y1 - fy + dy, dy) < 1) continue;
                    if (ops::detail::floor_divide(x[3] * ux + p.pad_x0 + p.pad_x1 - fx + dx, dx) < 1) continue;
                    out.push_back({x, f, p});
                }
    // The StyleGAN3 layers (cpu64 / lite128 geometry, small channel counts) and the D filters.
    const auto fu12 = shape{12}, fu24 = shape{24};
    out.push_back({shape{1, 2, 38, 38}, fu12, upfirdn2d_params::uniform(2, 1, 9, 8, 9, 8, 4.0)});
    out.push_back({shape{1, 2, 38, 38}, fu24, upfirdn2d_params::uniform(4, 1, -6, -9, -6, -9, 16.0)});
    out.push_back({shape{2, 1, 82, 82}, fu12, upfirdn2d_params::uniform(1, 2, 0, 0, 0, 0)});
    out.push_back({shape{1, 1, 86, 86}, fu12, upfirdn2d_params::uniform(2, 1, -11, -12, -11, -12, 4.0)});
    out.push_back({shape{2, 3, 16, 16}, shape{4, 4}, upfirdn2d_params::uniform(1, 2, 1, 1, 1, 1)});
    out.push_back({shape{2, 3, 16, 16}, shape{4, 4}, upfirdn2d_params::uniform(1, 1, 2, 2, 2, 2)});
    out.push_back({shape{1, 2, 17, 13}, shape{12, 12}, upfirdn2d_params::uniform(1, 2, 0, 0, 0, 0)});
    // More planes than one tile holds (16 floats, 8 doubles), the last tile partly filled.
    out.push_back({shape{3, 7, 9, 10}, shape{6}, upfirdn2d_params{2, 4, 1, 2, 3, -1, 2, 0, 2.0, false}});
    out.push_back({shape{5, 4, 7, 8}, shape{3, 4}, upfirdn2d_params::uniform(2, 1, 1, 2, 2, 1)});
    out.push_back({shape{1, 17, 3, 40}, shape{24}, upfirdn2d_params::uniform(4, 2, -6, -9, 9, 11, 16.0)});
    return out;
}

tensor<double> filter_for(const shape& f, std::uint64_t stream) {
    tensor<double> t = ref::normal(f, stream);
    for (double& v : t) v += 0.25;  // not zero-mean, so a lost DC term shows
    return t;
}

template <class T>
tensor<T> run(const tensor<T>& x, const tensor<T>& f, const upfirdn2d_params& p) {
    tensor<T> y(ops::upfirdn2d_output_shape(x.shape(), f.shape(), p));
    ops::upfirdn2d<T>(x, f, y.view(), p);
    return y;
}

tensor<double> run_backward(const tensor<double>& dy, const tensor<double>& f, const shape& x,
                            const upfirdn2d_params& p) {
    tensor<double> dx(x);
    ops::upfirdn2d_backward<double>(dy, f, dx.view(), grad_mode::assign, p);
    return dx;
}

}  // namespace

TEST_CASE("upfirdn2d inserts the zeros after each sample: 1-D nearest upsampling by [1, 1]") {
    // x = [1, 2, 3] -> zero-stuffed [1, 0, 2, 0, 3, 0] -> pad [1, 0] -> conv [1, 1] -> [1, 1, 2, 2, 3, 3].
    const tensor<double> x(shape{1, 1, 1, 3}, {1.0, 2.0, 3.0});
    const tensor<double> f(shape{1, 2}, {1.0, 1.0});
    const auto p = upfirdn2d_params{2, 1, 1, 1, 1, 0, 0, 0};
    const tensor<double> y = run(x, f, p);
    REQUIRE(y.shape() == shape{1, 1, 1, 6});
    const double expected[] = {1, 1, 2, 2, 3, 3};
    for (index_t i = 0; i < 6; ++i) CHECK(y[i] == expected[i]);
}

TEST_CASE("upfirdn2d flip_filter = false is a true convolution") {
    // One input sample of 1 at position 0 with pad 2 before: the output is the filter reversed
    // under correlation, i.e. the filter itself under convolution.
    const tensor<double> x(shape{1, 1, 1, 1}, {1.0});
    const tensor<double> f(shape{1, 3}, {1.0, 2.0, 3.0});
    const tensor<double> conv = run(x, f, upfirdn2d_params{1, 1, 1, 1, 2, 2, 0, 0});
    const tensor<double> corr = run(x, f, upfirdn2d_params{1, 1, 1, 1, 2, 2, 0, 0, 1.0, true});
    REQUIRE(conv.numel() == 3);
    for (index_t i = 0; i < 3; ++i) {
        CHECK(conv[i] == f[i]);
        CHECK(corr[i] == f[2 - i]);
    }
}

TEST_CASE("upfirdn2d output size uses floor division, negative pads crop") {
    const tensor<double> x(shape{1, 1, 86, 86});
    const tensor<double> f(shape{12});
    // L13-style crop: 86 * 2 - 11 - 12 - 12 + 1 = 138 (reference section 8b, lite-64 L7).
    CHECK(ops::upfirdn2d_output_shape(x.shape(), f.shape(), upfirdn2d_params::uniform(2, 1, -11, -12, -11, -12)) ==
          shape{1, 1, 138, 138});
    // (7 + 0 + 0 - 4 + 2) // 2 = 2.
    CHECK(ops::upfirdn2d_output_shape(shape{1, 1, 7, 7}, shape{4, 4}, upfirdn2d_params::uniform(1, 2, 0, 0, 0, 0)) ==
          shape{1, 1, 2, 2});
    CHECK(ops::detail::floor_divide(-11, 2) == -6);
    CHECK(ops::detail::floor_modulo(-11, 2) == 1);
}

TEST_CASE("upfirdn2d equals its definition for every factor, pad sign and filter kind") {
    int k = 0;
    CHECK(configs().size() >= 70);
    for (const config& c : configs()) {
        CAPTURE(describe(c));
        const tensor<double> x = ref::normal(c.x, 100 + k);
        const tensor<double> f = filter_for(c.f, 200 + k);
        ++k;
        const tensor<double> expected = ref::upfirdn2d(x, f, c.p);
        const tensor<double> y = run(x, f, c.p);
        REQUIRE(y.shape() == expected.shape());
        CHECK(ref::max_abs_diff(y, expected) <= 1e-12 * (1.0 + ref::max_abs(expected)));

        const tensor<float> yf = run(ref::cast<float>(x), ref::cast<float>(f), c.p);
        double worst = 0.0;
        for (index_t i = 0; i < yf.numel(); ++i) worst = std::max(worst, std::abs(double(yf[i]) - expected[i]));
        CHECK(worst <= 1e-5 * (1.0 + ref::max_abs(expected)));
    }
}

TEST_CASE("upfirdn2d: a 2-D filter that is an outer product (run separably) still equals the 2-D definition") {
    const tensor<double> a = ref::normal(shape{5}, 1100), b = ref::normal(shape{3}, 1101);
    tensor<double> outer(shape{5, 3});
    for (index_t i = 0; i < 5; ++i)
        for (index_t j = 0; j < 3; ++j) outer(i, j) = a[i] * b[j];
    tensor<double> almost = outer.clone();
    almost(2, 1) += 1e-9;  // no longer rank 1: the 2-D path
    const tensor<double> x = ref::normal(shape{2, 9, 11, 12}, 1102);
    for (const auto& p : {upfirdn2d_params{2, 1, 1, 2, 3, 1, -1, 2, 1.5, false},
                          upfirdn2d_params::uniform(1, 2, 1, 1, 2, 2, 1.0, true)}) {
        for (const tensor<double>* f : {&outer, &almost}) {
            const tensor<double> expected = ref::upfirdn2d(x, *f, p);
            CHECK(ref::max_abs_diff(run(x, *f, p), expected) <= 1e-12 * (1.0 + ref::max_abs(expected)));
            const tensor<float> yf = run(ref::cast<float>(x), ref::cast<float>(*f), p);
            double worst = 0.0;
            for (index_t i = 0; i < yf.numel(); ++i) worst = std::max(worst, std::abs(double(yf[i]) - expected[i]));
            CHECK(worst <= 1e-5 * (1.0 + ref::max_abs(expected)));
        }
        // D's 4 x 4 blur filter from setup_filter.
        const tensor<double> f4 = ops::fir::setup_filter({1.0, 3.0, 3.0, 1.0});
        const tensor<double> e4 = ref::upfirdn2d(x, f4, p);
        CHECK(ref::max_abs_diff(run(x, f4, p), e4) <= 1e-13);
    }
}

TEST_CASE("upfirdn2d backward is the adjoint: <A x, y> = <x, A^T y>") {
    int k = 0;
    for (const config& c : configs()) {
        CAPTURE(describe(c));
        const tensor<double> x = ref::normal(c.x, 300 + k);
        const tensor<double> f = filter_for(c.f, 400 + k);
        const tensor<double> Ax = run(x, f, c.p);
        const tensor<double> y = ref::normal(Ax.shape(), 500 + k);
        ++k;
        const tensor<double> ATy = run_backward(y, f, c.x, c.p);
        const double lhs = ref::dot(Ax, y), rhs = ref::dot(x, ATy);
        CHECK(std::abs(lhs - rhs) <= 1e-11 * (1.0 + std::abs(lhs)));
    }
}

TEST_CASE("upfirdn2d backward follows the gradient contract and finite differences") {
    const config cases[] = {
        {shape{1, 1, 5, 7}, shape{4}, upfirdn2d_params::uniform(2, 1, 2, 1, 2, 1, 4.0)},
        {shape{2, 1, 6, 8}, shape{12}, upfirdn2d_params::uniform(4, 2, -6, -9, 5, 2)},
        {shape{1, 2, 7, 6}, shape{4, 4}, upfirdn2d_params::uniform(1, 2, 1, 1, 1, 1)},
        {shape{1, 1, 9, 8}, shape{3, 5}, upfirdn2d_params{2, 1, 4, 2, -1, 3, 1, -2, 0.7, true}},
    };
    int k = 0;
    for (const config& c : cases) {
        CAPTURE(describe(c));
        const tensor<double> f = filter_for(c.f, 600 + k);
        tst::gradient_problem prob;
        prob.add_data("x", ref::normal(c.x, 700 + k));
        ++k;
        const upfirdn2d_params p = c.p;
        prob.forward = [&f, p](tst::input_views in) {
            tensor<double> y(ops::upfirdn2d_output_shape(in[0].shape(), f.shape(), p));
            ops::upfirdn2d<double>(in[0], f, y.view(), p);
            return y;
        };
        prob.backward = [&f, p](tst::input_views, core::const_view<double> dy, tst::grad_views dx, grad_mode mode,
                                grad_mode) { ops::upfirdn2d_backward<double>(dy, f, dx[0], mode, p); };
        const auto r = tst::check_gradients(prob);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("upfirdn2d tangent rules: the op on x_dot, the backward on dy_dot") {
    const config cases[] = {
        {shape{1, 2, 5, 6}, shape{4, 4}, upfirdn2d_params::uniform(1, 2, 1, 1, 1, 1)},
        {shape{1, 1, 6, 5}, shape{6}, upfirdn2d_params{4, 2, 2, 1, -3, 2, 1, 0, 2.0, false}},
    };
    int k = 0;
    for (const config& c : cases) {
        CAPTURE(describe(c));
        const tensor<double> f = filter_for(c.f, 800 + k);
        tst::second_order_problem prob;
        prob.add_data("x", ref::normal(c.x, 900 + k));
        ++k;
        const upfirdn2d_params p = c.p;
        auto fwd = [&f, p](core::const_view<double> x) {
            tensor<double> y(ops::upfirdn2d_output_shape(x.shape(), f.shape(), p));
            ops::upfirdn2d<double>(x, f, y.view(), p);
            return y;
        };
        prob.forward = [fwd](tst::input_views in) { return fwd(in[0]); };
        prob.backward = [&f, p](tst::input_views, core::const_view<double> dy, tst::grad_views dx, grad_mode mode,
                                grad_mode) { ops::upfirdn2d_backward<double>(dy, f, dx[0], mode, p); };
        prob.forward_tangent = [fwd](tst::input_views, tst::input_views dot) { return fwd(dot[0]); };
        prob.backward_tangent = [&f, p](tst::input_views, tst::input_views, core::const_view<double> dy,
                                        core::const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
            ops::upfirdn2d_backward<double>(dy, f, dx[0], grad_mode::assign, p);
            ops::upfirdn2d_backward<double>(dy_dot, f, dx_dot[0], grad_mode::assign, p);
        };
        const auto r = tst::check_second_order(prob);
        CHECK_MESSAGE(r.ok, r.to_string());
    }
}

TEST_CASE("upfirdn2d results do not depend on the thread count") {
    const tensor<float> x = ref::cast<float>(ref::normal(shape{1, 3, 67, 71}, 1000));
    const tensor<float> f = ref::cast<float>(filter_for(shape{12}, 1001));
    const auto p = upfirdn2d_params::uniform(2, 1, 9, 8, 9, 8, 4.0);
    const int before = core::num_threads();
    core::set_num_threads(1);
    const tensor<float> one = run(x, f, p);
    core::set_num_threads(2);
    const tensor<float> two = run(x, f, p);
    core::set_num_threads(before);
    index_t differ = 0;
    for (index_t i = 0; i < one.numel(); ++i) differ += one[i] != two[i];
    CHECK(differ == 0);
}

TEST_CASE("upfirdn2d names the op, the argument and both values on bad arguments") {
    auto message_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const imbdef::error& e) {
            return e.what();
        }
        return "no imbdef::error";
    };
    const tensor<float> x(shape{1, 2, 8, 8});
    const tensor<float> f(shape{4});
    tensor<float> wrong(shape{1, 2, 8, 9});
    const auto p = upfirdn2d_params::uniform(1, 1, 2, 1, 2, 1);
    CHECK(message_of([&] { ops::upfirdn2d<float>(x, f, wrong.view(), p); }) ==
          "ops::upfirdn2d: expected y of shape [1, 2, 8, 8], found y of shape [1, 2, 8, 9]");
    const tensor<float> f3(shape{2, 2, 2});
    CHECK(message_of([&] { ops::upfirdn2d<float>(x, f3, wrong.view(), p); }) ==
          "ops::upfirdn2d: expected f of rank 1 [F] or 2 [Fy, Fx], non-empty, found f of shape [2, 2, 2]");
    CHECK(message_of([&] { ops::upfirdn2d_output_shape(x.shape(), f.shape(), upfirdn2d_params::uniform(0, 1, 0, 0, 0, 0)); }) ==
          "ops::upfirdn2d: expected up factors >= 1, found up_x 0, up_y 0");
    CHECK(message_of([&] { ops::upfirdn2d_output_shape(x.shape(), f.shape(), upfirdn2d_params::uniform(1, 1, -4, -4, 0, 0)); })
              .starts_with("ops::upfirdn2d: expected an output of positive size"));
    const tensor<float> flat(shape{8, 8});
    CHECK_THROWS_AS(ops::upfirdn2d_output_shape(flat.shape(), f.shape(), p), imbdef::error);
    tensor<float> dx(shape{1, 2, 8, 8});
    CHECK(message_of([&] { ops::upfirdn2d_backward<float>(wrong, f, dx.view(), grad_mode::assign, p); }) ==
          "ops::upfirdn2d_backward: expected dy of shape [1, 2, 8, 8] (the output shape for dx of shape [1, 2, 8, 8]), "
          "found dy of shape [1, 2, 8, 9]");
    CHECK_NOTHROW(ops::upfirdn2d_backward<float>(wrong, f, core::view<float>{}, grad_mode::none, p));
}

TEST_CASE("upfirdn2d forward and backward allocate nothing on the heap once warm (validation included)") {
    const auto x = testing::random_tensor({2, 3, 9, 9}, 1);
    core::tensor<double> f({4});
    for (core::index_t i = 0; i < 4; ++i) f[i] = 0.25;
    ops::upfirdn2d_params p = ops::upfirdn2d_params::uniform(2, 1, 2, 1, 2, 1, 4.0);
    core::tensor<double> y(ops::upfirdn2d_output_shape(x.shape(), f.shape(), p)), dx(x.shape());
    ops::upfirdn2d<double>(x.cview(), f.cview(), y.view(), p);  // warm: sizes the thread scratch
    ops::upfirdn2d_backward<double>(y.cview(), f.cview(), dx.view(), core::grad_mode::assign, p);
    const std::size_t before = imbdef_test::heap_allocations();
    ops::upfirdn2d<double>(x.cview(), f.cview(), y.view(), p);
    ops::upfirdn2d_backward<double>(y.cview(), f.cview(), dx.view(), core::grad_mode::assign, p);
    CHECK(imbdef_test::heap_allocations() == before);
}
