// ops::conv2d: the three primitives against the definition (float and double, including the
// discriminator's and generator's layer shapes at a small batch), gradients against finite
// differences with the gradient contract, the tangent rules of R1, and argument errors.

#include <doctest/doctest.h>

#include <type_traits>

#include <imbdef/ops/conv2d.hpp>
#include <imbdef/testing.hpp>

#include "dense_support.hpp"

using namespace dense_test;
using imbdef::core::const_view;
using imbdef::core::grad_mode;
using imbdef::core::view;
namespace ops = imbdef::ops;
namespace tst = imbdef::testing;

namespace {

struct case_t {
    index_t n, c, h, w, o, kh, kw, stride, pad;
    imbdef::ops::conv_geometry geometry() const {
        return imbdef::ops::conv_geometry::make(n, c, h, w, o, kh, kw, stride, pad, pad);
    }
    ops::conv2d_params params() const { return {stride, pad}; }
};

// Small shapes for the finite-difference checks: odd sizes, batch 1, every stride and padding
// the networks use, a negative padding (a crop), a non-square kernel.
const case_t small_cases[] = {
    {2, 3, 5, 6, 4, 3, 3, 1, 1}, {1, 2, 7, 5, 3, 3, 3, 2, 0}, {2, 3, 4, 4, 2, 1, 1, 1, 0},
    {1, 2, 6, 6, 2, 3, 3, 1, -1}, {2, 2, 5, 5, 3, 3, 3, 1, 2}, {1, 3, 7, 6, 2, 3, 2, 2, 1},
    {3, 2, 9, 8, 2, 3, 3, 3, 1},
};

// Larger shapes: the layers of the cpu64 / lite128 networks at batch 2 (discriminator 3x3 pad 1,
// 3x3 stride 2 after the blur, 1x1; generator 3x3 pad 2; ToRGB- and fromRGB-like 1x1 layers with
// few outputs or inputs), plus blocking edges (reductions and rows beyond one block, many columns
// per sample).
const case_t layer_cases[] = {
    {2, 3, 32, 32, 64, 1, 1, 1, 0},    {2, 64, 16, 16, 64, 3, 3, 1, 1},  {2, 64, 17, 17, 128, 3, 3, 2, 0},
    {2, 128, 8, 8, 128, 1, 1, 1, 0},   {2, 129, 4, 4, 128, 3, 3, 1, 1},  {2, 128, 9, 9, 128, 3, 3, 2, 0},
    {2, 128, 12, 12, 64, 3, 3, 1, 2},  {2, 64, 20, 20, 64, 3, 3, 1, 2},  {1, 140, 6, 7, 150, 3, 3, 1, 1},
    {2, 5, 40, 37, 7, 3, 3, 1, 1},     {3, 16, 4, 4, 30, 3, 3, 1, 1},    {2, 7, 1, 1, 5, 3, 3, 1, 1},
    {2, 64, 16, 13, 3, 1, 1, 1, 0},    {3, 4, 9, 30, 40, 1, 1, 1, 0},
};

template <class T>
void check_op(const case_t& k, const conv_reference::all_t& ref, const tensor<double>& db_ref, const tensor<double>& x,
              const tensor<double>& w, const tensor<double>& b, const tensor<double>& dy, double tol) {
    const tensor<T> xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(b), dyt = cast<T>(dy);
    const auto p = k.params();
    tensor<T> y(dy.shape());
    ops::conv2d<T, imbdef::core::cpu>(xt, wt, bt, y.view(), p);
    tensor<double> y_ref = ref.y.clone();
    for (index_t i = 0; i < y_ref.numel(); ++i) y_ref[i] += b[i / (dy.size(2) * dy.size(3)) % k.o];
    CHECK(rel_error(y, y_ref) < tol);
    for (grad_mode m : {grad_mode::assign, grad_mode::accumulate}) {
        CAPTURE(imbdef::core::to_string(m));
        const T before = m == grad_mode::assign ? T(0) : T(2);
        tensor<T> dx(x.shape(), before), dw(w.shape(), before), db(b.shape(), before);
        ops::conv2d_backward<T, imbdef::core::cpu>(xt, wt, dyt, dx.view(), dw.view(), db.view(), m, m, p);
        for (auto* t : {&dx, &dw, &db})
            for (T& v : *t) v -= before;
        CHECK(rel_error(dx, ref.dx) < tol);
        CHECK(rel_error(dw, ref.dw) < tol);
        CHECK(rel_error(db, db_ref) < tol);
    }
}

// float and double against one evaluation of the definition.
void check_against_definition(const case_t& k) {
    const auto g = k.geometry();
    CAPTURE(k.n);
    CAPTURE(k.c);
    CAPTURE(k.h);
    CAPTURE(k.w);
    CAPTURE(k.o);
    CAPTURE(k.kh);
    CAPTURE(k.stride);
    CAPTURE(k.pad);
    const tensor<double> x = normal<double>(shape{g.n, g.c, g.h, g.w}, 1), w = normal<double>(shape{g.o, g.c, g.kh, g.kw}, 2),
                         b = normal<double>(shape{g.o}, 3), dy = normal<double>(shape{g.n, g.o, g.oh, g.ow}, 4);
    const conv_reference::all_t ref = conv_reference{g}.all(x, w, dy);
    tensor<double> db_ref(shape{g.o});
    for (index_t i = 0; i < dy.numel(); ++i) db_ref[i / (g.oh * g.ow) % g.o] += dy[i];
    check_op<double>(k, ref, db_ref, x, w, b, dy, 1e-13);
    check_op<float>(k, ref, db_ref, x, w, b, dy, 2e-6);
}

tst::second_order_problem conv_problem(const case_t& k, bool bias, std::uint64_t seed) {
    const auto g = k.geometry();
    const auto p = k.params();
    const shape ys{g.n, g.o, g.oh, g.ow};
    tst::second_order_problem prob;
    prob.add_data("x", tst::random_tensor({g.n, g.c, g.h, g.w}, seed))
        .add_parameter("w", tst::random_tensor({g.o, g.c, g.kh, g.kw}, seed + 1));
    if (bias) prob.add_parameter("b", tst::random_tensor({g.o}, seed + 2));
    auto opt = [bias](auto list, std::size_t i) {
        using V = std::remove_cvref_t<decltype(list[i])>;
        return bias ? V(list[i]) : V{};
    };
    prob.forward = [p, ys, opt](tst::input_views in) {
        tensor<double> y(ys);
        ops::conv2d<double, imbdef::core::cpu>(in[0], in[1], opt(in, 2), y.view(), p);
        return y;
    };
    prob.backward = [p, opt](tst::input_views in, const_view<double> dy, tst::grad_views d, grad_mode dm, grad_mode pm) {
        ops::conv2d_backward<double, imbdef::core::cpu>(in[0], in[1], dy, d[0], d[1], opt(d, 2), dm, pm, p);
    };
    prob.forward_tangent = [p, ys, opt](tst::input_views in, tst::input_views dot) {
        tensor<double> y_dot(ys);
        ops::conv2d_forward_tangent<double, imbdef::core::cpu>(in[0], in[1], dot[0], dot[1], opt(dot, 2), y_dot.view(), p);
        return y_dot;
    };
    prob.backward_tangent = [p, opt](tst::input_views in, tst::input_views dot, const_view<double> dy,
                                     const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        ops::conv2d_backward<double, imbdef::core::cpu>(in[0], in[1], dy, dx[0], dx[1], opt(dx, 2), grad_mode::assign,
                                                        grad_mode::assign, p);
        ops::conv2d_backward_tangent<double, imbdef::core::cpu>(in[0], in[1], dot[0], dot[1], dy, dy_dot, dx_dot[0],
                                                                dx_dot[1], opt(dx_dot, 2), grad_mode::assign,
                                                                grad_mode::assign, p);
    };
    return prob;
}

}  // namespace

TEST_CASE("conv2d, its data, weight and bias gradients equal the definition (float and double)") {
    for (const auto& k : small_cases) check_against_definition(k);
    for (const auto& k : layer_cases) check_against_definition(k);
}

TEST_CASE("conv2d equals the definition whatever the thread count (work split by samples or by rows)") {
    const int threads = imbdef::core::num_threads();
    for (int t : {1, 3, 5}) {
        CAPTURE(t);
        imbdef::core::set_num_threads(t);
        for (const case_t& k : {case_t{1, 6, 9, 7, 5, 3, 3, 1, 1}, case_t{2, 5, 11, 10, 4, 3, 3, 2, 0},
                                case_t{4, 3, 6, 6, 7, 3, 3, 1, 2}})
            check_against_definition(k);
    }
    imbdef::core::set_num_threads(threads);
}

TEST_CASE("conv2d gradients against finite differences and the gradient contract") {
    std::uint64_t seed = 10;
    for (const auto& k : small_cases)
        for (bool bias : {true, false}) {
            CAPTURE(k.h);
            CAPTURE(k.stride);
            CAPTURE(k.pad);
            CAPTURE(bias);
            const tst::check_report r = tst::check_gradients(conv_problem(k, bias, seed += 3));
            CHECK_MESSAGE(r.ok, r.to_string());
        }
}

TEST_CASE("conv2d tangent rules (R1) against central differences") {
    std::uint64_t seed = 100;
    for (const auto& k : small_cases)
        for (bool perturb : {true, false}) {
            CAPTURE(k.h);
            CAPTURE(k.stride);
            CAPTURE(k.pad);
            CAPTURE(perturb);
            const tst::check_report r =
                tst::check_second_order(conv_problem(k, true, seed += 3), {.perturb_parameters = perturb});
            CHECK_MESSAGE(r.ok, r.to_string());
        }
}

TEST_CASE("conv2d tangents with empty parameter tangents equal zero parameter tangents (float)") {
    const case_t k{2, 16, 9, 9, 24, 3, 3, 2, 0};
    const auto g = k.geometry();
    const auto p = k.params();
    const tensor<float> x = normal<float>(shape{g.n, g.c, g.h, g.w}, 1), w = normal<float>(shape{g.o, g.c, 3, 3}, 2),
                        x_dot = normal<float>(x.shape(), 3), dy = normal<float>(shape{g.n, g.o, g.oh, g.ow}, 4),
                        dy_dot = normal<float>(dy.shape(), 5);
    const tensor<float> zw(w.shape()), zb(shape{g.o});
    tensor<float> a(dy.shape()), b(dy.shape());
    ops::conv2d_forward_tangent<float, imbdef::core::cpu>(x, w, x_dot, {}, {}, a.view(), p);
    ops::conv2d_forward_tangent<float, imbdef::core::cpu>(x, w, x_dot, zw, zb, b.view(), p);
    CHECK(rel_error(a, b) == 0.0);
    tensor<float> dxa(x.shape()), dwa(w.shape()), dxb(x.shape()), dwb(w.shape()), db(shape{g.o});
    ops::conv2d_backward_tangent<float, imbdef::core::cpu>(x, w, x_dot, {}, dy, dy_dot, dxa.view(), dwa.view(), {},
                                                           grad_mode::assign, grad_mode::assign, p);
    ops::conv2d_backward_tangent<float, imbdef::core::cpu>(x, w, x_dot, zw, dy, dy_dot, dxb.view(), dwb.view(),
                                                           db.view(), grad_mode::assign, grad_mode::assign, p);
    CHECK(rel_error(dxa, dxb) < 1e-6);
    CHECK(rel_error(dwa, dwb) == 0.0);
}

TEST_CASE("conv2d backward pieces leave buffers under none untouched and accept them empty") {
    const case_t k{2, 3, 6, 6, 4, 3, 3, 1, 1};
    const auto p = k.params();
    const tensor<float> x = normal<float>(shape{2, 3, 6, 6}, 1), w = normal<float>(shape{4, 3, 3, 3}, 2),
                        dy = normal<float>(shape{2, 4, 6, 6}, 3);
    tensor<float> dx(x.shape(), 5.0f), dw(w.shape(), 5.0f);
    ops::conv2d_backward<float, imbdef::core::cpu>(x, w, dy, dx.view(), view<float>{}, view<float>{}, grad_mode::none,
                                                   grad_mode::none, p);
    for (float v : dx) CHECK(v == 5.0f);
    ops::conv2d_backward_data<float, imbdef::core::cpu>(dy, w, view<float>{}, grad_mode::none, p);
    ops::conv2d_backward_weight<float, imbdef::core::cpu>(x, dy, view<float>{}, grad_mode::none, p);
    ops::conv2d_backward_bias<float, imbdef::core::cpu>(dy, view<float>{}, grad_mode::none);
    ops::conv2d_backward<float, imbdef::core::cpu>(x, w, dy, view<float>{}, dw.view(), view<float>{}, grad_mode::none,
                                                   grad_mode::assign, p);
    const tensor<double> dw_ref = conv_reference{k.geometry()}.weight_grad(cast<double>(x), cast<double>(dy));
    CHECK(rel_error(dw, dw_ref) < 1e-6);
}

TEST_CASE("conv2d of an empty batch: an empty output, zero parameter gradients") {
    const tensor<float> x(shape{0, 3, 5, 5}), w = normal<float>(shape{2, 3, 3, 3}, 1);
    tensor<float> y(shape{0, 2, 5, 5}), dw(w.shape(), 7.0f), db(shape{2}, 7.0f);
    ops::conv2d<float, imbdef::core::cpu>(x, w, {}, y.view(), {1, 1});
    ops::conv2d_backward<float, imbdef::core::cpu>(x, w, y, view<float>{}, dw.view(), db.view(), grad_mode::none,
                                                   grad_mode::assign, {1, 1});
    for (float v : dw) CHECK(v == 0.0f);
    for (float v : db) CHECK(v == 0.0f);
}

TEST_CASE("conv2d names the op, the argument and both shapes") {
    const tensor<float> x(shape{2, 3, 8, 8}), w(shape{4, 3, 3, 3}), wbad(shape{4, 5, 3, 3}), b(shape{3});
    tensor<float> y(shape{2, 4, 8, 8}), ybad(shape{2, 4, 6, 6});
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x, wbad, {}, y.view(), {1, 1}); }) ==
          "ops::conv2d: expected w of shape [O, 3, KH, KW] (the channels of x of shape [2, 3, 8, 8]), found w of shape "
          "[4, 5, 3, 3]");
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x, w, {}, ybad.view(), {1, 1}); }) ==
          "ops::conv2d: expected y of shape [2, 4, 8, 8] (the shape of conv(x, w)), found y of shape [2, 4, 6, 6]");
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x, w, b, y.view(), {1, 1}); }) ==
          "ops::conv2d: expected b of shape [4] (the shape of the output channels of w), found b of shape [3]");
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x, w, {}, y.view(), {0, 1}); }) ==
          "ops::conv2d: expected stride >= 1, found stride 0");
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x, w, {}, y.view(), {1, -3}); }) ==
          "ops::conv2d: expected a kernel that fits the padded input (output extent >= 1), found x of shape [2, 3, 8, "
          "8], w of shape [4, 3, 3, 3], padding -3, stride 1");
    const tensor<float> x3(shape{3, 8, 8});
    CHECK(message_of([&] { ops::conv2d<float, imbdef::core::cpu>(x3, w, {}, y.view(), {1, 1}); }) ==
          "ops::conv2d: expected x of rank 4 ([N, C, H, W]), found x of shape [3, 8, 8]");
    tensor<float> dx(shape{2, 3, 8, 8});
    CHECK(message_of([&] {
              ops::conv2d_backward_data<float, imbdef::core::cpu>(ybad, w, dx.view(), grad_mode::assign, {1, 1});
          }) == "ops::conv2d_backward_data: expected dy of shape [2, 4, 8, 8] (the shape of conv(dx, w)), found dy of "
                "shape [2, 4, 6, 6]");
}
