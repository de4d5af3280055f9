#pragma once
// Adversarial losses as functions of one logit: the generator's loss on a fake logit, the
// discriminator's on a real and on a fake logit, each with its derivative. A phase averages them
// over the batch (policies::mean_loss). Implementations: non-saturating logistic (the default,
// StyleGAN's), hinge, least squares.

#include <cmath>
#include <concepts>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace imbdef::policies {

template <class L>
concept adversarial_loss = requires(double l) {
    { L::name } -> std::convertible_to<std::string_view>;
    { L::generator(l) } -> std::convertible_to<double>;
    { L::generator_grad(l) } -> std::convertible_to<double>;
    { L::real(l) } -> std::convertible_to<double>;
    { L::real_grad(l) } -> std::convertible_to<double>;
    { L::fake(l) } -> std::convertible_to<double>;
    { L::fake_grad(l) } -> std::convertible_to<double>;
};

namespace detail {
// log(1 + e^x) without overflow for large |x|.
template <class T>
T softplus(T x) {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
template <class T>
T sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}
}  // namespace detail

// G: softplus(-l); D: softplus(-l_real) + softplus(l_fake).
struct logistic_loss {
    static constexpr std::string_view name = "logistic";
    template <class T> static T generator(T l) { return detail::softplus(-l); }
    template <class T> static T generator_grad(T l) { return -detail::sigmoid(-l); }
    template <class T> static T real(T l) { return detail::softplus(-l); }
    template <class T> static T real_grad(T l) { return -detail::sigmoid(-l); }
    template <class T> static T fake(T l) { return detail::softplus(l); }
    template <class T> static T fake_grad(T l) { return detail::sigmoid(l); }
};

// G: -l; D: max(0, 1 - l_real) + max(0, 1 + l_fake).
struct hinge_loss {
    static constexpr std::string_view name = "hinge";
    template <class T> static T generator(T l) { return -l; }
    template <class T> static T generator_grad(T) { return T(-1); }
    template <class T> static T real(T l) { return l < T(1) ? T(1) - l : T(0); }
    template <class T> static T real_grad(T l) { return l < T(1) ? T(-1) : T(0); }
    template <class T> static T fake(T l) { return l > T(-1) ? T(1) + l : T(0); }
    template <class T> static T fake_grad(T l) { return l > T(-1) ? T(1) : T(0); }
};

// G: (l - 1)^2 / 2; D: (l_real - 1)^2 / 2 + l_fake^2 / 2.
struct least_squares_loss {
    static constexpr std::string_view name = "least_squares";
    template <class T> static T generator(T l) { return T(0.5) * (l - T(1)) * (l - T(1)); }
    template <class T> static T generator_grad(T l) { return l - T(1); }
    template <class T> static T real(T l) { return T(0.5) * (l - T(1)) * (l - T(1)); }
    template <class T> static T real_grad(T l) { return l - T(1); }
    template <class T> static T fake(T l) { return T(0.5) * l * l; }
    template <class T> static T fake_grad(T l) { return l; }
};

static_assert(adversarial_loss<logistic_loss> && adversarial_loss<hinge_loss> && adversarial_loss<least_squares_loss>);

enum class loss_side { generator, real, fake };

// mean_n f(l_n) for the chosen side, and dL/dl_n = f'(l_n) / N written under `mode`.
template <adversarial_loss L, class T>
T mean_loss(core::const_view<T> logits, loss_side side, core::view<T> grad, core::grad_mode mode) {
    const core::index_t n = logits.numel();
    IMBDEF_REQUIRE(n > 0, std::string(L::name) + " loss", "at least one logit", "none");
    if (mode != core::grad_mode::none) core::require_same_shape(grad.shape(), logits.shape(), std::string(L::name) + " loss gradient vs logits");
    T total = 0;
    const T inv = T(1) / static_cast<T>(n);
    for (core::index_t i = 0; i < n; ++i) {
        const T l = logits[i];
        T v, g;
        switch (side) {
            case loss_side::generator: v = L::generator(l); g = L::generator_grad(l); break;
            case loss_side::real: v = L::real(l); g = L::real_grad(l); break;
            default: v = L::fake(l); g = L::fake_grad(l); break;
        }
        total += v;
        if (mode != core::grad_mode::none) core::store_grad(grad[i], g * inv, mode);
    }
    return total * inv;
}

}  // namespace imbdef::policies
