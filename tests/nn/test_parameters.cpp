// Declaring, naming, laying out and initialising a network's parameters.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include <imbdef/nn/parameters.hpp>

using namespace imbdef;
using namespace imbdef::nn;

TEST_CASE("registry scopes give stable dotted names; offsets are 16-element aligned") {
    parameter_layout layout;
    const registry root(layout);
    const registry mapping = root.scope("mapping");
    const auto w = mapping.scope("fc0").parameter("weight", {8, 5}, initializer::normal(0, 1));
    const auto b = mapping.scope("fc0").parameter("bias", {8}, initializer::zeros());
    const auto avg = mapping.buffer("w_avg", {8}, initializer::zeros());

    CHECK(layout[w].name == "mapping.fc0.weight");
    CHECK(layout[b].name == "mapping.fc0.bias");
    CHECK(layout[avg].name == "mapping.w_avg");
    CHECK(layout[w].offset == 0);
    CHECK(layout[b].offset == 48);  // 40 rounded up to 48
    CHECK(layout[avg].offset == 0);  // buffers have their own flat storage
    CHECK(layout.size(tensor_role::parameter) == 64);
    CHECK(layout.count(tensor_role::parameter) == 48);
    CHECK(layout.size(tensor_role::buffer) == 16);
    CHECK(layout.find("mapping.fc0.bias").has_value());
    CHECK_FALSE(layout.find("mapping.fc1.bias").has_value());
}

TEST_CASE("bad declarations are refused with the name in the message") {
    parameter_layout layout;
    const registry r(layout);
    r.parameter("weight", {2}, initializer::zeros());
    CHECK_THROWS_WITH_AS(r.parameter("weight", {3}, initializer::zeros()), doctest::Contains("'weight' twice"),
                         imbdef::error);
    for (const char* bad : {"", ".w", "w.", "a..b", "has space", "dash-name"})
        CHECK_THROWS_WITH_AS(r.parameter(bad, {1}, initializer::zeros()), doctest::Contains("dotted name"),
                             imbdef::error);
}

TEST_CASE("initialisation depends only on the seed and the tensor's own name") {
    parameter_layout small, large;
    registry(small).parameter("net.w", {1000}, initializer::normal(0, 2));
    const registry big(large);
    big.parameter("net.extra", {77}, initializer::uniform(-1, 1));  // shifts offsets
    big.parameter("net.w", {1000}, initializer::normal(0, 2));

    parameter_store<float> a(small), b(large), c(small);
    a.initialize(42);
    b.initialize(42);
    c.initialize(43);
    const auto wa = a.views()["net.w"];
    const auto wb = b.views()["net.w"];
    const auto wc = c.views()["net.w"];
    int same_ab = 0, same_ac = 0;
    double sum2 = 0;
    for (index_t i = 0; i < 1000; ++i) {
        same_ab += wa[i] == wb[i];
        same_ac += wa[i] == wc[i];
        sum2 += static_cast<double>(wa[i]) * wa[i];
    }
    CHECK(same_ab == 1000);
    CHECK(same_ac == 0);
    CHECK(std::sqrt(sum2 / 1000) == doctest::Approx(2.0).epsilon(0.1));
}

TEST_CASE("constant and uniform initialisers; gaps stay zero") {
    parameter_layout layout;
    const registry r(layout);
    const auto bias = r.parameter("bias", {3}, initializer::constant(1.0));
    const auto u = r.parameter("u", {500}, initializer::uniform(2, 3));
    parameter_store<double> store(layout);
    store.initialize(7);
    const auto v = store.views();
    for (double x : v[bias]) CHECK(x == 1.0);
    for (double x : v[u]) CHECK((x > 2.0 && x < 3.0));
    for (index_t i = 3; i < 16; ++i) CHECK(store.parameters()[i] == 0.0);  // the gap after 'bias'
}

TEST_CASE("views bind a layout to any flat storage of the right size") {
    parameter_layout layout;
    const auto w = registry(layout).parameter("w", {2, 3}, initializer::zeros());
    core::tensor<float> grads({layout.size(tensor_role::parameter)});
    core::tensor<float> buffers({0});
    parameter_views<float> g(layout, grads.view(), buffers.view());
    g[w](1, 2) = 5.0f;
    CHECK(grads[5] == 5.0f);
    CHECK(g[w].shape() == core::shape{2, 3});
    const parameter_views<const float> cg = g;
    CHECK(cg["w"](1, 2) == 5.0f);

    core::tensor<float> wrong({3});
    CHECK_THROWS_WITH_AS(parameter_views<float>(layout, wrong.view(), buffers.view()),
                         doctest::Contains("16 flat parameter elements"), imbdef::error);
    CHECK_THROWS_WITH_AS((void)g["nope"], doctest::Contains("'nope'"), imbdef::error);
}

TEST_CASE("copy_values copies parameters and buffers between bindings, and refuses another shape") {
    parameter_layout a, b;
    for (parameter_layout* l : {&a, &b}) {
        registry r(*l);
        r.parameter("w", {3, 2}, initializer::normal(0, 1));
        r.buffer("avg", {2}, initializer::normal(0, 1));
    }
    parameter_store<float> from(a), to(b);
    from.initialize(1);
    to.initialize(2);
    copy_values<float>(std::as_const(from).views(), to.views());
    for (core::index_t i = 0; i < from.parameters().numel(); ++i) CHECK(to.parameters()[i] == from.parameters()[i]);
    for (core::index_t i = 0; i < from.buffers().numel(); ++i) CHECK(to.buffers()[i] == from.buffers()[i]);
    parameter_layout c;
    registry(c).parameter("w", {5}, initializer::zeros());
    parameter_store<float> other(c);
    CHECK_THROWS_WITH_AS(copy_values<float>(std::as_const(from).views(), other.views()), doctest::Contains("copy_values"),
                         imbdef::error);
}
