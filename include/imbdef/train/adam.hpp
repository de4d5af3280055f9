#pragma once
// Adam over one flat span of parameters, with the update of torch.optim.Adam (amsgrad off, no
// weight decay, not maximising), evaluated in the element type T:
//
//   t  <- t + 1
//   m  <- beta1 m + (1 - beta1) g
//   v  <- beta2 v + (1 - beta2) g^2
//   theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// eps is added to sqrt(v_hat), outside the root. The bias corrections are computed in double from
// the step count. With beta1 = 0 (StyleGAN's setting) m is the gradient itself and the update is
// RMSprop with the beta2 bias correction (reference/stylegan3.md, section 6).
//
// The span is the whole flat parameter buffer of a network (nn::parameter_store): its alignment
// gaps hold zero and receive zero gradients, so their m, v and parameters stay zero. The moments
// are allocated once, at construction; a step allocates nothing.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace imbdef::train {

using core::index_t;

// What a step does with gradient elements that are NaN or infinite.
enum class non_finite_gradients : unsigned char {
    keep,     // used as they are, as torch.optim.Adam does: the parameter becomes non-finite
    replace,  // StyleGAN's nan_to_num before the update: NaN -> 0, +inf -> 1e5, -inf -> -1e5
    reject,   // the step throws imbdef::error before changing anything
};

struct adam_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    non_finite_gradients non_finite = non_finite_gradients::keep;

    // StyleGAN2/3's optimiser: betas (0, 0.99), eps 1e-8, gradients sanitised by nan_to_num.
    static constexpr adam_options stylegan(double lr) noexcept {
        return {lr, 0.0, 0.99, 1e-8, non_finite_gradients::replace};
    }
};

// Lazy regularisation (StyleGAN2, training_loop.py): when a regulariser runs every `interval`
// minibatches as a separate optimiser step with its loss scaled by `interval`, the network takes
// interval + 1 steps per `interval` minibatches. With r = interval / (interval + 1) the learning
// rate becomes lr * r and each beta becomes beta^r, so step size and moment memory per minibatch
// stay as configured. Interval 16, lr 0.002, betas (0, 0.99) give lr 0.0018824, betas (0, 0.990585).
inline adam_options lazy_regularization(adam_options options, int interval) {
    IMBDEF_REQUIRE(interval >= 1, "lazy_regularization", "a regularisation interval of at least 1 minibatch",
                   std::to_string(interval));
    const double r = static_cast<double>(interval) / (interval + 1.0);
    options.lr *= r;
    options.beta1 = std::pow(options.beta1, r);
    options.beta2 = std::pow(options.beta2, r);
    return options;
}

// Throws unless the options are usable: lr >= 0, betas in [0, 1), eps >= 0 (torch's own checks).
inline void validate(const adam_options& o, const char* where = "adam_options") {
    IMBDEF_REQUIRE(o.lr >= 0 && std::isfinite(o.lr), where, "a finite learning rate >= 0", std::to_string(o.lr));
    IMBDEF_REQUIRE(o.beta1 >= 0 && o.beta1 < 1, where, "beta1 in [0, 1)", std::to_string(o.beta1));
    IMBDEF_REQUIRE(o.beta2 >= 0 && o.beta2 < 1, where, "beta2 in [0, 1)", std::to_string(o.beta2));
    IMBDEF_REQUIRE(o.eps >= 0 && std::isfinite(o.eps), where, "a finite eps >= 0", std::to_string(o.eps));
}

namespace detail {
template <class T>
inline T nan_to_num(T g) noexcept {
    if (std::isnan(g)) return T(0);
    if (g == std::numeric_limits<T>::infinity()) return T(1e5);
    if (g == -std::numeric_limits<T>::infinity()) return T(-1e5);
    return g;
}
}  // namespace detail

template <class T>
class adam {
    static_assert(std::is_floating_point_v<T>, "imbdef::train::adam runs on float or double parameters");

public:
    // State for `size` parameters: m = v = 0, no step taken.
    adam(index_t size, const adam_options& options)
        : options_(options), m_(core::shape{size}), v_(core::shape{size}) {
        validate(options, "adam");
    }

    index_t size() const noexcept { return m_.numel(); }

    const adam_options& options() const noexcept { return options_; }
    // For learning-rate schedules and restored runs; the moments and the step count are kept.
    void set_options(const adam_options& options) {
        validate(options, "adam::set_options");
        options_ = options;
    }

    // The state a checkpoint saves and restores: first and second moments and the step count t.
    core::tensor<T>& first_moment() noexcept { return m_; }
    core::tensor<T>& second_moment() noexcept { return v_; }
    const core::tensor<T>& first_moment() const noexcept { return m_; }
    const core::tensor<T>& second_moment() const noexcept { return v_; }
    std::int64_t steps() const noexcept { return steps_; }
    void set_steps(std::int64_t t) {
        IMBDEF_REQUIRE(t >= 0, "adam::set_steps", "a step count >= 0", std::to_string(t));
        steps_ = t;
    }

    // Zero moments, step count 0.
    void reset() noexcept {
        m_.fill(T(0));
        v_.fill(T(0));
        steps_ = 0;
    }

    // One update of `parameters` from `gradients` (both of size()). Returns how many gradient
    // elements were NaN or infinite, whatever the non-finite policy (with `reject` a positive
    // count throws instead, and nothing has changed).
    index_t step(core::view<T> parameters, core::const_view<T> gradients) {
        IMBDEF_REQUIRE(parameters.numel() == size(), "adam::step", std::to_string(size()) + " parameters",
                       std::to_string(parameters.numel()));
        IMBDEF_REQUIRE(gradients.numel() == size(), "adam::step", std::to_string(size()) + " gradients",
                       std::to_string(gradients.numel()));
        if (options_.non_finite == non_finite_gradients::reject) reject_non_finite(gradients);

        const std::int64_t t = steps_ + 1;
        const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t));
        const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t));
        const T step_size = static_cast<T>(options_.lr / bias1);
        const T bias2_sqrt = static_cast<T>(std::sqrt(bias2));
        const T beta1 = static_cast<T>(options_.beta1);
        const T beta2 = static_cast<T>(options_.beta2);
        const T one_minus_beta1 = static_cast<T>(1.0 - options_.beta1);
        const T one_minus_beta2 = static_cast<T>(1.0 - options_.beta2);
        const T eps = static_cast<T>(options_.eps);
        const bool replace = options_.non_finite == non_finite_gradients::replace;

        T* const theta = parameters.data();
        const T* const grad = gradients.data();
        T* const m = m_.data();
        T* const v = v_.data();
        std::atomic<index_t> non_finite{0};
        core::parallel_for(0, size(), grain, [&](index_t lo, index_t hi) {
            index_t bad = 0;
            for (index_t i = lo; i < hi; ++i) {
                T g = grad[i];
                if (IMBDEF_UNLIKELY(!std::isfinite(g))) {
                    ++bad;
                    if (replace) g = detail::nan_to_num(g);
                }
                m[i] = beta1 * m[i] + one_minus_beta1 * g;
                v[i] = beta2 * v[i] + one_minus_beta2 * (g * g);
                const T denom = std::sqrt(v[i]) / bias2_sqrt + eps;
                theta[i] -= step_size * m[i] / denom;
            }
            if (bad) non_finite.fetch_add(bad, std::memory_order_relaxed);
        });
        steps_ = t;
        return non_finite.load(std::memory_order_relaxed);
    }

private:
    static constexpr index_t grain = 1 << 14;

    void reject_non_finite(core::const_view<T> gradients) const {
        const T* const grad = gradients.data();
        std::atomic<index_t> bad{0};
        core::parallel_for(0, size(), grain, [&](index_t lo, index_t hi) {
            index_t n = 0;
            for (index_t i = lo; i < hi; ++i) n += !std::isfinite(grad[i]);
            if (n) bad.fetch_add(n, std::memory_order_relaxed);
        });
        const index_t count = bad.load(std::memory_order_relaxed);
        if (IMBDEF_LIKELY(count == 0)) return;
        index_t first = 0;
        while (std::isfinite(grad[first])) ++first;
        throw imbdef::error("adam::step", "finite gradients",
                            std::to_string(count) + " non-finite element(s), the first " +
                                (std::isnan(grad[first]) ? std::string("NaN") : std::string(grad[first] > 0 ? "+inf" : "-inf")) +
                                " at flat index " + std::to_string(first) + "; nothing was updated");
    }

    adam_options options_;
    core::tensor<T> m_;
    core::tensor<T> v_;
    std::int64_t steps_ = 0;
};

}  // namespace imbdef::train
