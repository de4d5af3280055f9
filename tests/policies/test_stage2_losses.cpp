// Stage-2 generator loss terms (ESL mode-seeking and fidelity, RCL) and the generator objective:
// hand-computed values, behaviour, errors, and every gradient proven by the checker in double.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <imbdef/policies/edge_fidelity_loss.hpp>
#include <imbdef/policies/edge_structure_loss.hpp>
#include <imbdef/policies/generator_objective.hpp>
#include <imbdef/policies/region_consistency_loss.hpp>
#include <imbdef/testing.hpp>

#include "../support/heap_counter.hpp"

using namespace imbdef;
using namespace imbdef::policies;
using core::grad_mode;
using core::tensor;

namespace {

// w_1 and w_1 plus offsets of magnitude in [0.2, 0.6) with random signs: no ties in |w_1 - w_2|.
tensor<double> shifted_codes(const tensor<double>& w1, std::uint64_t seed) {
    tensor<double> w2 = w1.clone();
    const tensor<double> r = testing::random_tensor(w1.shape(), seed, 0, -1, 1);
    for (core::index_t i = 0; i < w2.numel(); ++i) w2[i] += (r[i] >= 0 ? 0.2 + 0.4 * r[i] : -0.2 + 0.4 * r[i]);
    return w2;
}

// Logits whose soft mask tanh(k M) takes the given values.
tensor<double> logits_for_tanh(std::initializer_list<double> soft, const core::shape& s, double k = 10.0) {
    tensor<double> m(s, soft);
    for (double& v : m) v = std::atanh(v) / k;
    return m;
}

}  // namespace

// --- ESL, mode-seeking -------------------------------------------------------------------------

// Inputs in the checker's order: M_1, M_2 (data), w_1, w_2 (parameters: their mode is code_mode).
testing::gradient_problem esl_problem(const edge_structure_loss& esl, const core::shape& mask, const core::shape& codes) {
    testing::gradient_problem p;
    const auto batch = [](testing::input_views x) {
        return generated_batch<double>{.mask_logits = x[0], .defect_codes = x[2], .mask_logits_2 = x[1],
                                       .defect_codes_2 = x[3]};
    };
    p.forward = [esl, batch](testing::input_views x) {
        tensor<double> y({1});
        y[0] = esl.value(batch(x));
        return y;
    };
    // The scale is the checker's output weight: L = r * ESL.
    p.backward = [esl, batch](testing::input_views x, core::const_view<double> dy, testing::grad_views dx, grad_mode dm,
                              grad_mode cm) {
        esl.backward(batch(x), dy[0],
                     generated_batch_grads<double>{.mask_logits = dx[0], .defect_codes = dx[2], .mask_logits_2 = dx[1],
                                                   .defect_codes_2 = dx[3]},
                     dm, cm);
    };
    tensor<double> w1 = testing::random_tensor(codes, 13);
    tensor<double> w2 = shifted_codes(w1, 14);
    p.add_data("M_1", testing::random_tensor(mask, 11, 0, -0.15, 0.15))
        .add_data("M_2", testing::random_tensor(mask, 12, 0, -0.15, 0.15))
        .add_parameter("w_1", std::move(w1))
        .add_parameter("w_2", std::move(w2));
    return p;
}

TEST_CASE("ESL mode-seeking: gradients for M_1, M_2, w_1, w_2 under every mode pair") {
    const auto r = testing::check_gradients(esl_problem(edge_structure_loss{}, {2, 1, 5, 6}, {2, 8}));
    CHECK_MESSAGE(r.ok, r.to_string());
    // Softer masks, unnormalised Sobel with a zero border, per-layer codes [N, L, w_dim].
    edge_structure_loss other{.mask_sharpness = 3.0};
    other.sobel.normalized = false;
    other.sobel.border = ops::border_mode::zero;
    const auto r2 = testing::check_gradients(esl_problem(other, {3, 1, 4, 4}, {3, 2, 5}));
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("ESL mode-seeking: a hand-computed value, identical masks, and growth as the masks become alike") {
    // One row [tanh values -0.5, 0, 0.5] against a flat mask. Replicate border, normalised Sobel:
    // gx = (x[j+1] - x[j-1]) / 2 with x[-1] = x[0], x[3] = x[2]: 0.25, 0.5, 0.25; gy = 0.
    const tensor<double> m1 = logits_for_tanh({-0.5, 0.0, 0.5}, {1, 1, 1, 3});
    const tensor<double> m2({1, 1, 1, 3});
    const tensor<double> w1({1, 2}, {0.3, -0.1}), w2({1, 2}, {0.1, 0.2});
    const edge_structure_loss esl{};
    const generated_batch<double> in{.mask_logits = m1, .defect_codes = w1, .mask_logits_2 = m2, .defect_codes_2 = w2};
    const double flat = std::sqrt(1e-6);
    const double d = (std::sqrt(0.0625 + 1e-6) - flat + std::sqrt(0.25 + 1e-6) - flat + std::sqrt(0.0625 + 1e-6) - flat) / 3;
    const double a = (0.2 + 0.3) / 2;
    CHECK(esl.value(in) == doctest::Approx(a / (d + 1e-5)).epsilon(1e-12));

    // The same mask twice: D = 0 exactly, L = A / eps.
    const generated_batch<double> same{.mask_logits = m1, .defect_codes = w1, .mask_logits_2 = m1, .defect_codes_2 = w2};
    CHECK(esl.value(same) == doctest::Approx(a / 1e-5).epsilon(1e-12));

    // M_2 = M_1 + t R: the closer the masks, the larger the loss.
    const tensor<double> base = testing::random_tensor({2, 1, 8, 8}, 21, 0, -0.3, 0.3);
    const tensor<double> noise = testing::random_tensor({2, 1, 8, 8}, 22, 0, -0.3, 0.3);
    const tensor<double> wa = testing::random_tensor({2, 16}, 23), wb = testing::random_tensor({2, 16}, 24);
    double previous = 0.0;
    for (double t : {1.0, 0.3, 0.1, 0.03}) {
        tensor<double> other = base.clone();
        for (core::index_t i = 0; i < other.numel(); ++i) other[i] += t * noise[i];
        const double l = esl.value(generated_batch<double>{.mask_logits = base, .defect_codes = wa, .mask_logits_2 = other,
                                                           .defect_codes_2 = wb});
        CHECK_MESSAGE(l > previous, "t = " << t << ": " << l << " after " << previous);
        previous = l;
    }

    // Float agrees with double.
    tensor<float> m1f({1, 1, 1, 3}), m2f({1, 1, 1, 3}), w1f({1, 2}), w2f({1, 2});
    for (int i = 0; i < 3; ++i) m1f[i] = static_cast<float>(m1[i]);
    for (int i = 0; i < 2; ++i) {
        w1f[i] = static_cast<float>(w1[i]);
        w2f[i] = static_cast<float>(w2[i]);
    }
    const float lf = esl.value(generated_batch<float>{.mask_logits = m1f, .defect_codes = w1f, .mask_logits_2 = m2f,
                                                      .defect_codes_2 = w2f});
    CHECK(lf == doctest::Approx(a / (d + 1e-5)).epsilon(1e-5));
}

TEST_CASE("ESL mode-seeking: bad shapes and parameters throw, naming what was expected") {
    const tensor<double> m({2, 1, 4, 4}), w({2, 8});
    const tensor<double> m_other({2, 1, 4, 5}), m_two_channels({2, 2, 4, 4}), w_wrong_n({3, 8}), w_flat({8});
    const edge_structure_loss esl{};
    const auto batch = [](const tensor<double>& m1, const tensor<double>& m2, const tensor<double>& w1,
                          const tensor<double>& w2) {
        return generated_batch<double>{.mask_logits = m1, .defect_codes = w1, .mask_logits_2 = m2, .defect_codes_2 = w2};
    };
    CHECK_THROWS_WITH_AS(esl.value(batch(m, m_other, w, w)),
                         doctest::Contains("policies::edge_structure: expected mask_logits_2 of mask_logits's shape [2, 1, "
                                           "4, 4], found mask_logits_2 of shape [2, 1, 4, 5]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(esl.value(batch(m_two_channels, m_two_channels, w, w)),
                         doctest::Contains("expected mask_logits of shape [N, 1, H, W]"), imbdef::error);
    CHECK_THROWS_WITH_AS(esl.value(batch(m, m, w_wrong_n, w_wrong_n)),
                         doctest::Contains("expected defect_codes of shape [2, w_dim]"), imbdef::error);
    CHECK_THROWS_AS(esl.value(batch(m, m, w_flat, w_flat)), imbdef::error);
    CHECK_THROWS_WITH_AS(esl.value(generated_batch<double>{}), doctest::Contains("found mask_logits of shape [0]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS((edge_structure_loss{.eps = 0.0}.value(batch(m, m, w, w))),
                         doctest::Contains("expected eps finite and > 0"), imbdef::error);
    // A gradient buffer of the wrong shape throws under assign, and nothing was written.
    tensor<double> dm({2, 1, 4, 4}, 7.0), dm_bad({2, 1, 4, 5}), dw({2, 8});
    const generated_batch_grads<double> g{.mask_logits = dm, .defect_codes = dw, .mask_logits_2 = dm_bad,
                                          .defect_codes_2 = dw};
    CHECK_THROWS_WITH_AS(esl.backward(batch(m, m, w, w), 1.0, g, grad_mode::assign, grad_mode::assign),
                         doctest::Contains("expected the gradient of mask_logits_2 of mask_logits's shape"), imbdef::error);
    CHECK(dm[0] == 7.0);
    // Under none the buffers are not looked at.
    CHECK_NOTHROW(esl.backward(batch(m, m, w, w), 1.0, g, grad_mode::none, grad_mode::assign));
}

// --- ESL, fidelity -----------------------------------------------------------------------------

// Inputs: image, M (data); the background is a constant the problem keeps.
testing::gradient_problem fidelity_problem(const edge_fidelity_loss& f, core::const_view<double> background,
                                           double mask_range) {
    testing::gradient_problem p;
    const core::shape x = background.shape();
    p.add_data("image", testing::random_tensor(x, 31))
        .add_data("M", testing::random_tensor({x[0], 1, x[2], x[3]}, 32, 0, -mask_range, mask_range));
    p.forward = [f, background](testing::input_views in) {
        tensor<double> y({1});
        y[0] = f.value(generated_batch<double>{.image = in[0], .background = background, .mask_logits = in[1]});
        return y;
    };
    p.backward = [f, background](testing::input_views in, core::const_view<double> dy, testing::grad_views dx,
                                 grad_mode dm, grad_mode cm) {
        f.backward(generated_batch<double>{.image = in[0], .background = background, .mask_logits = in[1]}, dy[0],
                   generated_batch_grads<double>{.image = dx[0], .mask_logits = dx[1]}, dm, cm);
    };
    return p;
}

TEST_CASE("ESL fidelity: gradients for the image and M under every mode") {
    const tensor<double> bg = testing::random_tensor({2, 3, 6, 7}, 30);
    const auto r = testing::check_gradients(fidelity_problem(edge_fidelity_loss{}, bg, 0.2));
    CHECK_MESSAGE(r.ok, r.to_string());
    const tensor<double> grey = testing::random_tensor({1, 1, 5, 5}, 33);
    const auto r2 = testing::check_gradients(fidelity_problem(edge_fidelity_loss{.kappa = 4.0, .tau = 0.2}, grey, 0.5));
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("ESL fidelity: 0 when the image changes exactly at the mask boundary, about 1 when it does not") {
    // A 6x6 square defect in a 16x16 frame; a second sample with a 4x8 rectangle.
    const core::index_t h = 16, w = 16;
    tensor<double> m({2, 1, h, w});
    for (core::index_t y = 0; y < h; ++y)
        for (core::index_t x = 0; x < w; ++x) {
            m(0, 0, y, x) = (y >= 5 && y < 11 && x >= 5 && x < 11) ? 0.5 : -0.5;
            m(1, 0, y, x) = (y >= 6 && y < 10 && x >= 3 && x < 11) ? 0.5 : -0.5;
        }
    const edge_fidelity_loss f{};
    const tensor<double> bg = testing::random_tensor({2, 3, h, w}, 40);
    // The image: background plus amp * change(y, x) in every channel.
    const auto image_with = [&](auto change, double amp) {
        tensor<double> x = bg.clone();
        for (core::index_t n = 0; n < 2; ++n)
            for (core::index_t c = 0; c < 3; ++c)
                for (core::index_t y = 0; y < h; ++y)
                    for (core::index_t i = 0; i < w; ++i) x(n, c, y, i) += amp * change(n, y, i);
        return x;
    };
    const auto loss = [&](const tensor<double>& x) {
        return f.value(generated_batch<double>{.image = x, .background = bg, .mask_logits = m});
    };
    const auto soft = [&](core::index_t n, core::index_t y, core::index_t x) {
        return 1.0 / (1.0 + std::exp(-10.0 * m(n, 0, y, x)));
    };
    const double exact = loss(image_with(soft, 1.0));
    const double darker = loss(image_with(soft, -3.0));  // contrast and sign do not matter
    CHECK(exact < 1e-12);
    CHECK(darker < 1e-4);
    // The change stops 3 pixels outside the mask: no edge in the band.
    const auto grown = [&](core::index_t n, core::index_t y, core::index_t x) {
        return n == 0 ? double(y >= 2 && y < 14 && x >= 2 && x < 14) : double(y >= 3 && y < 13 && x >= 0 && x < 14);
    };
    const double missed = loss(image_with(grown, 1.0));
    CHECK(missed > 0.9);
    // No change at all is a flat edge map: about (1 - f)^2 with f the share of the frame the band
    // covers (here about 0.18).
    const double none = loss(bg);
    CHECK(none > 0.6);
    CHECK(none < missed);
    // The exact change plus a stripe far from the boundary: the stripe only dilutes.
    const auto striped = [&](core::index_t n, core::index_t y, core::index_t x) {
        return soft(n, y, x) + (x == 14 && y < 3 ? 0.5 : 0.0);
    };
    const double diluted = loss(image_with(striped, 1.0));
    CHECK(diluted > exact);
    CHECK(diluted < 0.5 * missed);
}

TEST_CASE("ESL fidelity: bad shapes throw") {
    const tensor<double> x({2, 3, 4, 4}), bg_bad({2, 3, 4, 5}), m({2, 1, 4, 4}), m_bad({2, 1, 5, 4});
    const edge_fidelity_loss f{};
    CHECK_THROWS_WITH_AS(f.value(generated_batch<double>{.image = x, .background = bg_bad, .mask_logits = m}),
                         doctest::Contains("expected background of image's shape [2, 3, 4, 4]"), imbdef::error);
    CHECK_THROWS_WITH_AS(f.value(generated_batch<double>{.image = x, .background = x, .mask_logits = m_bad}),
                         doctest::Contains("expected mask_logits of shape [2, 1, 4, 4] (one channel, image [2, 3, 4, 4])"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(f.value(generated_batch<double>{.mask_logits = m}),
                         doctest::Contains("policies::edge_fidelity: expected image of shape [N, C, H, W]"), imbdef::error);
}

// --- RCL ---------------------------------------------------------------------------------------

testing::gradient_problem rcl_problem(const region_consistency_loss& rcl, core::const_view<double> b) {
    testing::gradient_problem p;
    p.add_data("M", testing::random_tensor(b.shape(), 51, 0, -0.3, 0.3));
    p.forward = [rcl, b](testing::input_views in) {
        tensor<double> y({1});
        y[0] = rcl.value(generated_batch<double>{.mask_logits = in[0], .valid_region = b});
        return y;
    };
    p.backward = [rcl, b](testing::input_views in, core::const_view<double> dy, testing::grad_views dx, grad_mode dm,
                          grad_mode cm) {
        rcl.backward(generated_batch<double>{.mask_logits = in[0], .valid_region = b}, dy[0],
                     generated_batch_grads<double>{.mask_logits = dx[0]}, dm, cm);
    };
    return p;
}

TEST_CASE("RCL: gradient for M with binary and soft valid regions") {
    tensor<double> binary({2, 1, 4, 5});
    for (core::index_t i = 0; i < binary.numel(); ++i) binary[i] = (i % 3 == 0) ? 0.0 : 1.0;
    const auto r = testing::check_gradients(rcl_problem(region_consistency_loss{}, binary));
    CHECK_MESSAGE(r.ok, r.to_string());
    const tensor<double> soft = testing::random_tensor({2, 1, 4, 5}, 52, 0, 0.0, 1.0);
    const auto r2 = testing::check_gradients(rcl_problem(region_consistency_loss{.kappa = 2.5}, soft));
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("RCL: 0 inside the valid region, 1 outside it, the soft mass fraction in between") {
    const region_consistency_loss rcl{};
    // b: left half valid. The mask inside it: 0; the mask over all of the frame outside it: 1.
    tensor<double> b({1, 1, 2, 4}, {1, 1, 0, 0, 1, 1, 0, 0});
    tensor<double> inside({1, 1, 2, 4}, {5, 5, -5, -5, 5, -5, -5, -5});
    CHECK(rcl.value(generated_batch<double>{.mask_logits = inside, .valid_region = b}) < 1e-15);
    tensor<double> outside({1, 1, 2, 4}, {-5, -5, 5, 5, -5, -5, 5, -5});
    CHECK(rcl.value(generated_batch<double>{.mask_logits = outside, .valid_region = b}) == doctest::Approx(1.0).epsilon(1e-6));
    // M = 0 everywhere: S = 1/2 on 8 pixels, 4 of them outside: 2 / (4 + 1e-6).
    const tensor<double> zero({1, 1, 2, 4});
    CHECK(rcl.value(generated_batch<double>{.mask_logits = zero, .valid_region = b}) == doctest::Approx(2.0 / (4.0 + 1e-6)).epsilon(1e-14));
    // Whole-batch sums: a nearly empty sample weighs by its mass, not as a whole defect.
    tensor<double> b2({2, 1, 1, 2}, {1, 1, 0, 0});
    tensor<double> m2({2, 1, 1, 2}, {5, 5, -1, -5});
    const double s_in = 2.0 / (1.0 + std::exp(-50.0)), s_out = 1.0 / (1.0 + std::exp(10.0)) + 1.0 / (1.0 + std::exp(50.0));
    CHECK(rcl.value(generated_batch<double>{.mask_logits = m2, .valid_region = b2}) ==
          doctest::Approx(s_out / (s_in + s_out + 1e-6)).epsilon(1e-12));
}

TEST_CASE("RCL: bad shapes and valid regions outside [0, 1] throw") {
    const region_consistency_loss rcl{};
    const tensor<double> m({1, 1, 2, 2}), b_bad_shape({1, 1, 2, 3}), b_bad_value({1, 1, 2, 2}, {0, 1, 2, 0});
    CHECK_THROWS_WITH_AS(rcl.value(generated_batch<double>{.mask_logits = m, .valid_region = b_bad_shape}),
                         doctest::Contains("policies::region_consistency: expected valid_region of mask_logits's shape [1, 1, 2, 2], found valid_region of shape [1, 1, 2, 3]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(rcl.value(generated_batch<double>{.mask_logits = m, .valid_region = b_bad_value}),
                         doctest::Contains("expected valid_region values in [0, 1], found 2.000000 at element 2"),
                         imbdef::error);
}

// --- Concept and objective ---------------------------------------------------------------------

// A user's own term: mean soft mask area, pulled towards a target (reads mask_logits only).
struct mask_area_loss {
    static constexpr std::string_view name = "mask_area";
    double target = 0.2;
    template <class T>
    T value(const generated_batch<T>& in) const {
        return backward(in, T(0), generated_batch_grads<T>{}, grad_mode::none, grad_mode::none);
    }
    template <class T>
    T backward(const generated_batch<T>& in, T scale, const generated_batch_grads<T>& g, grad_mode dm, grad_mode) const {
        const core::index_t n = in.mask_logits.numel();
        double area = 0.0;
        for (core::index_t i = 0; i < n; ++i) area += 1.0 / (1.0 + std::exp(-double(in.mask_logits[i])));
        area /= double(n);
        if (dm != grad_mode::none)
            for (core::index_t i = 0; i < n; ++i) {
                const double s = 1.0 / (1.0 + std::exp(-double(in.mask_logits[i])));
                core::store_grad(g.mask_logits[i], static_cast<T>(double(scale) * 2.0 * (area - target) * s * (1 - s) / double(n)), dm);
            }
        return static_cast<T>((area - target) * (area - target));
    }
};

struct not_a_term {
    static constexpr std::string_view name = "nothing";
};

static_assert(generator_loss_term<edge_structure_loss> && generator_loss_term<edge_fidelity_loss> &&
              generator_loss_term<region_consistency_loss> && generator_loss_term<mask_area_loss>);
static_assert(!generator_loss_term<not_a_term> && !generator_loss_term<int>);

TEST_CASE("generator objective: defaults, the weighted total and the logged names") {
    const generator_objective<> g{};
    CHECK(g.weights.match == 1.0);
    CHECK(g.weights.esl == 0.1);
    CHECK(g.weights.rcl == 1.0);
    const generator_loss_values v = g.combine(0.7, 0.5, 2.0, 0.25);
    CHECK(v.total == doctest::Approx(0.7 + 0.5 + 0.1 * 2.0 + 0.25));
    const auto named = v.named();
    const char* expected[] = {"adv_img", "adv_match", "esl", "rcl", "total"};
    const double values[] = {0.7, 0.5, 2.0, 0.25, v.total};
    for (int i = 0; i < 5; ++i) {
        CHECK(named[i].name == std::string_view(expected[i]));
        CHECK(named[i].value == values[i]);
    }
    generator_objective<> custom{.weights = {.match = 0.5, .esl = 2.0, .rcl = 0.0}};
    const generator_loss_values c = custom.combine(1.0, 1.0, 1.0, 100.0);
    CHECK(c.total == doctest::Approx(1.0 + 0.5 + 2.0));
    custom.weights.esl = -1.0;
    CHECK_THROWS_WITH_AS(custom.combine(1, 1, 1, 1), doctest::Contains("expected weights.esl finite and >= 0, found -1"),
                         imbdef::error);
}

// The whole objective as one gradient problem: logits of D_img and D_match, both masks (data),
// both codes (parameters: code_mode); b is a constant.
template <class Objective>
testing::gradient_problem objective_problem(const Objective& g, core::const_view<double> b) {
    testing::gradient_problem p;
    const core::shape mask = b.shape();
    tensor<double> w1 = testing::random_tensor({mask[0], 6}, 63);
    tensor<double> w2 = shifted_codes(w1, 64);
    p.add_data("logits_img", testing::random_tensor({mask[0], 1}, 60, 0, -2, 2))
        .add_data("logits_match", testing::random_tensor({mask[0], 1}, 65, 0, -2, 2))
        .add_data("M_1", testing::random_tensor(mask, 61, 0, -0.15, 0.15))
        .add_data("M_2", testing::random_tensor(mask, 62, 0, -0.15, 0.15))
        .add_parameter("w_1", std::move(w1))
        .add_parameter("w_2", std::move(w2));
    const auto batch = [b](testing::input_views x) {
        return generated_batch<double>{.mask_logits = x[2], .defect_codes = x[4], .mask_logits_2 = x[3],
                                       .defect_codes_2 = x[5], .valid_region = b};
    };
    p.forward = [g, batch](testing::input_views x) {
        tensor<double> y({1});
        y[0] = g.value(x[0], x[1], batch(x)).total;
        return y;
    };
    p.backward = [g, batch](testing::input_views x, core::const_view<double> dy, testing::grad_views dx, grad_mode dm,
                            grad_mode cm) {
        // The objective's gradients are of L_G itself; the checker's L = r L_G scales them by r.
        tensor<double> dli(x[0].shape()), dlm(x[1].shape()), d1(x[2].shape()), d2(x[3].shape()), dw1(x[4].shape()),
            dw2(x[5].shape());
        g.backward(x[0], x[1], batch(x), dli.view(), dlm.view(),
                   generated_batch_grads<double>{.mask_logits = d1, .defect_codes = dw1, .mask_logits_2 = d2,
                                                 .defect_codes_2 = dw2},
                   grad_mode::assign, grad_mode::assign);
        const tensor<double>* parts[] = {&dli, &dlm, &d1, &d2, &dw1, &dw2};
        for (int k = 0; k < 6; ++k) {
            const grad_mode m = k < 4 ? dm : cm;
            if (m == grad_mode::none) continue;
            for (core::index_t i = 0; i < parts[k]->numel(); ++i) core::store_grad(dx[k][i], dy[0] * (*parts[k])[i], m);
        }
    };
    return p;
}

TEST_CASE("generator objective: gradients of L_G for logits, masks and codes, with each term swappable") {
    tensor<double> b({2, 1, 5, 5});
    for (core::index_t i = 0; i < b.numel(); ++i) b[i] = (i % 5 < 3) ? 1.0 : 0.0;
    generator_objective<> defaults{};
    defaults.weights.esl = 0.7;  // ESL large enough that a wrong gradient would show
    const auto r = testing::check_gradients(objective_problem(defaults, b));
    CHECK_MESSAGE(r.ok, r.to_string());
    // Swapped: hinge adversarial loss, a user's term in the ESL slot.
    generator_objective<hinge_loss, mask_area_loss> swapped{.weights = {.match = 0.3, .esl = 2.0, .rcl = 0.5}};
    const auto r2 = testing::check_gradients(objective_problem(swapped, b));
    CHECK_MESSAGE(r2.ok, r2.to_string());
}

TEST_CASE("generator objective: the gradient contract directly, zero weights, and its errors") {
    tensor<double> b({1, 1, 4, 4}, 1.0);
    b[0] = 0.0;
    const tensor<double> li({1}, {0.3}), lm({1}, {-0.4});
    const tensor<double> m1 = testing::random_tensor({1, 1, 4, 4}, 70, 0, -0.2, 0.2);
    const tensor<double> m2 = testing::random_tensor({1, 1, 4, 4}, 71, 0, -0.2, 0.2);
    const tensor<double> w1({1, 3}, {0.1, 0.5, -0.2}), w2({1, 3}, {-0.3, 0.2, 0.4});
    const generated_batch<double> in{.mask_logits = m1, .defect_codes = w1, .mask_logits_2 = m2, .defect_codes_2 = w2,
                                     .valid_region = b};
    const generator_objective<> g{};

    // The total is the weighted sum of the terms computed by their own policies.
    const generator_loss_values v = g.value(li.cview(), lm.cview(), in);
    CHECK(v.adv_img == doctest::Approx(std::log1p(std::exp(-0.3))));
    CHECK(v.adv_match == doctest::Approx(std::log1p(std::exp(0.4))));
    CHECK(v.esl == doctest::Approx(edge_structure_loss{}.value(in)));
    CHECK(v.rcl == doctest::Approx(region_consistency_loss{}.value(in)));
    CHECK(v.total == doctest::Approx(v.adv_img + v.adv_match + 0.1 * v.esl + v.rcl));

    // dM_1 = 0.1 dESL/dM_1 + dRCL/dM_1, assembled from the terms by hand.
    tensor<double> e1({1, 1, 4, 4}), e2({1, 1, 4, 4}), ew1({1, 3}), ew2({1, 3}), r1({1, 1, 4, 4});
    edge_structure_loss{}.backward(in, 0.1, {.mask_logits = e1, .defect_codes = ew1, .mask_logits_2 = e2, .defect_codes_2 = ew2},
                                   grad_mode::assign, grad_mode::assign);
    region_consistency_loss{}.backward(in, 1.0, {.mask_logits = r1}, grad_mode::assign, grad_mode::none);
    tensor<double> dli({1}), dlm({1}), d1({1, 1, 4, 4}, 5.0), d2({1, 1, 4, 4}, 5.0), dw1({1, 3}, 5.0), dw2({1, 3}, 5.0);
    const generated_batch_grads<double> grads{.mask_logits = d1, .defect_codes = dw1, .mask_logits_2 = d2,
                                              .defect_codes_2 = dw2};
    g.backward(li.cview(), lm.cview(), in, dli.view(), dlm.view(), grads, grad_mode::accumulate, grad_mode::none);
    for (core::index_t i = 0; i < 16; ++i) {
        CHECK(d1[i] == doctest::Approx(5.0 + e1[i] + r1[i]));
        CHECK(d2[i] == doctest::Approx(5.0 + e2[i]));
    }
    CHECK(dw1[0] == 5.0);  // none leaves the codes' buffers alone
    CHECK(dli[0] == doctest::Approx(-1.0 / (1.0 + std::exp(0.3))));
    CHECK(dlm[0] == doctest::Approx(-1.0 / (1.0 + std::exp(-0.4))));
    // Assign overwrites without reading: NaN-filled buffers end as the accumulated gradient minus 5.
    const double nan = std::nan("");
    tensor<double> a1({1, 1, 4, 4}, nan), a2({1, 1, 4, 4}, nan), aw1({1, 3}, nan), aw2({1, 3}, nan), ali({1}, nan),
        alm({1}, nan);
    g.backward(li.cview(), lm.cview(), in, ali.view(), alm.view(),
               {.mask_logits = a1, .defect_codes = aw1, .mask_logits_2 = a2, .defect_codes_2 = aw2}, grad_mode::assign,
               grad_mode::assign);
    for (core::index_t i = 0; i < 16; ++i) {
        CHECK(a1[i] == doctest::Approx(d1[i] - 5.0));
        CHECK(a2[i] == doctest::Approx(d2[i] - 5.0));
    }
    for (core::index_t i = 0; i < 3; ++i) {
        CHECK(aw1[i] == doctest::Approx(ew1[i]));
        CHECK(aw2[i] == doctest::Approx(ew2[i]));
    }
    CHECK(ali[0] == doctest::Approx(dli[0]));

    // Weight 0: the part is not evaluated (its inputs may be empty), reported as NaN, adds nothing.
    const generator_objective<> only_rcl{.weights = {.match = 0.0, .esl = 0.0, .rcl = 1.0}};
    const generated_batch<double> no_pair{.mask_logits = m1, .valid_region = b};
    tensor<double> dlm_off({1}, 9.0), dm_only({1, 1, 4, 4}, 9.0);
    const generator_loss_values o = only_rcl.backward(li.cview(), core::const_view<double>{}, no_pair, dli.view(),
                                                      dlm_off.view(), {.mask_logits = dm_only}, grad_mode::assign,
                                                      grad_mode::assign);
    CHECK(std::isnan(o.adv_match));
    CHECK(std::isnan(o.esl));
    CHECK(o.total == doctest::Approx(o.adv_img + o.rcl));
    CHECK(dlm_off[0] == 0.0);  // assign on a switched-off part writes zeros
    for (core::index_t i = 0; i < 16; ++i) CHECK(dm_only[i] == doctest::Approx(r1[i]));

    // Errors before anything is written.
    tensor<double> wrong({1, 1, 4, 5});
    d1.fill(5.0);
    CHECK_THROWS_WITH_AS(g.backward(li.cview(), lm.cview(), in, dli.view(), dlm.view(),
                                    {.mask_logits = wrong, .mask_logits_2 = d2}, grad_mode::assign, grad_mode::none),
                         doctest::Contains("policies::generator_objective: expected grads.mask_logits empty or of "
                                           "mask_logits's shape [1, 1, 4, 4], found shape [1, 1, 4, 5]"),
                         imbdef::error);
    CHECK(d2[0] != 0.0);
    CHECK_THROWS_WITH_AS(g.value(core::const_view<double>{}, lm.cview(), in),
                         doctest::Contains("expected at least one logit of D_img"), imbdef::error);
    CHECK_THROWS_WITH_AS(g.backward(li.cview(), lm.cview(), in, dli.view(), wrong.view(), grads, grad_mode::assign,
                                    grad_mode::assign),
                         doctest::Contains("expected the gradient of D_match's logits of shape [1]"), imbdef::error);
}

TEST_CASE("generator objective and the fidelity term: a steady float step allocates nothing") {
    const int saved_threads = core::num_threads();
    core::set_num_threads(1);
    const core::shape mask{4, 1, 32, 32}, image{4, 3, 32, 32};
    const auto random_float = [](const core::shape& s, std::uint64_t seed, double lo, double hi) {
        const tensor<double> d = testing::random_tensor(s, seed, 0, lo, hi);
        tensor<float> f(s);
        for (core::index_t i = 0; i < f.numel(); ++i) f[i] = static_cast<float>(d[i]);
        return f;
    };
    const tensor<float> m1 = random_float(mask, 80, -1, 1), m2 = random_float(mask, 81, -1, 1);
    const tensor<float> b = random_float(mask, 82, 0, 1), x = random_float(image, 83, -1, 1), bg = random_float(image, 84, -1, 1);
    const tensor<float> w1 = random_float({4, 64}, 85, -1, 1), w2 = random_float({4, 64}, 86, -1, 1);
    const tensor<float> li = random_float({4}, 87, -2, 2), lm = random_float({4}, 88, -2, 2);
    tensor<float> dli({4}), dlm({4}), dx(image), d1(mask), d2(mask), dw1({4, 64}), dw2({4, 64});
    const generated_batch<float> in{.image = x, .background = bg, .mask_logits = m1, .defect_codes = w1,
                                    .mask_logits_2 = m2, .defect_codes_2 = w2, .valid_region = b};
    const generated_batch_grads<float> grads{.image = dx, .mask_logits = d1, .defect_codes = dw1, .mask_logits_2 = d2,
                                             .defect_codes_2 = dw2};
    const generator_objective<> g{};
    const generator_objective<logistic_loss, edge_fidelity_loss> fidelity{};
    double total = 0.0;
    const auto step = [&] {
        total += g.backward<float>(li, lm, in, dli, dlm, grads, grad_mode::assign, grad_mode::assign).total;
        total += fidelity.backward<float>(li, lm, in, dli, dlm, grads, grad_mode::accumulate, grad_mode::none).total;
    };
    for (int i = 0; i < 3; ++i) step();
    const std::size_t before = imbdef_test::heap_allocations();
    for (int i = 0; i < 10; ++i) step();
    CHECK(imbdef_test::heap_allocations() == before);
    CHECK(std::isfinite(total));
    core::set_num_threads(saved_threads);
}
