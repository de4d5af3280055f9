// Blends: the pointwise gates lifted by gate_blend (sigmoid at several kappa, the hard gate, a
// user's gate), the blurred hard mask, the kappa schedule and blend_at. Every backward is proven
// against finite differences in double with the gradient contract; values are checked against
// direct formulas, and bad shapes and parameters against their messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <type_traits>

#include <imbdef/policies/blend.hpp>
#include <imbdef/testing.hpp>

using namespace imbdef;
using namespace imbdef::policies;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;

namespace {

// A user's gate, written as the docs tell users to: S = (1 + m / (a + |m|)) / 2.
struct softsign_gate {
    static constexpr std::string_view name = "softsign";
    double a = 1.0;
    double value(double m) const { return 0.5 * (1.0 + m / (a + std::abs(m))); }
    double derivative(double m) const { return 0.5 * a / ((a + std::abs(m)) * (a + std::abs(m))); }
    void validate() const {
        IMBDEF_REQUIRE(a > 0.0, "softsign_gate", "a > 0", "a " + std::to_string(a));
    }
};

// The same gate with its derivative off by a factor 2: the checker must catch it.
struct wrong_softsign_gate : softsign_gate {
    double derivative(double m) const { return 2.0 * softsign_gate::derivative(m); }
};

static_assert(pointwise_gate<softsign_gate> && blend_policy<gate_blend<softsign_gate>>);
static_assert(gate_blend<softsign_gate>::name == "softsign_blend");

// Not gates: no derivative; a name that is not a compile-time constant.
struct no_derivative {
    static constexpr std::string_view name = "x";
    double value(double) const { return 0.0; }
};
struct runtime_name {
    static inline std::string_view name = "x";
    double value(double) const { return 0.0; }
    double derivative(double) const { return 0.0; }
};
static_assert(!pointwise_gate<no_derivative> && !pointwise_gate<runtime_name>);

// Logits uniform in +-[0.1, 1): both signs, never within a finite-difference step of the step at 0.
tensor<double> signed_logits(const shape& s, std::uint64_t seed) {
    tensor<double> m = testing::random_tensor(s, seed);
    for (index_t i = 0; i < m.numel(); ++i) m[i] = m[i] >= 0 ? 0.1 + 0.9 * m[i] : -0.1 + 0.9 * m[i];
    return m;
}

template <class B>
testing::gradient_problem blend_problem(const B& b, tensor<double> m, index_t channels = 3) {
    const shape s{m.size(0), channels, m.size(2), m.size(3)};
    testing::gradient_problem p;
    p.add_data("F_S", testing::random_tensor(s, 1)).add_data("F_R", testing::random_tensor(s, 2)).add_data("M", std::move(m));
    p.forward = [b](testing::input_views x) {
        tensor<double> f(x[0].shape());
        b.forward(x[0], x[1], x[2], f.view());
        return f;
    };
    p.backward = [b](testing::input_views x, core::const_view<double> dy, testing::grad_views dx, grad_mode mode, grad_mode) {
        b.backward(x[1], x[2], dy, dx[0], dx[1], dx[2], mode);
    };
    return p;
}

template <class B>
void check_blend_gradients(const B& b, tensor<double> m) {
    const auto r = testing::check_gradients(blend_problem(b, std::move(m)));
    CHECK_MESSAGE(r.ok, B::name << ": " << r.to_string());
}

// The backward's three gradients for one dF, under assign.
struct blend_grads {
    tensor<double> dfs, dfr, dm;
};

template <class B>
blend_grads run_backward(const B& b, const tensor<double>& fr, const tensor<double>& m, const tensor<double>& df) {
    blend_grads g{tensor<double>(df.shape(), std::numeric_limits<double>::quiet_NaN()),
                  tensor<double>(df.shape(), std::numeric_limits<double>::quiet_NaN()),
                  tensor<double>(m.shape(), std::numeric_limits<double>::quiet_NaN())};
    b.backward(fr.cview(), m.cview(), df.cview(), g.dfs.view(), g.dfr.view(), g.dm.view(), grad_mode::assign);
    return g;
}

// S of blurred_hard_blend by its definition: the 2-D sum of w(ky) w(kx) 1[M >= 0] over clamped
// neighbours, with the normalised Gaussian taps of radius ceil(3 sigma).
tensor<double> blurred_step_reference(const tensor<double>& m, double sigma) {
    const index_t r = static_cast<index_t>(std::ceil(3.0 * sigma)), h = m.size(2), w = m.size(3);
    std::vector<double> taps;
    double sum = 0.0;
    for (index_t k = -r; k <= r; ++k) sum += std::exp(-0.5 * double(k * k) / (sigma * sigma));
    for (index_t k = -r; k <= r; ++k) taps.push_back(std::exp(-0.5 * double(k * k) / (sigma * sigma)) / sum);
    tensor<double> s(m.shape());
    for (index_t n = 0; n < m.size(0); ++n)
        for (index_t y = 0; y < h; ++y)
            for (index_t x = 0; x < w; ++x)
                for (index_t ky = -r; ky <= r; ++ky)
                    for (index_t kx = -r; kx <= r; ++kx) {
                        const index_t yy = std::clamp<index_t>(y + ky, 0, h - 1), xx = std::clamp<index_t>(x + kx, 0, w - 1);
                        if (m[(n * h + yy) * w + xx] >= 0) s[(n * h + y) * w + x] += taps[ky + r] * taps[kx + r];
                    }
    return s;
}

}  // namespace

TEST_CASE("sigmoid blend: F = F_S + beta sigmoid(kappa M) F_R, gradients for several kappa") {
    for (const double kappa : {0.5, 3.0, 10.0, 30.0}) {
        CAPTURE(kappa);
        check_blend_gradients(sigmoid_blend{.gate = {.kappa = kappa}, .beta = 0.7}, testing::random_tensor({2, 1, 4, 5}, 3));
    }
    tensor<float> fs({1, 2, 1, 1}, {1.0f, 2.0f}), fr({1, 2, 1, 1}, {10.0f, 20.0f}), m({1, 1, 1, 1}, {0.0f}), f({1, 2, 1, 1});
    sigmoid_blend{}.forward(fs.cview(), fr.cview(), m.cview(), f.view());
    CHECK(f[0] == doctest::Approx(6.0f));  // S(0) = 1/2
    CHECK(f[1] == doctest::Approx(12.0f));
    CHECK(sigmoid_blend{}.gate.kappa == 10.0);  // METHOD.md's default
    CHECK(sigmoid_blend::name == "sigmoid_blend");
    CHECK_THROWS_WITH_AS(sigmoid_blend{.gate = {.kappa = 0.0}}.forward(fs.cview(), fr.cview(), m.cview(), f.view()),
                         doctest::Contains("kappa > 0 and finite"), imbdef::error);
    CHECK_THROWS_WITH_AS(sigmoid_blend{.beta = std::nan("")}.forward(fs.cview(), fr.cview(), m.cview(), f.view()),
                         doctest::Contains("policies::sigmoid_blend: expected a finite beta"), imbdef::error);
}

TEST_CASE("gate_blend lifts a user's gate: values, gradients, its validate, and a wrong derivative is caught") {
    const gate_blend<softsign_gate> soft{.gate = {.a = 2.0}, .beta = 1.5};
    check_blend_gradients(soft, signed_logits({2, 1, 3, 4}, 5));  // away from the kink of |m| at 0
    tensor<double> fs({1, 1, 1, 3}), fr({1, 1, 1, 3}, 1.0), m({1, 1, 1, 3}, {-2.0, 0.0, 6.0}), f({1, 1, 1, 3});
    soft.forward(fs.cview(), fr.cview(), m.cview(), f.view());
    CHECK(f[0] == doctest::Approx(1.5 * 0.25));
    CHECK(f[1] == doctest::Approx(1.5 * 0.5));
    CHECK(f[2] == doctest::Approx(1.5 * 0.875));
    CHECK_THROWS_WITH_AS(gate_blend<softsign_gate>{.gate = {.a = -1.0}}.forward(fs.cview(), fr.cview(), m.cview(), f.view()),
                         doctest::Contains("softsign_gate: expected a > 0"), imbdef::error);

    const auto wrong = testing::check_gradients(blend_problem(gate_blend<wrong_softsign_gate>{}, signed_logits({2, 1, 3, 4}, 5)));
    CHECK_FALSE(wrong.ok);
    REQUIRE(wrong.worst.has_value());
    CHECK(wrong.worst->input == "M");  // only the mask's gradient is wrong
}

TEST_CASE("hard gate blend: residual only where M >= 0, dF_R = beta S dF, and dM exactly 0") {
    const hard_gate_blend hard{.beta = 0.6};
    check_blend_gradients(hard, signed_logits({2, 1, 4, 5}, 3));
    check_blend_gradients(hard, testing::random_tensor({2, 1, 4, 5}, 3, 0, 0.1, 1.0));  // all open

    const tensor<double> fr = testing::random_tensor({2, 3, 4, 5}, 2), m = signed_logits({2, 1, 4, 5}, 4),
                         df = testing::random_tensor({2, 3, 4, 5}, 6);
    const blend_grads g = run_backward(hard, fr, m, df);
    for (index_t i = 0; i < df.numel(); ++i) {
        const double s = m[(i / 60) * 20 + i % 20] >= 0 ? 1.0 : 0.0;
        CHECK(g.dfs[i] == df[i]);
        CHECK(g.dfr[i] == 0.6 * s * df[i]);
    }
    for (index_t i = 0; i < m.numel(); ++i) CHECK(g.dm[i] == 0.0);

    tensor<float> fs({1, 1, 1, 2}), frf({1, 1, 1, 2}, 1.0f), mf({1, 1, 1, 2}, {-0.5f, 0.0f}), f({1, 1, 1, 2});
    hard.forward(fs.cview(), frf.cview(), mf.cview(), f.view());
    CHECK(f[0] == 0.0f);
    CHECK(f[1] == 0.6f);  // M = 0 is inside the defect
}

TEST_CASE("blurred hard blend: S is the clamped-border Gaussian blur of 1[M >= 0], dM = 0") {
    for (const double sigma : {0.4, 1.0, 2.5}) {
        CAPTURE(sigma);
        const blurred_hard_blend blur{.sigma = sigma, .beta = 0.8};
        check_blend_gradients(blur, signed_logits({2, 1, 6, 7}, 3));

        const tensor<double> m = signed_logits({2, 1, 6, 7}, 7);
        tensor<double> s(m.shape());
        blur.gate_map(m.cview(), s.view());
        const tensor<double> expected = blurred_step_reference(m, sigma);
        for (index_t i = 0; i < s.numel(); ++i) CHECK(s[i] == doctest::Approx(expected[i]).epsilon(1e-13));

        const tensor<double> fr = testing::random_tensor({2, 3, 6, 7}, 2), df = testing::random_tensor({2, 3, 6, 7}, 6);
        const blend_grads g = run_backward(blur, fr, m, df);
        for (index_t i = 0; i < df.numel(); ++i) {
            CHECK(g.dfs[i] == df[i]);
            CHECK(g.dfr[i] == doctest::Approx(0.8 * s[(i / 126) * 42 + i % 42] * df[i]).epsilon(1e-15));
        }
        for (index_t i = 0; i < m.numel(); ++i) CHECK(g.dm[i] == 0.0);
    }
    const blurred_hard_blend blur{};
    CHECK(blur.sigma == 1.0);
    tensor<double> m({1, 1, 2, 2}), s({1, 1, 2, 2});
    CHECK_THROWS_WITH_AS(blurred_hard_blend{.sigma = 0.0}.gate_map(m.cview(), s.view()),
                         doctest::Contains("policies::blurred_hard_blend: expected sigma > 0 and finite, found sigma 0"),
                         imbdef::error);
    tensor<double> two({1, 2, 2, 2});
    CHECK_THROWS_WITH_AS(blur.gate_map(two.cview(), s.view()), doctest::Contains("expected M of shape [N, 1, H, W]"),
                         imbdef::error);
}

TEST_CASE("blurred hard blend: a constant mask stays constant, up to the border and beyond the radius") {
    for (const shape& sh : {shape{2, 1, 5, 9}, shape{1, 1, 1, 1}, shape{1, 1, 2, 2}}) {
        CAPTURE(sh.to_string());
        for (const double sigma : {0.7, 3.0}) {
            tensor<double> on(sh, 0.5), off(sh, -0.5), s(sh, 7.0);
            const blurred_hard_blend blur{.sigma = sigma};
            blur.gate_map(off.cview(), s.view());
            for (index_t i = 0; i < s.numel(); ++i) CHECK(s[i] == 0.0);
            blur.gate_map(on.cview(), s.view());
            for (index_t i = 0; i < s.numel(); ++i) {
                CHECK(s[i] == s[0]);
                CHECK(std::abs(s[i] - 1.0) < 1e-14);
            }
            // In float the full mask gates exactly like the hard gate.
            tensor<float> onf(sh, 0.5f), sf(sh);
            blur.gate_map(onf.cview(), sf.view());
            for (index_t i = 0; i < sf.numel(); ++i) CHECK(sf[i] == 1.0f);
        }
    }
}

TEST_CASE("blurred hard blend: the blur of a step is monotone and symmetric, along x and along y") {
    const index_t len = 24, other = 3;
    for (const double sigma : {0.5, 1.0, 2.0}) {
        CAPTURE(sigma);
        tensor<double> mx({1, 1, other, len}), my({1, 1, len, other});
        for (index_t a = 0; a < other; ++a)
            for (index_t b = 0; b < len; ++b) {
                mx[a * len + b] = b < len / 2 ? -1.0 : 1.0;
                my[b * other + a] = b < len / 2 ? -1.0 : 1.0;
            }
        tensor<double> sx(mx.shape()), sy(my.shape());
        const blurred_hard_blend blur{.sigma = sigma};
        blur.gate_map(mx.cview(), sx.view());
        blur.gate_map(my.cview(), sy.view());
        for (index_t a = 0; a < other; ++a)
            for (index_t b = 0; b < len; ++b) {
                const double v = sx[a * len + b];
                CHECK(v == sx[b]);                   // every row alike
                CHECK(v == doctest::Approx(sy[b * other + a]).epsilon(1e-15));  // the same profile along y
                CHECK(v + sx[len - 1 - b] == doctest::Approx(1.0).epsilon(1e-14));  // antisymmetric about the step
                if (b > 0) CHECK(v >= sx[a * len + b - 1]);  // monotone, exactly
            }
        CHECK(sx[len / 2 - 1] < 0.5);
        CHECK(sx[len / 2] > 0.5);
        CHECK(sx[0] == 0.0);  // beyond the radius from the step S is still the hard mask
        CHECK(sx[len - 1] == doctest::Approx(1.0).epsilon(1e-15));
    }
    // A wider blur softens more: the first pixel inside the step is further from 1.
    tensor<double> m({1, 1, 1, 12}), s1({1, 1, 1, 12}), s2({1, 1, 1, 12});
    for (index_t b = 0; b < 12; ++b) m[b] = b < 6 ? -1.0 : 1.0;
    blurred_hard_blend{.sigma = 0.5}.gate_map(m.cview(), s1.view());
    blurred_hard_blend{.sigma = 2.0}.gate_map(m.cview(), s2.view());
    CHECK(s2[6] < s1[6]);
}

TEST_CASE("blends on maps larger than one tile agree with the formula, in float and in place") {
    const tensor<double> fs = testing::random_tensor({2, 3, 37, 41}, 1), fr = testing::random_tensor({2, 3, 37, 41}, 2),
                         m = testing::random_tensor({2, 1, 37, 41}, 3), df = testing::random_tensor({2, 3, 37, 41}, 4);
    const index_t hw = 37 * 41;
    const sigmoid_blend sig{.gate = {.kappa = 4.0}, .beta = 0.9};
    tensor<double> f(fs.shape());
    sig.forward(fs.cview(), fr.cview(), m.cview(), f.view());
    const blend_grads g = run_backward(sig, fr, m, df);
    tensor<double> dm_expected(m.shape());
    for (index_t i = 0; i < fs.numel(); ++i) {
        const double mm = m[(i / (3 * hw)) * hw + i % hw], s = sig.gate.value(mm);
        CHECK(f[i] == doctest::Approx(fs[i] + 0.9 * s * fr[i]).epsilon(1e-15));
        CHECK(g.dfr[i] == doctest::Approx(0.9 * s * df[i]).epsilon(1e-15));
        dm_expected[(i / (3 * hw)) * hw + i % hw] += 0.9 * sig.gate.derivative(mm) * df[i] * fr[i];
    }
    for (index_t i = 0; i < m.numel(); ++i) CHECK(g.dm[i] == doctest::Approx(dm_expected[i]).epsilon(1e-13));

    // In place (F is F_S) and in float, both the pointwise and the blurred blend.
    const auto in_place = [&](const auto& b) {
        tensor<float> a(fs.shape(), core::uninitialized), r(fs.shape(), core::uninitialized), mm(m.shape(), core::uninitialized),
            out(fs.shape());
        for (index_t i = 0; i < fs.numel(); ++i) {
            a[i] = static_cast<float>(fs[i]);
            r[i] = static_cast<float>(fr[i]);
        }
        for (index_t i = 0; i < m.numel(); ++i) mm[i] = static_cast<float>(m[i]);
        b.forward(a.cview(), r.cview(), mm.cview(), out.view());
        b.forward(a.cview(), r.cview(), mm.cview(), a.view());
        for (index_t i = 0; i < out.numel(); ++i) CHECK(a[i] == out[i]);
    };
    in_place(sig);
    in_place(blurred_hard_blend{.sigma = 1.5});
}

TEST_CASE("blends refuse bad shapes, naming the argument and both shapes") {
    const sigmoid_blend b{};
    tensor<double> fs({2, 3, 4, 5}), fr({2, 3, 4, 5}), m({2, 1, 4, 5}), f({2, 3, 4, 5});
    tensor<double> rank3({3, 4, 5}), fr_bad({2, 2, 4, 5}), m2({2, 2, 4, 5}), m_small({2, 1, 4, 4}), f_bad({2, 3, 5, 4});
    CHECK_THROWS_WITH_AS(b.forward(rank3.cview(), fr.cview(), m.cview(), f.view()),
                         doctest::Contains("policies::sigmoid_blend: expected F_S of rank 4 [N, C, H, W], found F_S of shape [3, 4, 5]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(b.forward(fs.cview(), fr_bad.cview(), m.cview(), f.view()),
                         doctest::Contains("expected F_R of shape [2, 3, 4, 5] (the shape of F_S), found F_R of shape [2, 2, 4, 5]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(b.forward(fs.cview(), fr.cview(), m2.cview(), f.view()),
                         doctest::Contains("expected M of shape [2, 1, 4, 5]"), imbdef::error);
    CHECK_THROWS_WITH_AS(b.forward(fs.cview(), fr.cview(), m_small.cview(), f.view()),
                         doctest::Contains("found M of shape [2, 1, 4, 4]"), imbdef::error);
    CHECK_THROWS_WITH_AS(b.forward(fs.cview(), fr.cview(), m.cview(), f_bad.view()),
                         doctest::Contains("expected F of shape [2, 3, 4, 5] (the shape of F_S)"), imbdef::error);
    const blurred_hard_blend blur{};
    CHECK_THROWS_WITH_AS(blur.forward(fs.cview(), fr.cview(), m2.cview(), f.view()),
                         doctest::Contains("policies::blurred_hard_blend: expected M of shape [2, 1, 4, 5]"), imbdef::error);

    tensor<double> df({2, 3, 4, 5}), dfs({2, 3, 4, 5}), dfr({2, 3, 4, 5}), dm({2, 1, 4, 5}), dm_bad({2, 1, 5, 4}), empty({0});
    CHECK_THROWS_WITH_AS(b.backward(fr.cview(), m.cview(), df.cview(), dfs.view(), dfr.view(), dm_bad.view(), grad_mode::assign),
                         doctest::Contains("policies::sigmoid_blend backward: expected dM of shape [2, 1, 4, 5] (the shape of M)"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(blur.backward(fr.cview(), m.cview(), df.cview(), f_bad.view(), dfr.view(), dm.view(), grad_mode::accumulate),
                         doctest::Contains("expected dF_S of shape [2, 3, 4, 5] (the shape of dF)"), imbdef::error);
    CHECK_THROWS_WITH_AS(b.backward(fr_bad.cview(), m.cview(), df.cview(), dfs.view(), dfr.view(), dm.view(), grad_mode::assign),
                         doctest::Contains("expected F_R of shape [2, 3, 4, 5] (the shape of dF)"), imbdef::error);
    // Under none nothing is read or written, so empty buffers are fine.
    CHECK_NOTHROW(b.backward(fr.cview(), m.cview(), df.cview(), empty.view(), empty.view(), empty.view(), grad_mode::none));
    CHECK_NOTHROW(blur.backward(fr.cview(), m.cview(), df.cview(), empty.view(), empty.view(), empty.view(), grad_mode::none));
}

TEST_CASE("kappa schedule: soft to sharp, monotone from kappa_start to kappa_end") {
    const scheduled_sigmoid_blend<> sched{};  // cosine ramp from 0.1 to 0.6, kappa 1 -> 10
    CHECK(sched.kappa(0.0) == 1.0);
    CHECK(sched.kappa(0.1) == 1.0);
    CHECK(sched.kappa(0.35) == doctest::Approx(5.5));
    CHECK(sched.kappa(0.6) == doctest::Approx(10.0));
    CHECK(sched.kappa(1.0) == 10.0);
    const scheduled_sigmoid_blend<linear_schedule> lin{.kappa_start = 2.0, .kappa_end = 20.0, .schedule = {.p0 = 0.0, .p1 = 1.0}};
    CHECK(lin.kappa(0.25) == doctest::Approx(6.5));
    double prev_cos = 0.0, prev_lin = 0.0;
    for (int i = 0; i <= 200; ++i) {
        const double p = i / 200.0;
        CHECK(sched.kappa(p) >= prev_cos);
        CHECK(lin.kappa(p) >= prev_lin);
        prev_cos = sched.kappa(p);
        prev_lin = lin.kappa(p);
    }
    CHECK(prev_lin == 20.0);
    CHECK_THROWS_WITH_AS(sched.kappa(1.5), doctest::Contains("cosine_ramp schedule: expected progress in [0, 1]"), imbdef::error);
}

TEST_CASE("blend_at: the scheduled blend's sigmoid at progress p, any other blend unchanged") {
    const scheduled_sigmoid_blend<> sched{.kappa_start = 2.0, .kappa_end = 12.0, .beta = 0.5};
    static_assert(std::is_same_v<decltype(blend_at(sched, 0.5)), sigmoid_blend>);
    for (const double p : {0.0, 0.35, 0.5, 1.0}) {
        CAPTURE(p);
        const sigmoid_blend b = blend_at(sched, p);
        CHECK(b.gate.kappa == sched.kappa(p));
        CHECK(b.beta == 0.5);
        check_blend_gradients(b, testing::random_tensor({2, 1, 4, 5}, 3));
    }
    CHECK(blend_at(sched, 0.0).gate.kappa == 2.0);
    CHECK(blend_at(sched, 1.0).gate.kappa == 12.0);

    // Without a progress the scheduled blend is its end point, sharp.
    check_blend_gradients(sched, testing::random_tensor({2, 1, 4, 5}, 3));
    const tensor<double> fs = testing::random_tensor({1, 2, 3, 3}, 1), fr = testing::random_tensor({1, 2, 3, 3}, 2),
                         m = testing::random_tensor({1, 1, 3, 3}, 3);
    tensor<double> f1(fs.shape()), f2(fs.shape());
    sched.forward(fs.cview(), fr.cview(), m.cview(), f1.view());
    sigmoid_blend{.gate = {.kappa = 12.0}, .beta = 0.5}.forward(fs.cview(), fr.cview(), m.cview(), f2.view());
    for (index_t i = 0; i < f1.numel(); ++i) CHECK(f1[i] == f2[i]);

    const sigmoid_blend plain{.gate = {.kappa = 3.0}, .beta = 0.25};
    static_assert(std::is_same_v<decltype(blend_at(plain, 0.5)), sigmoid_blend>);
    CHECK(blend_at(plain, 0.9).gate.kappa == 3.0);
    CHECK(blend_at(plain, 0.9).beta == 0.25);
    CHECK(blend_at(blurred_hard_blend{.sigma = 2.0}, 0.2).sigma == 2.0);
    static_assert(!progress_dependent_blend<sigmoid_blend> && !progress_dependent_blend<blurred_hard_blend>);
    CHECK_THROWS_WITH_AS(blend_at(plain, -0.1), doctest::Contains("policies::blend_at(sigmoid_blend): expected progress in [0, 1]"),
                         imbdef::error);
    CHECK_THROWS_AS(blend_at(sched, 1.1), imbdef::error);
}
