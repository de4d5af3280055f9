// Flat compile-time composition: names, access by index and name, contexts, and whole-chain
// gradients proven by the gradient checker.
#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/nn/repeat.hpp>
#include <imbdef/nn/residual.hpp>
#include <imbdef/nn/sequential.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;
using namespace imbdef::nn;
using core::grad_mode;
using core::index_t;

namespace {

// y = tanh(x W^T + b): [N, in] -> [N, out]. A small but real module for composition tests.
struct dense_tanh {
    dense_tanh(index_t in_features, index_t out_features) : in(in_features), out(out_features) {}

    index_t in = 0, out = 0;
    parameter_ref weight, bias;

    template <class T>
    struct context {
        core::const_view<T> x;
        core::tensor<T> y;
    };

    void declare(const registry& r) {
        weight = r.parameter("weight", {out, in}, initializer::normal(0, 0.5));
        bias = r.parameter("bias", {out}, initializer::uniform(-0.2, 0.2));
    }
    core::shape output_shape(const core::shape& s) const {
        IMBDEF_REQUIRE(s.rank() == 2 && s[1] == in, "dense_tanh", "[N, " + std::to_string(in) + "]", s.to_string());
        return {s[0], out};
    }
    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        const auto w = p[weight];
        const auto b = p[bias];
        for (index_t n = 0; n < x.size(0); ++n)
            for (index_t o = 0; o < out; ++o) {
                T acc = b[o];
                for (index_t i = 0; i < in; ++i) acc += x(n, i) * w(o, i);
                y(n, o) = std::tanh(acc);
            }
        ctx.x = x;
        ensure_shape(ctx.y, y.shape());
        core::copy(core::const_view<T>(y), ctx.y.view());
    }
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  grad_mode data_mode, grad_mode param_mode) const {
        const auto w = p[weight];
        const index_t batch = dy.size(0);
        core::tensor<T> dz(dy.shape());
        for (index_t k = 0; k < dz.numel(); ++k) dz[k] = dy[k] * (1 - ctx.y[k] * ctx.y[k]);
        if (data_mode != grad_mode::none)
            for (index_t n = 0; n < batch; ++n)
                for (index_t i = 0; i < in; ++i) {
                    T acc = 0;
                    for (index_t o = 0; o < out; ++o) acc += dz(n, o) * w(o, i);
                    core::store_grad(dx(n, i), acc, data_mode);
                }
        if (param_mode != grad_mode::none) {
            const auto dw = g[weight];
            const auto db = g[bias];
            for (index_t o = 0; o < out; ++o) {
                T acc_b = 0;
                for (index_t n = 0; n < batch; ++n) acc_b += dz(n, o);
                core::store_grad(db[o], acc_b, param_mode);
                for (index_t i = 0; i < in; ++i) {
                    T acc = 0;
                    for (index_t n = 0; n < batch; ++n) acc += dz(n, o) * ctx.x(n, i);
                    core::store_grad(dw(o, i), acc, param_mode);
                }
            }
        }
    }
};

// dense_tanh whose weight gradient misses the tanh derivative: wrong, but only for the weight.
struct wrong_weight_grad : dense_tanh {
    wrong_weight_grad(index_t i, index_t o) : dense_tanh(i, o) {}
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  grad_mode data_mode, grad_mode param_mode) const {
        dense_tanh::backward(p, ctx, dy, dx, g, data_mode, param_mode);
        if (param_mode == grad_mode::none) return;
        const auto dw = g[weight];
        for (index_t o = 0; o < out; ++o)
            for (index_t i = 0; i < in; ++i) {
                T acc = 0;
                for (index_t n = 0; n < dy.size(0); ++n) acc += dy(n, o) * ctx.x(n, i);
                if (param_mode == grad_mode::assign) dw(o, i) = acc;
            }
    }
};

core::tensor<double> input(index_t n, index_t c) { return testing::random_tensor({n, c}, 99); }

}  // namespace

TEST_CASE("sequential: names, access by index and by name, output shape") {
    using net = sequential<named<"fc0", dense_tanh>, named<"fc1", dense_tanh>, dense_tanh>;
    net s(dense_tanh(4, 6), dense_tanh(6, 5), dense_tanh(5, 3));
    parameter_layout layout;
    s.declare(registry(layout).scope("mapping"));
    CHECK(layout.find("mapping.fc0.weight").has_value());
    CHECK(layout.find("mapping.fc1.bias").has_value());
    CHECK(layout.find("mapping.2.weight").has_value());  // unnamed children are named by index
    CHECK(s.get<"fc1">().out == 5);
    CHECK(s.get<2>().in == 5);
    CHECK(s.output_shape({7, 4}) == core::shape{7, 3});
    CHECK_THROWS_WITH_AS(s.output_shape({7, 5}), doctest::Contains("dense_tanh"), imbdef::error);
    CHECK(layout.count(tensor_role::parameter) == (6 * 4 + 6) + (5 * 6 + 5) + (3 * 5 + 3));
}

TEST_CASE("sequential: gradients of the whole chain, for the input and every parameter") {
    using net = sequential<named<"fc0", dense_tanh>, named<"fc1", dense_tanh>, named<"fc2", dense_tanh>>;
    const net s(dense_tanh(3, 5), dense_tanh(5, 4), dense_tanh(4, 2));
    const auto r = testing::check_gradients(testing::module_problem(s, input(3, 3)));
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("sequential of one child, and a chain of chains") {
    const sequential<dense_tanh> one(dense_tanh(2, 3));
    const auto r1 = testing::check_gradients(testing::module_problem(one, input(2, 2)));
    CHECK_MESSAGE(r1.ok, r1.to_string());

    using inner = sequential<dense_tanh, dense_tanh>;
    const sequential<named<"a", inner>, named<"b", inner>> nested(inner(dense_tanh(2, 3), dense_tanh(3, 3)),
                                                              inner(dense_tanh(3, 2), dense_tanh(2, 2)));
    const auto r2 = testing::check_gradients(testing::module_problem(nested, input(2, 2)));
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("repeat: runtime count, per-copy configuration, prefixed names, gradients") {
    repeat<dense_tanh, "L"> stack({dense_tanh(3, 4), dense_tanh(4, 4), dense_tanh(4, 2)});
    parameter_layout layout;
    stack.declare(registry(layout).scope("synthesis"));
    CHECK(layout.find("synthesis.L2.weight").has_value());
    CHECK(stack.output_shape({5, 3}) == core::shape{5, 2});
    const auto r = testing::check_gradients(testing::module_problem(stack, input(2, 3)));
    CHECK_MESSAGE(r.ok, r.to_string());
    CHECK_THROWS_AS(repeat<dense_tanh>(std::vector<dense_tanh>{}), imbdef::error);
}

TEST_CASE("residual: y = main(x) + skip(x), with identity and with a parametrised skip") {
    const residual<sequential<dense_tanh, dense_tanh>> with_identity(
        sequential<dense_tanh, dense_tanh>(dense_tanh(3, 4), dense_tanh(4, 3)));
    const auto r1 = testing::check_gradients(testing::module_problem(with_identity, input(2, 3)));
    CHECK_MESSAGE(r1.ok, r1.to_string());

    const residual<dense_tanh, dense_tanh> projected(dense_tanh(3, 2), dense_tanh(3, 2));
    parameter_layout layout;
    residual<dense_tanh, dense_tanh>(projected).declare(registry(layout).scope("b64"));
    CHECK(layout.find("b64.main.weight").has_value());
    CHECK(layout.find("b64.skip.bias").has_value());
    const auto r2 = testing::check_gradients(testing::module_problem(projected, input(3, 3)));
    CHECK_MESSAGE(r2.ok, r2.to_string());

    const residual<dense_tanh, dense_tanh> mismatched(dense_tanh(3, 2), dense_tanh(3, 4));
    CHECK_THROWS_WITH_AS(mismatched.output_shape({1, 3}), doctest::Contains("[1, 2]"), imbdef::error);
}

TEST_CASE("contexts are independent: two passes alive at once give their own gradients") {
    using net = sequential<dense_tanh, dense_tanh>;
    net s(dense_tanh(2, 3), dense_tanh(3, 1));
    parameter_layout layout;
    s.declare(registry(layout));
    parameter_store<double> params(layout), grads_a(layout), grads_b(layout), grads_ref(layout);
    params.initialize(5);
    const auto xa = testing::random_tensor({2, 2}, 1);
    const auto xb = testing::random_tensor({2, 2}, 2);
    core::tensor<double> ya({2, 1}), yb({2, 1}), dy({2, 1}, 1.0), dxa({2, 2}), dxb({2, 2}), dx_ref({2, 2});
    net::context<double> ca, cb, cref;
    const auto p = std::as_const(params).views();
    s.forward(p, xa.cview(), ya.view(), ca);
    s.forward(p, xb.cview(), yb.view(), cb);  // a second pass while the first is still alive
    s.backward(p, ca, dy.cview(), dxa.view(), grads_a.views(), grad_mode::assign, grad_mode::assign);
    s.backward(p, cb, dy.cview(), dxb.view(), grads_b.views(), grad_mode::assign, grad_mode::assign);
    s.forward(p, xa.cview(), ya.view(), cref);
    s.backward(p, cref, dy.cview(), dx_ref.view(), grads_ref.views(), grad_mode::assign, grad_mode::assign);
    for (index_t i = 0; i < 4; ++i) CHECK(dxa[i] == dx_ref[i]);
    for (index_t i = 0; i < grads_a.parameters().numel(); ++i) CHECK(grads_a.parameters()[i] == grads_ref.parameters()[i]);
    bool differs = false;
    for (index_t i = 0; i < 4; ++i) differs = differs || dxa[i] != dxb[i];
    CHECK(differs);
}

TEST_CASE("module_problem catches a wrong parameter gradient deep in a chain and names it") {
    const sequential<named<"fc0", dense_tanh>, named<"fc1", wrong_weight_grad>> s(
        dense_tanh(3, 4), wrong_weight_grad(4, 2));
    const auto r = testing::check_gradients(testing::module_problem(s, input(2, 3)));
    CHECK_FALSE(r.ok);
    CHECK(r.to_string().find("fc1.weight") != std::string::npos);
}
