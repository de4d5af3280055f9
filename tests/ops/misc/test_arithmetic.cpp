// ops/arithmetic.hpp: closed forms, aliasing, gradients (each input under its own mode) and the
// tangent rules: the linear ops' tangents are the ops themselves, mul's are the product rule.

#include <functional>
#include <utility>

#include <imbdef/ops/arithmetic.hpp>

#include "support.hpp"

using namespace misc_test;

namespace {

const shape shapes[] = {shape{1}, shape{7}, shape{3, 4, 5}, shape{2, 3, 5, 4}, shape{3, 40001}};
const shape checked_shapes[] = {shape{1}, shape{7}, shape{3, 4, 5}, shape{2, 3, 5, 4}};

constexpr double alpha = 0.75, beta = -1.25, t = 0.3;

using binary_forward = std::function<void(const_view<double>, const_view<double>, core::view<double>)>;
using binary_backward = std::function<void(const_view<double>, const_view<double>, const_view<double>,
                                           core::view<double>, grad_mode, core::view<double>, grad_mode)>;

// A binary op as a second-order problem: a is data and b a parameter, so that the checker drives
// the two gradient modes independently. Linear ops take their tangent rules from forward and
// backward themselves; mul passes its own.
tst::second_order_problem binary_problem(const shape& s, std::uint64_t stream, binary_forward fwd,
                                         binary_backward bwd) {
    tst::second_order_problem p;
    p.add_data("a", normal_tensor<double>(s, stream)).add_parameter("b", normal_tensor<double>(s, stream + 1000));
    p.forward = [fwd](tst::input_views in) {
        tensor<double> y(in[0].shape());
        fwd(in[0], in[1], y.view());
        return y;
    };
    p.backward = [bwd](tst::input_views in, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode pm) {
        bwd(in[0], in[1], dy, dx[0], dm, dx[1], pm);
    };
    p.forward_tangent = [fwd](tst::input_views, tst::input_views dot) {
        tensor<double> y_dot(dot[0].shape());
        fwd(dot[0], dot[1], y_dot.view());
        return y_dot;
    };
    p.backward_tangent = [bwd](tst::input_views in, tst::input_views, const_view<double> dy,
                               const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
        bwd(in[0], in[1], dy, dx[0], grad_mode::assign, dx[1], grad_mode::assign);
        bwd(in[0], in[1], dy_dot, dx_dot[0], grad_mode::assign, dx_dot[1], grad_mode::assign);
    };
    return p;
}

struct named_op {
    const char* name;
    binary_forward fwd;
    binary_backward bwd;
    double (*closed)(double, double);
};

std::vector<named_op> linear_ops() {
    return {
        {"add", [](auto a, auto b, auto y) { ops::add(a, b, y); },
         [](auto, auto, auto dy, auto da, auto ma, auto db, auto mb) { ops::add_backward(dy, da, ma, db, mb); },
         [](double a, double b) { return a + b; }},
        {"sub", [](auto a, auto b, auto y) { ops::sub(a, b, y); },
         [](auto, auto, auto dy, auto da, auto ma, auto db, auto mb) { ops::sub_backward(dy, da, ma, db, mb); },
         [](double a, double b) { return a - b; }},
        {"axpby", [](auto a, auto b, auto y) { ops::axpby(alpha, a, beta, b, y); },
         [](auto, auto, auto dy, auto da, auto ma, auto db, auto mb) {
             ops::axpby_backward(alpha, beta, dy, da, ma, db, mb);
         },
         [](double a, double b) { return alpha * a + beta * b; }},
        {"lerp", [](auto a, auto b, auto y) { ops::lerp(a, b, t, y); },
         [](auto, auto, auto dy, auto da, auto ma, auto db, auto mb) { ops::lerp_backward(t, dy, da, ma, db, mb); },
         [](double a, double b) { return a + t * (b - a); }},
    };
}

}  // namespace

TEST_CASE_TEMPLATE("arithmetic forward equals the closed forms, also in place", T, float, double) {
    for (const auto& s : shapes) {
        CAPTURE(s.to_string());
        const tensor<T> a = normal_tensor<T>(s, 1), b = normal_tensor<T>(s, 2);
        tensor<T> y(s);
        auto check = [&](const char* what, auto&& run, auto&& closed) {
            CAPTURE(what);
            run(y.view());
            index_t bad = 0;
            for (index_t i = 0; i < y.numel(); ++i) bad += y[i] != closed(a[i], b[i]);
            CHECK(bad == 0);
        };
        check("add", [&](auto v) { ops::add(a, b, v); }, [](T p, T q) { return p + q; });
        check("sub", [&](auto v) { ops::sub(a, b, v); }, [](T p, T q) { return p - q; });
        check("mul", [&](auto v) { ops::mul(a, b, v); }, [](T p, T q) { return p * q; });
        check("scale", [&](auto v) { ops::scale(a, alpha, v); }, [](T p, T) { return T(alpha) * p; });
        check("axpby", [&](auto v) { ops::axpby(alpha, a, beta, b, v); },
              [](T p, T q) { return T(alpha) * p + T(beta) * q; });
        check("lerp", [&](auto v) { ops::lerp(a, b, t, v); }, [](T p, T q) { return p + T(t) * (q - p); });

        tensor<T> in_place = a.clone();
        ops::mul(in_place, b, in_place.view());
        index_t bad = 0;
        for (index_t i = 0; i < a.numel(); ++i) bad += in_place[i] != a[i] * b[i];
        CHECK(bad == 0);
    }
}

TEST_CASE("lerp is exactly a at t = 0") {
    const tensor<double> a = normal_tensor<double>(shape{100}, 3), b = normal_tensor<double>(shape{100}, 4);
    tensor<double> y(a.shape());
    ops::lerp(a, b, 0.0, y.view());
    for (index_t i = 0; i < a.numel(); ++i) CHECK(y[i] == a[i]);
}

TEST_CASE("linear arithmetic: gradients, and tangent rules that are the ops themselves") {
    std::uint64_t stream = 10;
    for (const auto& op : linear_ops()) {
        CAPTURE(op.name);
        for (const auto& s : checked_shapes) {
            CAPTURE(s.to_string());
            const auto p = binary_problem(s, stream++, op.fwd, op.bwd);
            const auto r1 = tst::check_gradients(p);
            CHECK_MESSAGE(r1.ok, r1.to_string());
            const auto r2 = tst::check_second_order(p);
            CHECK_MESSAGE(r2.ok, r2.to_string());
        }
    }
}

TEST_CASE("scale: gradient and tangent rules") {
    std::uint64_t stream = 40;
    for (const auto& s : checked_shapes) {
        CAPTURE(s.to_string());
        tst::second_order_problem p;
        p.add_data("x", normal_tensor<double>(s, stream++));
        p.forward = [](tst::input_views in) {
            tensor<double> y(in[0].shape());
            ops::scale(in[0], alpha, y.view());
            return y;
        };
        p.backward = [](tst::input_views, const_view<double> dy, tst::grad_views dx, grad_mode dm, grad_mode) {
            ops::scale_backward(dy, alpha, dx[0], dm);
        };
        p.forward_tangent = [](tst::input_views, tst::input_views dot) {
            tensor<double> y(dot[0].shape());
            ops::scale(dot[0], alpha, y.view());
            return y;
        };
        p.backward_tangent = [](tst::input_views, tst::input_views, const_view<double> dy, const_view<double> dy_dot,
                                tst::grad_views dx, tst::grad_views dx_dot) {
            ops::scale_backward(dy, alpha, dx[0], grad_mode::assign);
            ops::scale_backward(dy_dot, alpha, dx_dot[0], grad_mode::assign);
        };
        const auto r1 = tst::check_gradients(p);
        CHECK_MESSAGE(r1.ok, r1.to_string());
        const auto r2 = tst::check_second_order(p);
        CHECK_MESSAGE(r2.ok, r2.to_string());
    }
}

TEST_CASE("mul: gradient and the bilinear tangent rules") {
    std::uint64_t stream = 60;
    for (const auto& s : checked_shapes) {
        CAPTURE(s.to_string());
        auto p = binary_problem(
            s, stream++, [](auto a, auto b, auto y) { ops::mul(a, b, y); },
            [](auto a, auto b, auto dy, auto da, auto ma, auto db, auto mb) {
                ops::mul_backward(a, b, dy, da, ma, db, mb);
            });
        p.forward_tangent = [](tst::input_views in, tst::input_views dot) {
            tensor<double> y_dot(in[0].shape());
            ops::mul_forward_tangent(in[0], in[1], dot[0], dot[1], y_dot.view());
            return y_dot;
        };
        p.backward_tangent = [](tst::input_views in, tst::input_views dot, const_view<double> dy,
                                const_view<double> dy_dot, tst::grad_views dx, tst::grad_views dx_dot) {
            ops::mul_backward(in[0], in[1], dy, dx[0], grad_mode::assign, dx[1], grad_mode::assign);
            ops::mul_backward_tangent(in[0], in[1], dot[0], dot[1], dy, dy_dot, dx_dot[0], grad_mode::assign,
                                      dx_dot[1], grad_mode::assign);
        };
        const auto r1 = tst::check_gradients(p);
        CHECK_MESSAGE(r1.ok, r1.to_string());
        const auto r2 = tst::check_second_order(p);
        CHECK_MESSAGE(r2.ok, r2.to_string());
        tst::second_order_options r1_like;
        r1_like.perturb_parameters = false;
        const auto r3 = tst::check_second_order(p, r1_like);
        CHECK_MESSAGE(r3.ok, r3.to_string());
    }
}

TEST_CASE("arithmetic rejects mismatched shapes, naming the op, the argument and both shapes") {
    const tensor<float> a(shape{2, 3});
    const tensor<float> wrong(shape{3, 2});
    tensor<float> y(shape{2, 3});
    CHECK(message_of([&] { ops::add(a, wrong, y.view()); }) ==
          "ops::add: expected b of shape [2, 3] (the shape of a), found b of shape [3, 2]");
    tensor<float> y_wrong(shape{6});
    CHECK(message_of([&] { ops::lerp(a, a, 0.5, y_wrong.view()); }) ==
          "ops::lerp: expected y of shape [2, 3] (the shape of a), found y of shape [6]");
    tensor<float> g(shape{2, 3}), g_wrong(shape{3, 2});
    CHECK(message_of([&] { ops::mul_backward(a, a, a, g.view(), grad_mode::assign, g_wrong.view(), grad_mode::assign); }) ==
          "ops::mul_backward: expected db of shape [2, 3] (the shape of a), found db of shape [3, 2]");
    // Under none the buffer is not checked and may be empty.
    CHECK_NOTHROW(ops::mul_backward(a, a, a, g.view(), grad_mode::assign, core::view<float>{}, grad_mode::none));
    CHECK_NOTHROW(ops::add_backward(a, core::view<float>{}, grad_mode::none, g.view(), grad_mode::accumulate));
}
