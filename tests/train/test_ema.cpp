// The generator EMA: StyleGAN's schedule, the average over parameters, buffers copied.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include <imbdef/train/ema.hpp>

using namespace imbdef;
using namespace imbdef::train;
using core::index_t;

TEST_CASE("ema_beta follows StyleGAN's half-life with ramp-up") {
    const ema_options o = ema_options::for_batch(32);
    CHECK(o.half_life_kimg == 10.0);
    CHECK(o.rampup == 0.05);
    CHECK(ema_options::for_batch(8).half_life_kimg == 2.5);

    CHECK(ema_beta(o, 0, 32) == 0.0);  // the first update copies the generator
    // Early on the ramp-up bounds the half-life: ema_nimg = 0.05 * 1000 = 50 images.
    CHECK(ema_beta(o, 1000, 32) == doctest::Approx(std::pow(0.5, 32.0 / 50.0)).epsilon(1e-15));
    // Later the half-life itself: min(10000, 0.05 * 1e6) = 10000 images.
    CHECK(ema_beta(o, 1'000'000, 32) == doctest::Approx(std::pow(0.5, 32.0 / 10000.0)).epsilon(1e-15));
    // The two meet at images_seen = 200 000.
    CHECK(ema_beta(o, 200'000, 32) == ema_beta(o, 400'000, 32));

    const ema_options no_ramp{.half_life_kimg = 10, .rampup = 0};
    CHECK(ema_beta(no_ramp, 0, 32) == doctest::Approx(std::pow(0.5, 32.0 / 10000.0)).epsilon(1e-15));
    CHECK(ema_beta({.half_life_kimg = 0, .rampup = 0}, 5000, 4) == 0.0);  // no averaging at all

    CHECK_THROWS_WITH_AS(ema_beta(o, -1, 32), doctest::Contains("ema_beta: expected images seen >= 0"), imbdef::error);
    CHECK_THROWS_WITH_AS(ema_beta(o, 0, 0), doctest::Contains("a batch of at least 1 image"), imbdef::error);
    CHECK_THROWS_WITH_AS(ema_beta({.half_life_kimg = -1}, 0, 1), doctest::Contains("half-life >= 0"), imbdef::error);
}

TEST_CASE("the half-life is what it says: the weight of old parameters halves every half_life_kimg") {
    // theta jumps from 0 to 1 and stays there; after exactly half_life_kimg * 1000 images the EMA
    // has covered half the distance.
    const ema_options o{.half_life_kimg = 1, .rampup = 0};
    core::tensor<double> ema(core::shape{1}, 0.0);
    const core::tensor<double> theta(core::shape{1}, 1.0);
    const index_t batch = 10;
    for (std::int64_t seen = 0; seen < 1000; seen += batch) ema_update(ema.view(), theta.cview(), ema_beta(o, seen + 1, batch));
    CHECK(ema[0] == doctest::Approx(0.5).epsilon(1e-12));
}

TEST_CASE_TEMPLATE("update_ema averages the trained parameters and copies the buffers", T, float, double) {
    nn::parameter_layout layout;
    const nn::registry r(layout);
    const auto w = r.parameter("synthesis.L0.weight", {5, 3}, nn::initializer::normal(0, 1));
    const auto b = r.parameter("synthesis.L0.bias", {5}, nn::initializer::uniform(-1, 1));
    const auto avg = r.buffer("mapping.w_avg", {7}, nn::initializer::normal(0, 1));
    nn::parameter_store<T> g(layout), g_ema(layout);
    g.initialize(1);
    g_ema.initialize(2);
    const auto before = g_ema.parameters().clone();

    const double beta = 0.75;
    update_ema(g_ema.views(), g.views(), beta);
    const auto e = g_ema.views();
    const auto v = g.views();
    for (const auto ref : {w, b})
        for (index_t i = 0; i < e[ref].numel(); ++i) {
            const T theta = v[ref][i];
            const T old = before[layout[ref].offset + i];
            CHECK(e[ref][i] == theta + static_cast<T>(beta) * (old - theta));
        }
    CHECK(std::memcmp(g_ema.buffers().data(), g.buffers().data(), g.buffers().bytes()) == 0);
    CHECK(e[avg][3] == v[avg][3]);
    for (index_t i = 15; i < 16; ++i) CHECK(g_ema.parameters()[i] == T(0));  // the gap after the weight

    // The store overload applies the schedule: at images_seen = 0 the copy is exact.
    CHECK(update_ema(g_ema, g, ema_options::for_batch(8), 0, 8) == 0.0);
    CHECK(std::memcmp(g_ema.parameters().data(), g.parameters().data(), g.parameters().bytes()) == 0);
}

TEST_CASE("mismatched sizes and betas are refused") {
    core::tensor<float> a(core::shape{4}), b(core::shape{5});
    CHECK_THROWS_WITH_AS(ema_update(a.view(), b.cview(), 0.5), doctest::Contains("ema_update: expected 5 EMA elements, found 4"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(ema_update(a.view(), a.cview(), 1.5), doctest::Contains("beta in [0, 1]"), imbdef::error);

    nn::parameter_layout l1, l2;
    nn::registry(l1).buffer("w_avg", {4}, nn::initializer::zeros());
    nn::registry(l2).buffer("w_avg", {40}, nn::initializer::zeros());
    nn::parameter_store<float> s1(l1), s2(l2);
    CHECK_THROWS_WITH_AS(update_ema(s1.views(), s2.views(), 0.5),
                         doctest::Contains("expected 48 flat buffer elements in the EMA copy, found 16"), imbdef::error);
}
