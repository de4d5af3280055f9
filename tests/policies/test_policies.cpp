// Gating schedules, regularisation schedules and adversarial losses: values, contracts, and
// gradients proven by the checker. The blends have their own file, test_blend.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/policies/adversarial_loss.hpp>
#include <imbdef/policies/gating_schedule.hpp>
#include <imbdef/policies/regularization_schedule.hpp>
#include <imbdef/testing.hpp>

using namespace imbdef;
using namespace imbdef::policies;
using core::grad_mode;

TEST_CASE("gating schedules: endpoints, monotonicity, the default cosine ramp") {
    const cosine_ramp_schedule cosine{};
    CHECK(cosine(0.0) == 0.0);
    CHECK(cosine(0.1) == 0.0);
    CHECK(cosine(0.35) == doctest::Approx(0.5));
    CHECK(cosine(0.6) == doctest::Approx(1.0));
    CHECK(cosine(1.0) == 1.0);
    const linear_schedule linear{};
    CHECK(linear(0.35) == doctest::Approx(0.5));
    CHECK(step_schedule{.at = 0.5, .max = 2.0}(0.49) == 0.0);
    CHECK(step_schedule{.at = 0.5, .max = 2.0}(0.5) == 2.0);
    CHECK(constant_schedule{.value = 0.3}(0.9) == 0.3);
    const sigmoid_schedule sig{};
    CHECK(sig(0.35) == doctest::Approx(0.5));
    double prev = -1;
    for (int i = 0; i <= 100; ++i) {
        const double p = i / 100.0;
        const double v = cosine(p);
        CHECK(v >= prev);
        prev = v;
        CHECK(sig(p) > 0.0);
    }
    CHECK_THROWS_WITH_AS(cosine(1.5), doctest::Contains("cosine_ramp schedule: expected progress in [0, 1]"), imbdef::error);
    CHECK_THROWS_AS(linear(-0.1), imbdef::error);
}

TEST_CASE("regularisation schedules: lazy R1 every 16 steps with weight 16 and ratio 16/17") {
    const lazy r1(16);
    CHECK(r1.runs(0));
    CHECK_FALSE(r1.runs(15));
    CHECK(r1.runs(32));
    CHECK(r1.weight() == 16.0);
    CHECK(r1.optimizer_ratio() == doctest::Approx(16.0 / 17.0));
    CHECK(every_step{}.runs(7));
    CHECK_THROWS_AS(lazy(0), imbdef::error);
}

template <adversarial_loss L>
void check_loss(double lo, double hi) {
    for (loss_side side : {loss_side::generator, loss_side::real, loss_side::fake}) {
        testing::gradient_problem p;
        p.add_data("logits", testing::random_tensor({5}, 11, 0, lo, hi));
        p.forward = [side](testing::input_views x) {
            core::tensor<double> y({1});
            core::tensor<double> unused({0});
            y[0] = mean_loss<L>(x[0], side, unused.view(), grad_mode::none);
            return y;
        };
        p.backward = [side](testing::input_views x, core::const_view<double> dy, testing::grad_views dx, grad_mode m,
                            grad_mode) {
            if (m == grad_mode::none) return;
            core::tensor<double> g(x[0].shape());
            mean_loss<L>(x[0], side, g.view(), grad_mode::assign);
            for (core::index_t i = 0; i < g.numel(); ++i) core::store_grad(dx[0][i], dy[0] * g[i], m);
        };
        const auto r = testing::check_gradients(p);
        CHECK_MESSAGE(r.ok, L::name << ": " << r.to_string());
    }
}

TEST_CASE("adversarial losses: values and gradients") {
    CHECK(logistic_loss::generator(0.0) == doctest::Approx(std::log(2.0)));
    CHECK(logistic_loss::fake(800.0) == doctest::Approx(800.0));  // no overflow
    CHECK(logistic_loss::real(800.0) < 1e-300);
    CHECK(hinge_loss::real(2.0) == 0.0);
    CHECK(least_squares_loss::fake(2.0) == 2.0);
    check_loss<logistic_loss>(-3, 3);
    check_loss<hinge_loss>(-0.9, 0.9);  // away from the kinks at +-1
    check_loss<least_squares_loss>(-3, 3);
    core::tensor<double> logits({0}), g({0});
    CHECK_THROWS_WITH_AS(mean_loss<logistic_loss>(logits.cview(), loss_side::real, g.view(), grad_mode::assign),
                         doctest::Contains("at least one logit"), imbdef::error);
}
