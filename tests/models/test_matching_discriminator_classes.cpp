// The class-conditional matching discriminator (a projection head, nn/class_projection.hpp): the
// projection alone proven in double, parameter counts and names, one class as the unconditional
// network bit for bit, the class term as a pure addition, whole-network gradients and tangent
// rules with classes mixed in the batch, exact R1 against its oracle, float against double, and
// refused labels.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <imbdef/models/image_discriminator.hpp>
#include <imbdef/models/matching_discriminator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/nn/class_projection.hpp>
#include <imbdef/nn/with_classes.hpp>
#include <imbdef/policies/r1_penalty.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;
using core::grad_mode;

namespace {
// tiny with one grey image channel plus the mask: 32 px, blocks 8 -> 16 -> 32 -> 32, C = 32.
models::discriminator_config tiny_config(int image_channels = 1) {
    return models::preset_by_name("tiny").matching_discriminator(image_channels);
}

// (image, soft mask) pairs: uniform image values, the mask tanh(10 u) of a uniform u, like tanh(10 M).
core::tensor<double> pairs(const core::shape& s, std::uint64_t seed) {
    core::tensor<double> x = testing::random_tensor(s, seed);
    const core::index_t hw = s[2] * s[3];
    for (core::index_t n = 0; n < s[0]; ++n)
        for (core::index_t k = 0; k < hw; ++k) {
            double& m = x[(n * s[1] + s[1] - 1) * hw + k];
            m = std::tanh(10.0 * 0.3 * m);
        }
    return x;
}

template <class D>
nn::parameter_layout layout_of(D d) {
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    return layout;
}

struct pass_result {
    core::tensor<double> y, dx, grads, h;
};
// Forward with the labels `classes` (none when empty), then backward with all-ones logits
// gradients, in double, on parameters initialised from `seed` (the class embedding zeroed when
// `zero_embedding`).
template <class D>
pass_result run_pass(D d, const core::tensor<double>& x, std::uint64_t seed, const std::vector<int>& classes,
                     bool zero_embedding = false) {
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout), grads(layout);
    params.initialize(seed);
    if (zero_embedding)
        for (double& v : params.views()["projection.embed.weight"]) v = 0.0;
    typename D::template context<double> ctx;
    if constexpr (requires { ctx.classes; }) ctx.classes = classes;  // the image D has no labels
    pass_result r{core::tensor<double>(d.output_shape(x.shape())), core::tensor<double>(x.shape()), {}, {}};
    const auto p = std::as_const(params).views();
    d.forward(p, x.cview(), r.y.view(), ctx);
    core::tensor<double> dy(r.y.shape());
    dy.fill(1.0);
    d.backward(p, ctx, dy.cview(), r.dx.view(), grads.views(), grad_mode::assign, grad_mode::assign);
    r.grads = std::move(grads.parameters());
    if constexpr (requires { ctx.h; }) r.h = core::to_tensor(ctx.h.cview());
    return r;
}

bool bit_equal(const core::tensor<double>& a, const core::tensor<double>& b) {
    if (a.shape() != b.shape()) return false;
    for (core::index_t i = 0; i < a.numel(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}
}  // namespace

TEST_CASE("the class projection alone: every gradient and tangent entry in double, with a class absent") {
    // Five samples of classes 2, 0, 2, 0, 2: rows 0 and 2 sum over several samples, row 1 must get
    // exactly zero (the contract check fills assign buffers with NaN first).
    const nn::with_classes d(nn::class_projection{3, 6}, {2, 0, 2, 0, 2});
    const auto r = testing::check_gradients(testing::module_problem(d, testing::random_tensor({5, 6}, 1), 2));
    CHECK_MESSAGE(r.ok, r.to_string());
    testing::second_order_options o;
    o.perturb_parameters = false;
    const auto r2 = testing::check_second_order(testing::module_second_order_problem(d, testing::random_tensor({5, 6}, 2), 3), o);
    CHECK_MESSAGE(r2.ok, r2.to_string());

    // s_n = <E[c_n], h_n> / sqrt(C), by hand.
    nn::parameter_layout layout;
    auto m = d;
    m.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout);
    params.initialize(4);
    const auto h = testing::random_tensor({5, 6}, 5);
    core::tensor<double> s({5, 1});
    decltype(m)::context<double> ctx;
    m.forward(std::as_const(params).views(), h.cview(), s.view(), ctx);
    const auto e = std::as_const(params).views()["weight"];
    const std::vector<int> classes{2, 0, 2, 0, 2};
    for (core::index_t n = 0; n < 5; ++n) {
        double sum = 0;
        for (core::index_t k = 0; k < 6; ++k) sum += e[classes[n] * 6 + k] * h[n * 6 + k];
        CHECK(s[n] == doctest::Approx(sum / std::sqrt(6.0)).epsilon(1e-14));
    }
}

TEST_CASE("parameter counts with classes: the formula, a hand count, the name, and the layout before it unchanged") {
    using models::make_matching_discriminator;
    for (const char* name : {"tiny", "cpu64"}) {
        const auto c = models::preset_by_name(name).matching_discriminator(3);
        for (core::index_t k : {1, 2, 5}) {
            INFO(name << ", " << k << " classes");
            CHECK(layout_of(make_matching_discriminator(c, {}, k)).count(nn::tensor_role::parameter) ==
                  models::matching_discriminator_parameter_count(c, 1, k));
            CHECK(layout_of(make_matching_discriminator<policies::no_mask_injection>(c, {}, k))
                      .count(nn::tensor_role::parameter) == models::matching_discriminator_parameter_count(c, 0, k));
        }
    }
    // tiny, RGB + mask, concat: 55,481 (test_matching_discriminator.cpp) + K C with C = 32.
    const auto c = tiny_config(3);
    const auto one = layout_of(models::make_matching_discriminator(c));
    const auto three = layout_of(models::make_matching_discriminator(c, {}, 3));
    CHECK(one.count(nn::tensor_role::parameter) == 55481);
    CHECK(three.count(nn::tensor_role::parameter) == 55481 + 3 * 32);
    CHECK(models::matching_discriminator_parameter_count(c, 1, 3) == 55577);
    CHECK_FALSE(one.find("projection.embed.weight").has_value());
    REQUIRE(three.find("projection.embed.weight").has_value());
    CHECK(three[*three.find("projection.embed.weight")].shape == core::shape{3, 32});

    // Every other tensor keeps its name, shape and offset: the embedding is declared last.
    REQUIRE(three.entries().size() == one.entries().size() + 1);
    for (std::size_t i = 0; i < one.entries().size(); ++i) {
        CHECK(three.entries()[i].name == one.entries()[i].name);
        CHECK(three.entries()[i].shape == one.entries()[i].shape);
        CHECK(three.entries()[i].offset == one.entries()[i].offset);
    }
    CHECK(three.entries().back().name == "projection.embed.weight");
    CHECK(models::make_matching_discriminator(c, {}, 3).output_shape({2, 4, 32, 32}) == core::shape{2, 1});
}

TEST_CASE("one class is the unconditional network, bit for bit, with or without labels") {
    const auto c = tiny_config(3);
    const auto x = pairs({4, 4, 32, 32}, 7);
    // Without injection and with one class, D_match is the plain (image, mask) discriminator, whose
    // epilogue is one nn::sequential: the split into epilogue and out changes no bit, labels or not.
    const auto plain = models::make_image_discriminator(c);
    const auto matching = models::make_matching_discriminator<policies::no_mask_injection>(c, {}, 1);
    const auto a = layout_of(plain), b = layout_of(matching);
    REQUIRE(a.entries().size() == b.entries().size());
    for (std::size_t i = 0; i < a.entries().size(); ++i) {
        CHECK(a.entries()[i].name == b.entries()[i].name);
        CHECK(a.entries()[i].offset == b.entries()[i].offset);
    }
    const std::vector<int> zeros(4, 0);
    const pass_result ra = run_pass(plain, x, 3, {}), rb = run_pass(matching, x, 3, zeros);
    CHECK(bit_equal(ra.y, rb.y));
    CHECK(bit_equal(ra.dx, rb.dx));
    CHECK(bit_equal(ra.grads, rb.grads));

    // ... and so is exact R1, labels given through the workspace's context.
    auto plain_d = plain;
    auto matching_d = matching;
    nn::parameter_layout la, lb;
    plain_d.declare(nn::registry(la));
    matching_d.declare(nn::registry(lb));
    nn::parameter_store<double> params(la), ga(la), gb(lb);
    params.initialize(3);
    const double va = policies::r1_exact(plain_d, std::as_const(params).views(), x.cview(), 1.0, ga.views(), grad_mode::assign);
    policies::r1_workspace<decltype(matching_d), double> w;
    w.ctx.classes = zeros;
    const double vb = policies::r1_exact(matching_d, nn::params_in<double>(lb, params.parameters().cview(), params.buffers().cview()),
                                         x.cview(), 1.0, gb.views(), grad_mode::assign, w);
    CHECK(va == vb);
    CHECK(bit_equal(ga.parameters(), gb.parameters()));

    // With concat injection, labels of 0 change nothing either.
    const auto concat = models::make_matching_discriminator(c);
    const pass_result rc = run_pass(concat, x, 3, {}), rd = run_pass(concat, x, 3, zeros);
    CHECK(bit_equal(rc.y, rd.y));
    CHECK(bit_equal(rc.dx, rd.dx));
    CHECK(bit_equal(rc.grads, rd.grads));
}

TEST_CASE("the class term is a pure addition: a zero embedding gives the unconditional logits and gradients") {
    const auto c = tiny_config();
    const auto x = pairs({4, 2, 32, 32}, 8);
    const std::vector<int> classes{1, 0, 2, 1};
    const pass_result one = run_pass(models::make_matching_discriminator(c), x, 5, {});
    const pass_result three = run_pass(models::make_matching_discriminator(c, {}, 3), x, 5, classes, true);
    CHECK(bit_equal(one.y, three.y));
    CHECK(bit_equal(one.dx, three.dx));
    // The shared tensors' gradients sit at the same offsets; the embedding's follow.
    const core::index_t shared = one.grads.numel();
    bool same = true;
    for (core::index_t i = 0; i < shared; ++i) same = same && one.grads[i] == three.grads[i];
    CHECK(same);
    // dE[k] = sum_{n: c_n = k} h_n / sqrt(C) (dy = 1), non-zero although E is zero.
    const auto layout = layout_of(models::make_matching_discriminator(c, {}, 3));
    const auto& entry = layout[*layout.find("projection.embed.weight")];
    for (core::index_t k = 0; k < 3; ++k)
        for (core::index_t j = 0; j < 32; ++j) {
            double sum = 0;
            for (core::index_t n = 0; n < 4; ++n)
                if (classes[n] == k) sum += three.h[n * 32 + j];
            REQUIRE(three.grads[entry.offset + k * 32 + j] == doctest::Approx(sum / std::sqrt(32.0)).epsilon(1e-13));
        }
}

TEST_CASE("different classes give different logits for the same input: the difference is <E[c] - E[c'], h> / sqrt(C)") {
    const auto d = models::make_matching_discriminator(tiny_config(), {}, 3);
    nn::parameter_layout layout;
    auto m = d;
    m.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout);
    params.initialize(9);
    const auto p = std::as_const(params).views();
    const auto e = p["projection.embed.weight"];
    const auto x = pairs({4, 2, 32, 32}, 9);
    const auto logits = [&](std::vector<int> classes, core::tensor<double>* h = nullptr) {
        models::matching_discriminator::context<double> ctx;
        ctx.classes = classes;
        core::tensor<double> y({4, 1});
        m.forward(p, x.cview(), y.view(), ctx);
        if (h) *h = core::to_tensor(ctx.h.cview());
        return y;
    };
    core::tensor<double> h;
    const auto y0 = logits({0, 0, 0, 0}, &h), y1 = logits({1, 1, 1, 1}), y2 = logits({2, 2, 2, 2});
    const auto mixed = logits({2, 0, 1, 2});
    for (core::index_t n = 0; n < 4; ++n) {
        CHECK(y0[n] != y1[n]);
        CHECK(y1[n] != y2[n]);
        double dot = 0;
        for (core::index_t k = 0; k < 32; ++k) dot += (e[32 + k] - e[k]) * h[n * 32 + k];
        CHECK(y1[n] - y0[n] == doctest::Approx(dot / std::sqrt(32.0)).epsilon(1e-12));
    }
    // A sample's class acts on its own logit only.
    CHECK(mixed[0] == y2[0]);
    CHECK(mixed[1] == y0[1]);
    CHECK(mixed[2] == y1[2]);
    CHECK(mixed[3] == y2[3]);
}

TEST_CASE("whole-network gradients with three classes mixed in the batch (the embedding's included), in double") {
    // Classes 2 and 0: row 1 gets none. (Rows summing several samples are proven by the
    // projection's own check and by the zero-embedding test; two samples keep this check fast.)
    const nn::with_classes d(models::make_matching_discriminator(tiny_config(), {}, 3), {2, 0});
    testing::gradient_check_options o;
    o.max_elements_per_input = 16;
    // As in test_matching_discriminator.cpp: the smallest steps cross no lrelu or minibatch-std kink.
    o.steps = {1e-4, 1e-5, 1e-6, 1e-7};
    const auto r = testing::check_gradients(testing::module_problem(d, pairs({2, 2, 32, 32}, 1), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("whole-network tangent rules with classes (forward-over-reverse), parameters held fixed") {
    // The parameters' dx_dot are the tangents of their gradients, the embedding's included:
    // dE_dot[k] = sum (dy_dot h + dy h_dot) / sqrt(C).
    const nn::with_classes d(models::make_matching_discriminator(tiny_config(), {}, 3), {2, 0, 2});
    testing::second_order_options o;
    o.perturb_parameters = false;
    o.steps = {1e-5, 1e-6, 1e-7, 1e-8};  // see test_matching_discriminator.cpp
    const auto r = testing::check_second_order(testing::module_second_order_problem(d, pairs({3, 2, 32, 32}, 2), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("exact R1 with classes agrees with the finite-difference oracle, through ctx.classes or with_classes") {
    const std::vector<int> classes{1, 2, 1};
    auto d = models::make_matching_discriminator(tiny_config(), {}, 3);
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    const nn::with_classes fixed(d, classes);  // a copy of the declared d
    nn::parameter_store<double> params(layout), exact(layout), oracle(layout), direct(layout);
    params.initialize(5);
    const auto x = pairs({3, 2, 32, 32}, 3);
    const double gamma = 2.0;
    const auto p = std::as_const(params).views();
    const double value = policies::r1_exact(fixed, p, x.cview(), gamma, exact.views(), grad_mode::assign);
    const double value_fd = policies::r1_finite_difference(fixed, p, x.cview(), gamma, oracle.views(), grad_mode::assign);
    CHECK(value == doctest::Approx(value_fd).epsilon(1e-12));
    CHECK(value > 0);
    double worst = 0, scale = 0;
    for (core::index_t i = 0; i < exact.parameters().numel(); ++i) {
        worst = std::max(worst, std::abs(exact.parameters()[i] - oracle.parameters()[i]));
        scale = std::max(scale, std::abs(exact.parameters()[i]));
    }
    INFO("worst difference " << worst << " of scale " << scale);
    CHECK(scale > 0);
    CHECK(worst < 1e-6 * scale);
    // The embedding gets its share of the penalty's gradient: rows 1 and 2, not row 0.
    const auto de = exact.views()["projection.embed.weight"];
    double row[3] = {0, 0, 0};
    for (core::index_t k = 0; k < 3; ++k)
        for (core::index_t j = 0; j < 32; ++j) row[k] += std::abs(de[k * 32 + j]);
    CHECK(row[0] == 0.0);
    CHECK(row[1] > 0);
    CHECK(row[2] > 0);

    // The training step's way: the labels in the workspace's context, the same bits.
    policies::r1_workspace<decltype(d), double> w;
    w.ctx.classes = classes;
    const double value_direct = policies::r1_exact(d, p, x.cview(), gamma, direct.views(), grad_mode::assign, w);
    CHECK(value_direct == value);
    CHECK(bit_equal(direct.parameters(), exact.parameters()));
}

TEST_CASE("in float, as trained: logits, gradients and exact R1 agree with double") {
    const auto d = models::make_matching_discriminator(tiny_config(), {}, 3);
    auto m = d;
    nn::parameter_layout layout;
    m.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout), grads(layout), r1(layout);
    nn::parameter_store<float> params_f(layout), grads_f(layout), r1_f(layout);
    params.initialize(6);
    params_f.initialize(6);
    const auto x = pairs({4, 2, 32, 32}, 6);
    core::tensor<float> x_f(x.shape());
    for (core::index_t i = 0; i < x.numel(); ++i) x_f[i] = static_cast<float>(x[i]);
    const std::vector<int> classes{0, 2, 1, 2};
    const auto run = [&]<class T>(const nn::parameter_store<T>& p, const core::tensor<T>& in, nn::parameter_store<T>& g,
                                  nn::parameter_store<T>& g_r1) {
        models::matching_discriminator::context<T> ctx;
        ctx.classes = classes;
        core::tensor<T> y({4, 1}), dy({4, 1}), dx(in.shape());
        dy.fill(T(1));
        m.forward(p.views(), in.cview(), y.view(), ctx);
        m.backward(p.views(), ctx, dy.cview(), dx.view(), g.views(), grad_mode::none, grad_mode::assign);
        policies::r1_workspace<decltype(m), T> w;
        w.ctx.classes = classes;
        policies::r1_exact(m, p.views(), in.cview(), 1.0, g_r1.views(), grad_mode::assign, w);
        return y;
    };
    const auto y = run(params, x, grads, r1);
    const auto y_f = run(params_f, x_f, grads_f, r1_f);
    for (core::index_t n = 0; n < 4; ++n) CHECK(y_f[n] == doctest::Approx(y[n]).epsilon(1e-4).scale(1.0));
    const auto close = [](const core::tensor<double>& a, const core::tensor<float>& b) {
        double worst = 0, scale = 0;
        for (core::index_t i = 0; i < a.numel(); ++i) {
            worst = std::max(worst, std::abs(a[i] - static_cast<double>(b[i])));
            scale = std::max(scale, std::abs(a[i]));
        }
        INFO("worst difference " << worst << " of scale " << scale);
        return scale > 0 && worst < 1e-3 * scale;
    };
    CHECK(close(grads.parameters(), grads_f.parameters()));
    CHECK(close(r1.parameters(), r1_f.parameters()));
}

TEST_CASE("bad class labels are refused, naming the sample, the class found and the range") {
    auto d = models::make_matching_discriminator(tiny_config(), {}, 3);
    auto one = models::make_matching_discriminator(tiny_config());
    nn::parameter_layout layout, one_layout;
    d.declare(nn::registry(layout));
    one.declare(nn::registry(one_layout));
    nn::parameter_store<double> params(layout), one_params(one_layout);
    const auto x = pairs({2, 2, 32, 32}, 1);
    const auto run = [&](const auto& module, std::vector<int> classes) {
        typename std::decay_t<decltype(module)>::template context<double> ctx;
        ctx.classes = classes;
        core::tensor<double> y({2, 1});
        module.forward(std::as_const(module.num_classes() > 1 ? params : one_params).views(), x.cview(), y.view(), ctx);
    };
    CHECK_THROWS_WITH_AS(run(d, {}), doctest::Contains("one class label per sample (N = 2)"), imbdef::error);
    CHECK_THROWS_WITH_AS(run(d, {}), doctest::Contains("found none"), imbdef::error);
    CHECK_THROWS_WITH_AS(run(d, {0, 1, 2}), doctest::Contains("found 3 labels"), imbdef::error);
    CHECK_THROWS_WITH_AS(run(d, {0, 3}),
                         doctest::Contains("models::matching_discriminator: expected the class of sample 1 in [0, 3), found 3"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(run(d, {-1, 0}), doctest::Contains("the class of sample 0 in [0, 3), found -1"), imbdef::error);
    run(d, {2, 0});  // and good labels pass

    // One class: labels may be absent, and must be 0 when given.
    run(one, {});
    run(one, {0, 0});
    CHECK_THROWS_WITH_AS(run(one, {0, 1}), doctest::Contains("the class of sample 1 in [0, 1), found 1"), imbdef::error);

    CHECK_THROWS_WITH_AS((void)models::make_matching_discriminator(tiny_config(), {}, 0),
                         doctest::Contains("num_classes >= 1"), imbdef::error);
    nn::class_projection bad{0, 4};
    nn::parameter_layout bad_layout;
    CHECK_THROWS_AS(bad.declare(nn::registry(bad_layout)), imbdef::error);
    CHECK_THROWS_WITH_AS((void)(nn::class_projection{3, 4}.output_shape({2, 5})), doctest::Contains("input [N, 4]"),
                         imbdef::error);
}
