// R1 through the augmentation (StyleGAN3's Dreg): a discriminator seen through a fixed ADA draw is
// a module whose gradients and tangent rules are proven in double, and r1_exact on it agrees with
// its finite-difference oracle.
#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/models/image_discriminator.hpp>
#include <imbdef/policies/augmented_discriminator.hpp>
#include <imbdef/policies/r1_penalty.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;
using core::grad_mode;

namespace {
// 16 px, image channel + mask channel in; D sees `keep` of them.
models::discriminator_config small_config(core::index_t keep) {
    models::discriminator_config c;
    c.resolution = 16;
    c.in_channels = keep;
    c.channel_base = 64;
    c.channel_max = 8;
    return c;
}
using wrapped = policies::augmented_discriminator<models::image_discriminator, policies::ada>;
wrapped make(core::index_t keep, double p) {
    policies::ada a;
    a.p = p;
    a.options.exact_blits = false;  // every transform through the resampling path
    // Mild scalings: strong ones sample beyond the reflect margin, where grid sampling gives exact
    // zeros that put D's zero-initialised biases exactly on leaky-ReLU kinks, a point finite
    // differences cannot judge (they average the two one-sided slopes).
    a.options.scale_std = 0.05;
    a.options.aniso_std = 0.05;
    return wrapped(models::make_image_discriminator(small_config(keep)), a, 2, 1, keep, core::philox_stream{.seed = 5}, 0);
}
}  // namespace

TEST_CASE("D(select(A x)): gradients and tangent rules in double, D_img (image only) and D_match (pair)") {
    for (auto [keep, prob] : {std::pair<core::index_t, double>{1, 1.0}, {2, 0.0}, {2, 0.5}, {2, 1.0}}) {
        CAPTURE(keep);
        CAPTURE(prob);
        const wrapped w = make(keep, prob);
        testing::gradient_check_options go;
        go.max_elements_per_input = 24;
        // Down to small steps: a bias step of 1e-3 already crosses leaky-ReLU kinks somewhere in
        // the network (as in the discriminator's own whole-network checks).
        go.steps = {1e-3, 1e-4, 1e-5, 1e-6, 1e-7};
        const auto g = testing::check_gradients(testing::module_problem(w, testing::random_tensor({4, 2, 16, 16}, 1), 3), go);
        CHECK_MESSAGE(g.ok, g.to_string());
        testing::second_order_options so;
        so.perturb_parameters = false;
        so.steps = {1e-5, 1e-6, 1e-7, 1e-8};
        const auto s = testing::check_second_order(testing::module_second_order_problem(w, testing::random_tensor({4, 2, 16, 16}, 2), 3), so);
        CHECK_MESSAGE(s.ok, s.to_string());
    }
}

TEST_CASE("r1_exact through the augmentation agrees with its oracle; at p = 0 it is R1 of D itself") {
    wrapped w = make(2, 1.0);
    nn::parameter_layout layout;
    w.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout), exact(layout), oracle(layout);
    params.initialize(7);
    const auto x = testing::random_tensor({4, 2, 16, 16}, 4);
    const auto p = std::as_const(params).views();
    const double value = policies::r1_exact(w, p, x.cview(), 2.0, exact.views(), grad_mode::assign);
    const double value_fd = policies::r1_finite_difference(w, p, x.cview(), 2.0, oracle.views(), grad_mode::assign);
    CHECK(value == doctest::Approx(value_fd).epsilon(1e-12));
    double worst = 0, scale = 0;
    for (core::index_t i = 0; i < exact.parameters().numel(); ++i) {
        worst = std::max(worst, std::abs(exact.parameters()[i] - oracle.parameters()[i]));
        scale = std::max(scale, std::abs(exact.parameters()[i]));
    }
    INFO("worst difference " << worst << " of scale " << scale);
    CHECK(scale > 0);
    CHECK(worst < 1e-6 * scale);

    // p = 0: the augmentation is the identity, so the penalty is D's own.
    wrapped identity = make(2, 0.0);
    nn::parameter_layout il;
    identity.declare(nn::registry(il));
    auto d = models::make_image_discriminator(small_config(2));
    nn::parameter_layout dl;
    d.declare(nn::registry(dl));
    nn::parameter_store<double> a(layout), b(dl);
    const double via = policies::r1_exact(identity, p, x.cview(), 2.0, a.views(), grad_mode::assign);
    const double direct = policies::r1_exact(d, nn::parameter_views<const double>(dl, params.parameters().cview(), params.buffers().cview()),
                                             x.cview(), 2.0, b.views(), grad_mode::assign);
    CHECK(via == direct);
    for (core::index_t i = 0; i < a.parameters().numel(); ++i) CHECK(a.parameters()[i] == b.parameters()[i]);
    CHECK_THROWS_AS(wrapped(models::make_image_discriminator(small_config(2)), policies::ada{}, 2, 1, 3,
                            core::philox_stream{}, 0),
                    imbdef::error);
}
