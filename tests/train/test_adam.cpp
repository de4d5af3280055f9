// Adam over a flat span: torch.optim.Adam's update, StyleGAN's settings, state, and no allocation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <imbdef/core/memory.hpp>
#include <imbdef/train/adam.hpp>

#include "../support/heap_counter.hpp"

using namespace imbdef;
using namespace imbdef::train;
using core::index_t;

namespace {
// A deterministic gradient for element i at step t, with both signs, zeros and varied scales.
double gradient(index_t i, int t) {
    if (i % 11 == 5) return 0.0;
    return std::sin(0.37 * static_cast<double>(i) + 1.3 * t) * static_cast<double>(1 + i % 5) * 1e-2;
}

template <class T>
core::tensor<T> initial_parameters(index_t n) {
    core::tensor<T> p(core::shape{n});
    for (index_t i = 0; i < n; ++i) p[i] = static_cast<T>(std::cos(0.11 * static_cast<double>(i)));
    return p;
}

// torch.optim.Adam written out in double, element by element, for `steps` steps.
std::vector<double> reference_adam(index_t n, int steps, double lr, double beta1, double beta2, double eps) {
    std::vector<double> theta(static_cast<std::size_t>(n)), m(theta.size(), 0.0), v(theta.size(), 0.0);
    for (index_t i = 0; i < n; ++i) theta[static_cast<std::size_t>(i)] = std::cos(0.11 * static_cast<double>(i));
    for (int t = 1; t <= steps; ++t)
        for (std::size_t i = 0; i < theta.size(); ++i) {
            const double g = gradient(static_cast<index_t>(i), t);
            m[i] = beta1 * m[i] + (1 - beta1) * g;
            v[i] = beta2 * v[i] + (1 - beta2) * g * g;
            const double m_hat = m[i] / (1 - std::pow(beta1, t));
            const double v_hat = v[i] / (1 - std::pow(beta2, t));
            theta[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
        }
    return theta;
}

template <class T>
void run_steps(adam<T>& opt, core::tensor<T>& theta, int first_step, int steps) {
    core::tensor<T> g(theta.shape());
    for (int t = first_step; t < first_step + steps; ++t) {
        for (index_t i = 0; i < g.numel(); ++i) g[i] = static_cast<T>(gradient(i, t));
        opt.step(theta.view(), g.cview());
    }
}
}  // namespace

TEST_CASE_TEMPLATE("adam matches torch.optim.Adam written out by hand", T, double, float) {
    const index_t n = 200;
    const int steps = 6;
    const adam_options o{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    const auto ref = reference_adam(n, steps, o.lr, o.beta1, o.beta2, o.eps);

    adam<T> opt(n, o);
    auto theta = initial_parameters<T>(n);
    run_steps(opt, theta, 1, steps);
    CHECK(opt.steps() == steps);
    const double tol = std::is_same_v<T, double> ? 1e-14 : 2e-6;
    double worst = 0;
    for (index_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(static_cast<double>(theta[i]) - ref[static_cast<std::size_t>(i)]));
    CHECK(worst < tol);
}

TEST_CASE("adam's first step moves each parameter by lr * g / (|g| + eps)") {
    // m_hat = g and v_hat = g^2 after one step, whatever the betas.
    adam<double> opt(3, {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    core::tensor<double> theta(core::shape{3}, {1.0, 1.0, 1.0});
    const core::tensor<double> g(core::shape{3}, {0.5, -2.0, 0.0});
    opt.step(theta.view(), g.cview());
    CHECK(theta[0] == doctest::Approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
    CHECK(theta[0] == doctest::Approx(0.900000002).epsilon(1e-12));
    CHECK(theta[1] == doctest::Approx(1.0 + 0.1 * 2.0 / (2.0 + 1e-8)).epsilon(1e-15));
    CHECK(theta[2] == 1.0);  // a zero gradient (an alignment gap) never moves
    CHECK(opt.first_moment()[2] == 0.0);
    CHECK(opt.second_moment()[2] == 0.0);
}

TEST_CASE("beta1 = 0 gives StyleGAN's RMSprop with beta2 bias correction") {
    // reference/stylegan3.md, section 6: v <- b2 v + (1 - b2) g^2, theta <- theta - lr g / (sqrt(v / (1 - b2^t)) + eps).
    const index_t n = 64;
    const double lr = 0.0025, b2 = 0.99, eps = 1e-8;
    adam<double> opt(n, adam_options::stylegan(lr));
    CHECK(opt.options().beta1 == 0.0);
    CHECK(opt.options().non_finite == non_finite_gradients::replace);
    auto theta = initial_parameters<double>(n);
    std::vector<double> ref(static_cast<std::size_t>(n)), v(ref.size(), 0.0);
    for (index_t i = 0; i < n; ++i) ref[static_cast<std::size_t>(i)] = theta[i];
    for (int t = 1; t <= 5; ++t) {
        run_steps(opt, theta, t, 1);
        for (std::size_t i = 0; i < ref.size(); ++i) {
            const double g = gradient(static_cast<index_t>(i), t);
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            ref[i] -= lr * g / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
        }
        for (index_t i = 0; i < n; ++i) {
            CHECK(theta[i] == doctest::Approx(ref[static_cast<std::size_t>(i)]).epsilon(1e-14));
            CHECK(opt.first_moment()[i] == static_cast<double>(gradient(i, t)));  // m is the gradient itself
        }
    }
}

TEST_CASE("lazy regularisation adjusts lr and betas by k / (k + 1)") {
    const adam_options d = lazy_regularization(adam_options::stylegan(0.002), 16);
    CHECK(d.lr == doctest::Approx(0.002 * 16.0 / 17.0).epsilon(1e-15));
    CHECK(d.lr == doctest::Approx(0.0018824).epsilon(1e-4));
    CHECK(d.beta1 == 0.0);
    CHECK(d.beta2 == doctest::Approx(std::pow(0.99, 16.0 / 17.0)).epsilon(1e-15));
    CHECK(d.beta2 == doctest::Approx(0.990585).epsilon(1e-6));
    CHECK(d.eps == 1e-8);
    const adam_options one = lazy_regularization({.lr = 1.0, .beta1 = 0.81, .beta2 = 0.25}, 1);
    CHECK(one.lr == 0.5);
    CHECK(one.beta1 == doctest::Approx(0.9).epsilon(1e-15));
    CHECK(one.beta2 == doctest::Approx(0.5).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(lazy_regularization({}, 0), doctest::Contains("interval of at least 1"), imbdef::error);
}

TEST_CASE("non-finite gradients: kept, replaced as StyleGAN's nan_to_num, or rejected") {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const core::tensor<double> bad(core::shape{5}, {nan, inf, -inf, 2.0, 1e6});
    const core::tensor<double> sanitised(core::shape{5}, {0.0, 1e5, -1e5, 2.0, 1e6});

    SUBCASE("replace equals a step on the sanitised gradient, bit for bit") {
        adam<double> a(5, adam_options::stylegan(0.01)), b(5, adam_options::stylegan(0.01));
        core::tensor<double> ta(core::shape{5}, 1.0), tb(core::shape{5}, 1.0);
        CHECK(a.step(ta.view(), bad.cview()) == 3);
        CHECK(b.step(tb.view(), sanitised.cview()) == 0);
        CHECK(std::memcmp(ta.data(), tb.data(), ta.bytes()) == 0);
        CHECK(std::memcmp(a.second_moment().data(), b.second_moment().data(), ta.bytes()) == 0);
    }
    SUBCASE("keep lets NaN through, as torch does, and counts it") {
        adam<double> a(5, {.lr = 0.01});
        core::tensor<double> t(core::shape{5}, 1.0);
        CHECK(a.step(t.view(), bad.cview()) == 3);
        CHECK(std::isnan(t[0]));
        CHECK(std::isfinite(t[3]));
    }
    SUBCASE("reject throws and changes nothing") {
        adam<double> a(5, {.lr = 0.01, .non_finite = non_finite_gradients::reject});
        core::tensor<double> t(core::shape{5}, 1.0);
        const core::tensor<double> good(core::shape{5}, 0.5);
        a.step(t.view(), good.cview());
        const auto before = t.clone();
        const auto m_before = a.first_moment().clone();
        const auto v_before = a.second_moment().clone();
        const core::tensor<double> one_bad(core::shape{5}, {0.1, 0.2, -inf, nan, 0.3});
        CHECK_THROWS_WITH_AS(a.step(t.view(), one_bad.cview()),
                             doctest::Contains("2 non-finite element(s), the first -inf at flat index 2"),
                             imbdef::error);
        CHECK(a.steps() == 1);
        CHECK(std::memcmp(t.data(), before.data(), t.bytes()) == 0);
        CHECK(std::memcmp(a.first_moment().data(), m_before.data(), t.bytes()) == 0);
        CHECK(std::memcmp(a.second_moment().data(), v_before.data(), t.bytes()) == 0);
    }
}

TEST_CASE("the state saved and restored continues the run bit for bit") {
    const index_t n = 300;
    adam<float> straight(n, {.lr = 0.003, .beta1 = 0.5, .beta2 = 0.99});
    auto theta = initial_parameters<float>(n);
    run_steps(straight, theta, 1, 7);

    adam<float> first(n, straight.options());
    auto resumed_theta = initial_parameters<float>(n);
    run_steps(first, resumed_theta, 1, 4);
    adam<float> second(n, first.options());
    core::copy(first.first_moment().cview(), second.first_moment().view());
    core::copy(first.second_moment().cview(), second.second_moment().view());
    second.set_steps(first.steps());
    run_steps(second, resumed_theta, 5, 3);
    CHECK(second.steps() == 7);
    CHECK(std::memcmp(theta.data(), resumed_theta.data(), theta.bytes()) == 0);

    second.reset();
    CHECK(second.steps() == 0);
    CHECK(second.first_moment()[17] == 0.0f);
}

TEST_CASE("the result does not depend on the thread count") {
    const index_t n = 150'000;
    core::tensor<float> results[2];
    for (int k = 0; k < 2; ++k) {
        core::set_num_threads(k == 0 ? 1 : 4);
        adam<float> opt(n, adam_options::stylegan(0.002));
        results[k] = initial_parameters<float>(n);
        run_steps(opt, results[k], 1, 3);
    }
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].bytes()) == 0);
    core::set_num_threads(2);
}

TEST_CASE("a step allocates nothing, on the heap or through device memory") {
    core::set_num_threads(2);
    const index_t n = 100'000;
    adam<float> opt(n, adam_options::stylegan(0.002));
    auto theta = initial_parameters<float>(n);
    core::tensor<float> g(core::shape{n}, 0.25f);
    g[7] = std::numeric_limits<float>::quiet_NaN();
    opt.step(theta.view(), g.cview());  // warms the thread pool
    const auto heap_before = imbdef_test::heap_allocations();
    const auto device_before = core::memory_stats<core::cpu>::allocations.load();
    for (int i = 0; i < 20; ++i) CHECK(opt.step(theta.view(), g.cview()) == 1);
    CHECK(imbdef_test::heap_allocations() == heap_before);
    CHECK(core::memory_stats<core::cpu>::allocations.load() == device_before);
}

TEST_CASE("bad sizes and options are refused with what was expected") {
    adam<double> opt(4, {});
    core::tensor<double> theta(core::shape{4}), g3(core::shape{3}), theta5(core::shape{5});
    CHECK_THROWS_WITH_AS(opt.step(theta.view(), g3.cview()), doctest::Contains("adam::step: expected 4 gradients, found 3"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(opt.step(theta5.view(), theta.cview()),
                         doctest::Contains("adam::step: expected 4 parameters, found 5"), imbdef::error);
    CHECK_THROWS_WITH_AS(adam<double>(4, {.beta1 = 1.0}), doctest::Contains("beta1 in [0, 1)"), imbdef::error);
    CHECK_THROWS_WITH_AS(adam<double>(4, {.beta2 = -0.1}), doctest::Contains("beta2 in [0, 1)"), imbdef::error);
    CHECK_THROWS_WITH_AS(adam<double>(4, {.lr = -1}), doctest::Contains("learning rate >= 0"), imbdef::error);
    CHECK_THROWS_WITH_AS(opt.set_options({.eps = -1}), doctest::Contains("adam::set_options: expected a finite eps"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(opt.set_steps(-2), doctest::Contains("a step count >= 0"), imbdef::error);
}
