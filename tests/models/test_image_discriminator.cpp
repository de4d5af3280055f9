// The image discriminator: official parameter counts, whole-network gradients and tangent rules in
// double, exact R1 against its oracles, and determinism across thread counts.
#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/core/parallel.hpp>
#include <imbdef/models/image_discriminator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/policies/r1_penalty.hpp>
#include <imbdef/testing/module_check.hpp>

using namespace imbdef;
using core::grad_mode;

namespace {
// Small enough for finite differences: 16 px, channels 4 -> 8 -> 8.
models::discriminator_config small_config() {
    models::discriminator_config c;
    c.resolution = 16;
    c.in_channels = 2;
    c.channel_base = 64;
    c.channel_max = 8;
    return c;
}
core::tensor<double> images(std::uint64_t seed) { return testing::random_tensor({4, 2, 16, 16}, seed); }

long long parameter_count(const models::discriminator_config& c) {
    auto d = models::make_image_discriminator(c);
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    return layout.count(nn::tensor_role::parameter);
}
}  // namespace

TEST_CASE("parameter counts equal the official networks'") {
    models::discriminator_config t256;
    CHECK(parameter_count(t256) == 28864129);
    CHECK(parameter_count(models::preset_by_name("cpu64").image_discriminator(3)) == 1465025);
    CHECK(parameter_count(models::preset_by_name("tiny").image_discriminator(3)) == 84673);
    auto d = models::make_image_discriminator(small_config());
    nn::parameter_layout layout;
    d.declare(nn::registry(layout).scope("D"));
    CHECK(layout.find("D.blocks.b0.main.conv1.weight").has_value());
    CHECK(layout.find("D.blocks.b1.skip.weight").has_value());
    CHECK_FALSE(layout.find("D.blocks.b1.skip.bias").has_value());
    CHECK(layout.find("D.epilogue.out.bias").has_value());
    CHECK(d.output_shape({4, 2, 16, 16}) == core::shape{4, 1});
}

TEST_CASE("whole-network gradients: input and every parameter, in double") {
    const auto d = models::make_image_discriminator(small_config());
    testing::gradient_check_options o;
    o.max_elements_per_input = 24;
    const auto r = testing::check_gradients(testing::module_problem(d, images(1), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("whole-network tangent rules (forward-over-reverse), parameters held fixed") {
    const auto d = models::make_image_discriminator(small_config());
    testing::second_order_options o;
    o.perturb_parameters = false;
    const auto r = testing::check_second_order(testing::module_second_order_problem(d, images(2), 3), o);
    CHECK_MESSAGE(r.ok, r.to_string());
}

TEST_CASE("exact R1 agrees with the finite-difference oracle and with differences of the penalty") {
    const auto d = models::make_image_discriminator(small_config());
    nn::parameter_layout layout;
    auto dm = d;
    dm.declare(nn::registry(layout));
    nn::parameter_store<double> params(layout), exact(layout), oracle(layout);
    params.initialize(5);
    const auto x = images(3);
    const double gamma = 2.0;
    const auto p = std::as_const(params).views();
    const double value = policies::r1_exact(dm, p, x.cview(), gamma, exact.views(), grad_mode::assign);
    const double value_fd = policies::r1_finite_difference(dm, p, x.cview(), gamma, oracle.views(), grad_mode::assign);
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
    for (std::uint64_t k = 0; checked < 20; ++k) {
        const auto i = static_cast<core::index_t>(pick.bits(k) % static_cast<std::uint32_t>(layout.size(nn::tensor_role::parameter)));
        if (exact.parameters()[i] == 0.0 && oracle.parameters()[i] == 0.0) continue;  // alignment gaps
        const double h = 1e-5;
        const double saved = params.parameters()[i];
        params.parameters()[i] = saved + h;
        const double up = policies::r1_exact(dm, std::as_const(params).views(), x.cview(), gamma, exact.views(), grad_mode::none);
        params.parameters()[i] = saved - h;
        const double down = policies::r1_exact(dm, std::as_const(params).views(), x.cview(), gamma, exact.views(), grad_mode::none);
        params.parameters()[i] = saved;
        const double numeric = (up - down) / (2 * h);
        INFO("parameter " << i << ": exact " << exact.parameters()[i] << ", numeric " << numeric);
        CHECK(std::abs(exact.parameters()[i] - numeric) <= 1e-6 + 1e-4 * std::abs(numeric));
        ++checked;
    }
}

TEST_CASE("the same seed gives the same outputs, bit for bit, whatever the thread count") {
    auto d = models::make_image_discriminator(models::preset_by_name("tiny").image_discriminator(3));
    nn::parameter_layout layout;
    d.declare(nn::registry(layout));
    nn::parameter_store<float> params(layout);
    params.initialize(11);
    core::tensor<float> x({8, 3, 32, 32});
    core::fill_normal(x.view(), core::philox_stream{.seed = 4});
    const int saved = core::num_threads();
    core::tensor<float> y1({8, 1}), y2({8, 1});
    models::image_discriminator::context<float> c1, c2;
    core::set_num_threads(1);
    d.forward(std::as_const(params).views(), x.cview(), y1.view(), c1);
    core::set_num_threads(2);
    d.forward(std::as_const(params).views(), x.cview(), y2.view(), c2);
    core::set_num_threads(saved);
    for (core::index_t i = 0; i < 8; ++i) CHECK(y1[i] == y2[i]);
}
