// The mask-aware matching discriminator: parameter counts, the no-injection variant against the
// plain (image, mask) discriminator bit for bit, whole-network gradients (the mask channel's
// included) and tangent rules in double on the tiny preset, exact R1 against its oracles, input
// validation, and determinism across thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <imbdef/core/parallel.hpp>
#include <imbdef/models/image_discriminator.hpp>
#include <imbdef/models/matching_discriminator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/policies/r1_penalty.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;
using core::grad_mode;

namespace {
// tiny with one grey image channel plus the mask: 32 px, blocks 8 -> 16 -> 32 -> 32.
models::discriminator_config tiny_config(int image_channels = 1) {
    return models::preset_by_name("tiny").matching_discriminator(image_channels);
}
// Small enough to check a second policy cheaply: 16 px, channels 4 -> 8 -> 8.
models::discriminator_config small_config() {
    models::discriminator_config c;
    c.resolution = 16;
    c.in_channels = 2;
    c.channel_base = 64;
    c.channel_max = 8;
    return c;
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
nn::parameter_layout layout_of(D d, const std::string& scope = {}) {
    nn::parameter_layout layout;
    d.declare(scope.empty() ? nn::registry(layout) : nn::registry(layout).scope(scope));
    return layout;
}

struct pass_result {
    core::tensor<double> y, dx, grads;
};
// Forward, then backward with all-ones logits gradients, in double.
template <class D>
pass_result run_pass(D d, const core::tensor<double>& x, std::uint64_t seed) {
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout), grads(layout);
    params.initialize(seed);
    typename D::template context<double> ctx;
    pass_result r{core::tensor<double>(d.output_shape(x.shape())), core::tensor<double>(x.shape()), {}};
    const auto p = std::as_const(params).views();
    d.forward(p, x.cview(), r.y.view(), ctx);
    core::tensor<double> dy(r.y.shape());
    dy.fill(1.0);
    d.backward(p, ctx, dy.cview(), r.dx.view(), grads.views(), grad_mode::assign, grad_mode::assign);
    r.grads = std::move(grads.parameters());
    return r;
}

bool bit_equal(const core::tensor<double>& a, const core::tensor<double>& b) {
    if (a.shape() != b.shape()) return false;
    for (core::index_t i = 0; i < a.numel(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}
}  // namespace

TEST_CASE("parameter counts: the schedule's formula, a hand count, and the names") {
    using models::make_matching_discriminator;
    const auto& tiny = models::preset_by_name("tiny");
    const auto& cpu64 = models::preset_by_name("cpu64");
    for (const auto* preset : {&tiny, &cpu64}) {
        const auto c = preset->matching_discriminator(3);
        const auto plain = layout_of(make_matching_discriminator<policies::no_mask_injection>(c));
        const auto concat = layout_of(make_matching_discriminator(c));
        CHECK(plain.count(nn::tensor_role::parameter) == models::matching_discriminator_parameter_count(c, 0));
        CHECK(concat.count(nn::tensor_role::parameter) == models::matching_discriminator_parameter_count(c, 1));
        const auto image_d = layout_of(models::make_image_discriminator(c));
        CHECK(plain.count(nn::tensor_role::parameter) == image_d.count(nn::tensor_role::parameter));
    }
    // tiny, RGB + mask: 4 input channels, blocks 32: 8 -> 16, 16: 16 -> 32, 8: 32 -> 32, epilogue 32.
    const long long fromrgb = 4 * 8 + 8;
    const long long b0 = (8 * 8 * 9 + 8) + (16 * 8 * 9 + 16) + 16 * 8;
    const long long b1 = (16 * 16 * 9 + 16) + (32 * 16 * 9 + 32) + 32 * 16;
    const long long b2 = (32 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + 32 * 32;
    const long long epilogue = (33 * 32 * 9 + 32) + (512 * 32 + 32) + (32 + 1);
    const long long without = fromrgb + b0 + b1 + b2 + epilogue;
    // concat: conv0 of each block gains one input channel (9 t weights), the skip one (o weights).
    const long long with = without + (9 * 8 + 16) + (9 * 16 + 32) + (9 * 32 + 32);
    CHECK(without == 54897);
    CHECK(with == 55481);
    const auto c = tiny.matching_discriminator(3);
    CHECK(layout_of(models::make_matching_discriminator<policies::no_mask_injection>(c)).count(nn::tensor_role::parameter) ==
          without);
    CHECK(layout_of(models::make_matching_discriminator(c)).count(nn::tensor_role::parameter) == with);
    CHECK(layout_of(models::make_matching_discriminator(cpu64.matching_discriminator(3))).count(nn::tensor_role::parameter) ==
          881521);
    CHECK(models::matching_discriminator_parameter_count(cpu64.matching_discriminator(3), 0) == 879009);

    const auto layout = layout_of(models::make_matching_discriminator(c), "D_match");
    const auto shape_of = [&](const char* name) { return layout[*layout.find(name)].shape; };
    CHECK(shape_of("D_match.fromrgb.weight") == core::shape{8, 4, 1, 1});
    CHECK(shape_of("D_match.blocks.b0.main.conv0.weight") == core::shape{8, 9, 3, 3});
    CHECK(shape_of("D_match.blocks.b0.main.conv1.weight") == core::shape{16, 8, 3, 3});
    CHECK(shape_of("D_match.blocks.b2.skip.weight") == core::shape{32, 33, 1, 1});
    CHECK_FALSE(layout.find("D_match.blocks.b1.skip.bias").has_value());
    CHECK(layout.find("D_match.epilogue.out.bias").has_value());
    for (const auto& e : layout.entries()) CHECK(e.name.find("inject") == std::string::npos);

    // A policy with parameters declares them under the block's "inject" scope.
    const auto added = layout_of(models::make_matching_discriminator<policies::add_mask_injection>(c));
    CHECK(added[*added.find("blocks.b1.inject.weight")].shape == core::shape{16, 1, 1, 1});
    CHECK(added.count(nn::tensor_role::parameter) == without + 8 + 16 + 32);

    CHECK(models::make_matching_discriminator(c).output_shape({2, 4, 32, 32}) == core::shape{2, 1});
}

TEST_CASE("without injection it is the plain (image, mask) discriminator, bit for bit") {
    const auto c = tiny_config(3);
    const auto plain = models::make_image_discriminator(c);
    const auto matching = models::make_matching_discriminator<policies::no_mask_injection>(c);
    const auto a = layout_of(plain), b = layout_of(matching);
    REQUIRE(a.entries().size() == b.entries().size());
    for (std::size_t i = 0; i < a.entries().size(); ++i) {
        CHECK(a.entries()[i].name == b.entries()[i].name);
        CHECK(a.entries()[i].shape == b.entries()[i].shape);
        CHECK(a.entries()[i].offset == b.entries()[i].offset);
    }
    const auto x = pairs({4, 4, 32, 32}, 7);
    const pass_result ra = run_pass(plain, x, 3), rb = run_pass(matching, x, 3);
    CHECK(bit_equal(ra.y, rb.y));
    CHECK(bit_equal(ra.dx, rb.dx));
    CHECK(bit_equal(ra.grads, rb.grads));

    // ... and so is its exact R1 (the tangent passes).
    auto plain_d = plain;
    auto matching_d = matching;
    nn::parameter_layout la, lb;
    plain_d.declare(nn::registry(la));
    matching_d.declare(nn::registry(lb));
    nn::parameter_store<double> params(la), ga(la), gb(lb);
    params.initialize(3);
    const auto p = std::as_const(params).views();
    const double va = policies::r1_exact(plain_d, p, x.cview(), 1.0, ga.views(), grad_mode::assign);
    const double vb = policies::r1_exact(matching_d, nn::params_in<double>(lb, params.parameters().cview(),
                                                                           params.buffers().cview()),
                                         x.cview(), 1.0, gb.views(), grad_mode::assign);
    CHECK(va == vb);
    CHECK(bit_equal(ga.parameters(), gb.parameters()));

    // With injection the outputs differ: the blocks see the mask.
    const pass_result rc = run_pass(models::make_matching_discriminator(c), x, 3);
    CHECK_FALSE(bit_equal(ra.y, rc.y));
}

TEST_CASE("every block sees the mask as the 2x2 area mean at its resolution") {
    auto d = models::make_matching_discriminator(tiny_config());
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout);
    params.initialize(1);
    core::tensor<double> x = pairs({2, 2, 32, 32}, 6);
    for (core::index_t k = 0; k < 1024; ++k) x[3 * 1024 + k] = -1.0;  // sample 1: no defect at all
    models::matching_discriminator::context<double> ctx;
    core::tensor<double> y({2, 1});
    d.forward(std::as_const(params).views(), x.cview(), y.view(), ctx);
    REQUIRE(ctx.mask.size() == 3);
    for (std::size_t b = 0; b < 3; ++b) {
        const core::index_t r = 32 >> b, c = ctx.injected[b].size(1);
        CHECK(ctx.mask[b].shape() == core::shape{2, 1, r, r});
        CHECK(ctx.injected[b].shape() == core::shape{2, c, r, r});
        for (core::index_t n = 0; n < 2; ++n)
            for (core::index_t i = 0; i < r * r; ++i) {
                const double m = ctx.mask[b][n * r * r + i];
                if (b == 0) REQUIRE(m == x[(n * 2 + 1) * 1024 + i]);
                if (b > 0) {  // the mean of the 2x2 cell of the level above
                    const core::index_t u = i / r, v = i % r, R = 2 * r;
                    const double* up = ctx.mask[b - 1].data() + n * R * R;
                    const double mean = (up[2 * u * R + 2 * v] + up[2 * u * R + 2 * v + 1] + up[(2 * u + 1) * R + 2 * v] +
                                         up[(2 * u + 1) * R + 2 * v + 1]) / 4;
                    REQUIRE(m == doctest::Approx(mean).epsilon(1e-15));
                }
                if (n == 1) REQUIRE(m == -1.0);  // a constant mask stays constant: no padding
                REQUIRE(ctx.injected[b][((n + 1) * c - 1) * r * r + i] == m);  // the block's last input channel
            }
    }
}

TEST_CASE("whole-network gradients on the tiny preset: input and every parameter, in double") {
    const auto d = models::make_matching_discriminator(tiny_config());
    testing::gradient_check_options o;
    o.max_elements_per_input = 16;
    // Every parameter near the input moves thousands of downstream pre-activations across lrelu
    // and minibatch-std kinks (about one per 1e-3 of a bias, measured), so the smallest steps are
    // the ones that see no kink; double keeps them clear of rounding.
    o.steps = {1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    const auto r = testing::check_gradients(testing::module_problem(d, pairs({2, 2, 32, 32}, 1), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("the mask channel's gradient, through fromrgb and every injection, in double") {
    // The image is held fixed; the mask is the checked input, so many mask pixels are sampled,
    // at every level of the pyramid (a pixel reaches levels 1 .. 2 through its box ancestors).
    auto d = models::make_matching_discriminator(tiny_config());
    auto layout = std::make_shared<nn::parameter_layout>();
    d.declare(nn::registry(*layout));
    auto params = std::make_shared<nn::parameter_store<double>>(*layout);
    params->initialize(5);
    const auto x0 = std::make_shared<const core::tensor<double>>(pairs({2, 2, 32, 32}, 2));
    core::tensor<double> m0({2, 1, 32, 32});
    for (core::index_t n = 0; n < 2; ++n)
        for (core::index_t k = 0; k < 1024; ++k) m0[n * 1024 + k] = (*x0)[(n * 2 + 1) * 1024 + k];
    const auto with_mask = [x0](core::const_view<double> m) {
        core::tensor<double> x = core::to_tensor(x0->cview());
        for (core::index_t n = 0; n < 2; ++n)
            for (core::index_t k = 0; k < 1024; ++k) x[(n * 2 + 1) * 1024 + k] = m[n * 1024 + k];
        return x;
    };
    testing::gradient_problem p;
    p.add_data("mask", std::move(m0));
    p.forward = [=](testing::input_views in) {
        const auto x = with_mask(in[0]);
        models::matching_discriminator::context<double> ctx;
        core::tensor<double> y(d.output_shape(x.shape()));
        d.forward(std::as_const(*params).views(), x.cview(), y.view(), ctx);
        return y;
    };
    p.backward = [=](testing::input_views in, core::const_view<double> dy, testing::grad_views dx, grad_mode data_mode,
                     grad_mode) {
        const auto x = with_mask(in[0]);
        models::matching_discriminator::context<double> ctx;
        core::tensor<double> y(d.output_shape(x.shape())), dfull(x.shape());
        const auto pv = std::as_const(*params).views();
        d.forward(pv, x.cview(), y.view(), ctx);
        d.backward(pv, ctx, dy, dfull.view(), nn::grads_out<double>::unbound(*layout), grad_mode::assign, grad_mode::none);
        if (data_mode == grad_mode::none) return;
        for (core::index_t n = 0; n < 2; ++n)
            for (core::index_t k = 0; k < 1024; ++k)
                core::store_grad(dx[0][n * 1024 + k], dfull[(n * 2 + 1) * 1024 + k], data_mode);
    };
    testing::gradient_check_options o;
    o.max_elements_per_input = 128;
    o.steps = {1e-3, 1e-4, 1e-5, 1e-6, 1e-7};  // see the whole-network check
    const auto r = testing::check_gradients(p, o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("whole-network tangent rules on the tiny preset (forward-over-reverse), parameters held fixed") {
    const auto d = models::make_matching_discriminator(tiny_config());
    testing::second_order_options o;
    o.perturb_parameters = false;
    // The tangent moves every pixel: a lrelu kink crossed within +-h makes the differenced
    // gradient jump by O(1) / h, and the tiny network has ~20k units; steps this small cross none
    // (12 of 12 seeds pass, against 0 of 6 with the default steps), and double keeps them exact.
    o.steps = {1e-5, 1e-6, 1e-7, 1e-8};
    const auto r = testing::check_second_order(testing::module_second_order_problem(d, pairs({2, 2, 32, 32}, 2), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("the additive policy (METHOD.md's h + conv1x1(m)): gradients and tangent rules in double") {
    const auto d = models::make_matching_discriminator<policies::add_mask_injection>(small_config());
    testing::gradient_check_options o;
    o.max_elements_per_input = 12;
    o.steps = {1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
    const auto r = testing::check_gradients(testing::module_problem(d, pairs({2, 2, 16, 16}, 4), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
    testing::second_order_options so;
    so.perturb_parameters = false;
    so.steps = {1e-5, 1e-6, 1e-7, 1e-8};
    const auto r2 = testing::check_second_order(testing::module_second_order_problem(d, pairs({2, 2, 16, 16}, 5), 3), so);
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("exact R1 agrees with the finite-difference oracle and with differences of the penalty") {
    auto d = models::make_matching_discriminator(tiny_config());
    nn::parameter_layout own;
    d.declare(nn::registry(own));
    nn::parameter_store<double> params(own), exact(own), oracle(own);
    params.initialize(5);
    const auto x = pairs({2, 2, 32, 32}, 3);
    const double gamma = 2.0;
    const auto p = std::as_const(params).views();
    const double value = policies::r1_exact(d, p, x.cview(), gamma, exact.views(), grad_mode::assign);
    const double value_fd = policies::r1_finite_difference(d, p, x.cview(), gamma, oracle.views(), grad_mode::assign);
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

    // d R1 / d theta_k by central differences of the penalty's value, for a sample of parameters.
    const core::philox_stream pick{.seed = 17};
    int checked = 0;
    for (std::uint64_t k = 0; checked < 12; ++k) {
        const auto i = static_cast<core::index_t>(pick.bits(k) % static_cast<std::uint32_t>(own.size(nn::tensor_role::parameter)));
        if (exact.parameters()[i] == 0.0 && oracle.parameters()[i] == 0.0) continue;  // alignment gaps
        const double h = 1e-5;
        const double saved = params.parameters()[i];
        params.parameters()[i] = saved + h;
        const double up = policies::r1_exact(d, std::as_const(params).views(), x.cview(), gamma, exact.views(), grad_mode::none);
        params.parameters()[i] = saved - h;
        const double down = policies::r1_exact(d, std::as_const(params).views(), x.cview(), gamma, exact.views(), grad_mode::none);
        params.parameters()[i] = saved;
        const double numeric = (up - down) / (2 * h);
        INFO("parameter " << i << ": exact " << exact.parameters()[i] << ", numeric " << numeric);
        CHECK(std::abs(exact.parameters()[i] - numeric) <= 1e-6 + 1e-4 * std::abs(numeric));
        ++checked;
    }
}

TEST_CASE("bad input is refused with a message naming what was expected") {
    const auto d = models::make_matching_discriminator(tiny_config());
    CHECK_THROWS_AS((void)d.output_shape({2, 3, 32, 32}), imbdef::error);   // channels of another preset
    CHECK_THROWS_AS((void)d.output_shape({2, 2, 30, 30}), imbdef::error);   // not a multiple of 4
    CHECK_THROWS_AS((void)d.output_shape({2, 2, 32}), imbdef::error);
    auto one = tiny_config();
    one.in_channels = 1;  // no room for an image and the mask
    CHECK_THROWS_WITH_AS((void)models::make_matching_discriminator(one), doctest::Contains("soft mask"), imbdef::error);
}

// Parameter gradients too: the weight-gradient reductions split into a fixed number of partials
// (core::reduction_partials), not one per thread.
TEST_CASE("the same seed gives the same outputs and gradients, bit for bit, whatever the thread count") {
    auto d = models::make_matching_discriminator(tiny_config(3));
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    nn::parameter_store<float> params(layout), g1(layout), g2(layout);
    params.initialize(11);
    core::tensor<float> x({8, 4, 32, 32});
    core::fill_normal(x.view(), core::philox_stream{.seed = 4});
    const auto p = std::as_const(params).views();
    struct result {
        core::tensor<float> y{core::shape{8, 1}}, dx{core::shape{8, 4, 32, 32}};
    };
    const auto run = [&](int threads, nn::parameter_store<float>& grads) {
        core::set_num_threads(threads);
        result r;
        core::tensor<float> dy({8, 1});
        dy.fill(1.0f);
        models::matching_discriminator::context<float> ctx;
        d.forward(p, x.cview(), r.y.view(), ctx);
        d.backward(p, ctx, dy.cview(), r.dx.view(), grads.views(), grad_mode::assign, grad_mode::assign);
        return r;
    };
    const int saved = core::num_threads();
    const result r1 = run(1, g1), r2 = run(2, g2);
    nn::parameter_store<float> g3(layout);
    const result r3 = run(2, g3);
    core::set_num_threads(saved);
    const auto same = [](const core::tensor<float>& a, const core::tensor<float>& b) {
        for (core::index_t i = 0; i < a.numel(); ++i)
            if (a[i] != b[i]) return false;
        return true;
    };
    CHECK(same(r1.y, r2.y));
    CHECK(same(r1.dx, r2.dx));
    CHECK(same(r2.dx, r3.dx));
    CHECK(same(g1.parameters(), g2.parameters()));
    CHECK(same(g2.parameters(), g3.parameters()));
}
