// Philox4x32-10 against the Random123 known answers, and the statistics and reproducibility of the
// uniform and normal draws built on it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include <imbdef/core.hpp>

using namespace imbdef::core;

TEST_CASE("philox4x32_10: Random123 known-answer vectors") {
    struct kat {
        philox_block counter;
        std::uint32_t k0, k1;
        philox_block expected;
    };
    const kat vectors[] = {
        {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
        {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
         {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
        {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
         {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
    };
    for (const auto& v : vectors) {
        const philox_block r = philox4x32_10(v.counter, v.k0, v.k1);
        for (int lane = 0; lane < 4; ++lane) CHECK(r.v[lane] == v.expected.v[lane]);
    }
    // Also usable at compile time.
    static_assert(philox4x32_10({{0, 0, 0, 0}}, 0, 0).v[0] == 0x6627e8d5u);
}

TEST_CASE("philox_stream: counter layout is (offset / 4, stream) under key seed") {
    const philox_stream s{0x299f31d0a4093822ull, 0x0370734413198a2eull};
    const philox_block b = s.block(0x85a308d3243f6a88ull);
    CHECK(b.v[0] == 0xd16cfe09u);
    CHECK(b.v[3] == 0x24126ea1u);
    for (std::uint64_t offset : {0ull, 1ull, 6ull, 0x123456789ull, (1ull << 62) - 1})
        CHECK(s.bits(offset) == s.block(offset >> 2).v[offset & 3]);
}

TEST_CASE("fp::log_unit and fp::sincos_turns are accurate to float precision") {
    double worst_log = 0, worst_trig = 0;
    for (int i = 1; i <= 200000; ++i) {
        const float x = static_cast<float>(i) / 200000.0f;
        const double ref = std::log(static_cast<double>(x));
        const double err = std::abs(fp::log_unit(x) - ref);
        worst_log = std::max(worst_log, ref == 0 ? err : err / std::abs(ref));
    }
    for (int i = 0; i < 200000; ++i) {
        const float t = static_cast<float>(i) / 200000.0f;
        float s, c;
        fp::sincos_turns(t, s, c);
        const double a = 2 * M_PI * static_cast<double>(t);
        worst_trig = std::max({worst_trig, std::abs(s - std::sin(a)), std::abs(c - std::cos(a))});
    }
    CHECK(worst_log < 3e-7);
    CHECK(worst_trig < 2e-7);
    CHECK(fp::log_unit(1.0f) == 0.0f);
    CHECK(fp::log_unit(5.9604644775390625e-08f) == doctest::Approx(-16.635532).epsilon(1e-6));
}

TEST_CASE("uniform draws lie strictly inside (0, 1) with the right moments") {
    tensor<float> u({1 << 20});
    fill_uniform(u.view(), philox_stream{7});
    double sum = 0, sum2 = 0;
    float lo = 1, hi = 0;
    for (float v : u) {
        sum += v;
        sum2 += static_cast<double>(v) * v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    const double n = static_cast<double>(u.numel());
    CHECK(lo > 0.0f);
    CHECK(hi < 1.0f);
    CHECK(std::abs(sum / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
    CHECK(std::abs(sum2 / n - sum * sum / n / n - 1.0 / 12) < 1e-3);
    CHECK(uniform_from_bits(0u) == 5.9604644775390625e-08f);
    CHECK(uniform_from_bits(0xffffffffu) == 1.0f - 5.9604644775390625e-08f);
}

TEST_CASE("normal draws have mean 0, variance 1, no skew and kurtosis 3") {
    tensor<double> z({1 << 21});
    fill_normal(z.view(), philox_stream{2024, 3});
    const double n = static_cast<double>(z.numel());
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0, beyond2 = 0;
    for (double v : z) {
        m1 += v;
        m2 += v * v;
        m3 += v * v * v;
        m4 += v * v * v * v;
        beyond2 += std::abs(v) > 2 ? 1 : 0;
    }
    m1 /= n, m2 /= n, m3 /= n, m4 /= n;
    // Bounds at about 5 standard errors of each estimate.
    CHECK(std::abs(m1) < 5 * std::sqrt(1 / n));
    CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2 / n));
    CHECK(std::abs(m3) < 5 * std::sqrt(15 / n));
    CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96 / n));
    CHECK(std::abs(beyond2 / n - 0.0455003) < 5 * std::sqrt(0.0455 * 0.9545 / n));
}

TEST_CASE("a fill is reproducible from (seed, stream, offset) and equals the matching slice") {
    const philox_stream rng{99, 1};
    tensor<float> whole({1001});
    const auto next = fill_normal(whole.view(), rng, 5);
    CHECK(next == 1006);
    for (std::uint64_t start : {0u, 1u, 3u, 4u, 497u}) {
        tensor<float> part({37});
        fill_normal(part.view(), rng, 5 + start);
        for (index_t i = 0; i < part.numel(); ++i) CHECK(part[i] == whole[static_cast<index_t>(start) + i]);
        CHECK(rng.normal(5 + start) == whole[static_cast<index_t>(start)]);
    }
    tensor<float> u1({10}), u2({10});
    fill_uniform(u1.view(), rng, 3, -2.0f, 2.0f);
    fill_uniform(u2.view(), rng, 3, -2.0f, 2.0f);
    for (index_t i = 0; i < 10; ++i) CHECK(u1[i] == u2[i]);
    CHECK(u1[0] == -2.0f + 4.0f * rng.uniform(3));
}

TEST_CASE("seeds and streams give different sequences") {
    tensor<float> a({64}), b({64}), c({64});
    fill_normal(a.view(), philox_stream{1, 0});
    fill_normal(b.view(), philox_stream{2, 0});
    fill_normal(c.view(), philox_stream{1, 1});
    int same_ab = 0, same_ac = 0;
    for (index_t i = 0; i < 64; ++i) {
        same_ab += a[i] == b[i];
        same_ac += a[i] == c[i];
    }
    CHECK(same_ab == 0);
    CHECK(same_ac == 0);
}

TEST_CASE("fills do not depend on the thread count") {
    const int saved = num_threads();
    tensor<float> one({100003}), many({100003});
    set_num_threads(1);
    fill_normal(one.view(), philox_stream{5}, 11);
    set_num_threads(4);
    fill_normal(many.view(), philox_stream{5}, 11);
    set_num_threads(saved);
    for (index_t i = 0; i < one.numel(); ++i)
        if (one[i] != many[i]) FAIL("element " << i << " differs");
}
