#pragma once
// The stage-2 generator objective (METHOD.md, "Stage 2"):
//
//   L_G = adv(D_img) + lambda_match adv(D_match) + lambda_esl L_ESL + lambda_rcl L_RCL
//
// with adv the generator side of an adversarial loss averaged over the batch (softplus(-l) for the
// default non-saturating logistic loss), and defaults lambda_match = 1.0, lambda_esl = 0.1,
// lambda_rcl = 1.0. Each part is a template parameter: any adversarial_loss, and any
// generator_loss_term for ESL (edge_structure_loss by default, edge_fidelity_loss, or a user's
// own) and for RCL.
//
// The objective only combines: the discriminators run outside it and hand it their logits; it
// returns dL/dlogit for their backward passes, and the loss terms' gradients, each scaled by its
// weight, in one set of buffers:
//   backward(logits_img, logits_match, batch, dlogits_img, dlogits_match, grads, data_mode, code_mode)
//     dlogits_* under data_mode; grads (generator_loss_term.hpp) under data_mode for images and
//     mask logits and code_mode for defect codes. Under assign every non-empty buffer of `grads` is
//     zeroed first and each term accumulates into it, so a buffer no term reads ends as zeros.
//     The gradient of D_match with respect to the mask is the trainer's to add (accumulate) after
//     D_match's backward.
//   value(logits_img, logits_match, batch)    the same values, no gradients.
// A weight of 0 switches its part off: it is not evaluated (its inputs may be empty, D_match's
// logits included), its value is reported as NaN ("not computed", null in the JSON log) and it
// adds nothing to the total or to any gradient. Weights must be finite and >= 0.
//
// Errors: weights, logits and gradient-buffer shapes are checked before anything is written; a
// term checks its own inputs before it writes, so only a term that fails after an earlier one
// succeeded (RCL after ESL) leaves the earlier term's gradient in `grads`.
//
// Logged values: each term unweighted, and the weighted total, named
// "adv_img", "adv_match", "esl", "rcl", "total" (generator_loss_values::named()).

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "adversarial_loss.hpp"
#include "edge_structure_loss.hpp"
#include "generator_loss_term.hpp"
#include "region_consistency_loss.hpp"

namespace imbdef::policies {

struct generator_loss_weights {
    double match = 1.0;  // lambda_match, on the adversarial loss of D_match
    double esl = 0.1;    // lambda_esl
    double rcl = 1.0;    // lambda_rcl
};

struct named_loss {
    std::string_view name;
    double value = 0.0;
};

// One generator step's losses: each term unweighted (NaN when its weight is 0), the total weighted.
struct generator_loss_values {
    double adv_img = 0.0;
    double adv_match = 0.0;
    double esl = 0.0;
    double rcl = 0.0;
    double total = 0.0;

    std::array<named_loss, 5> named() const {
        return {{{"adv_img", adv_img}, {"adv_match", adv_match}, {"esl", esl}, {"rcl", rcl}, {"total", total}}};
    }
};

namespace detail {

inline constexpr const char* objective_where = "policies::generator_objective";

template <class T>
void require_logits(core::const_view<T> logits, core::view<T> grad, core::grad_mode mode, std::string_view which) {
    IMBDEF_REQUIRE(logits.numel() > 0, objective_where, "at least one logit of " + std::string(which), "none");
    if (mode != core::grad_mode::none)
        IMBDEF_REQUIRE(grad.shape() == logits.shape(), objective_where,
                       "the gradient of " + std::string(which) + "'s logits of shape " + logits.shape().to_string(),
                       "shape " + grad.shape().to_string());
}

// A gradient buffer the objective hands to the terms: empty, or of its input's shape.
template <class T>
void require_term_grad(core::view<T> grad, core::const_view<T> input, core::grad_mode mode, std::string_view which) {
    if (mode == core::grad_mode::none || grad.empty()) return;
    IMBDEF_REQUIRE(grad.shape() == input.shape(), objective_where,
                   "grads." + std::string(which) + " empty or of " + std::string(which) + "'s shape " +
                       input.shape().to_string(),
                   "shape " + grad.shape().to_string());
}

// mean_n f(l_n) of the generator side, and weight * f'(l_n) / N written under `mode`.
template <class L, class T>
double weighted_generator_loss(core::const_view<T> logits, double weight, core::view<T> grad, core::grad_mode mode) {
    const core::index_t n = logits.numel();
    double total = 0.0;
    const T c = static_cast<T>(weight / double(n));
    for (core::index_t i = 0; i < n; ++i) {
        total += double(L::generator(logits[i]));
        if (mode != core::grad_mode::none) core::store_grad(grad[i], c * L::generator_grad(logits[i]), mode);
    }
    return total / double(n);
}

template <class T>
void zero_if_assigned(core::view<T> v, core::grad_mode mode) {
    if (mode == core::grad_mode::assign)
        for (core::index_t i = 0; i < v.numel(); ++i) v[i] = T(0);
}

}  // namespace detail

template <class Adversarial = logistic_loss, class Esl = edge_structure_loss, class Rcl = region_consistency_loss>
struct generator_objective {
    static_assert(adversarial_loss<Adversarial>,
                  "imbdef::policies::generator_objective: the Adversarial loss must satisfy policies::adversarial_loss: "
                  "static name, generator/real/fake(l) and their _grad derivatives (see policies/adversarial_loss.hpp)");
    static_assert(check_generator_loss_term<Esl>() && check_generator_loss_term<Rcl>());

    using adversarial_type = Adversarial;
    using esl_type = Esl;
    using rcl_type = Rcl;

    generator_loss_weights weights{};
    Esl esl{};
    Rcl rcl{};

    // The logged values from the parts' unweighted values (terms whose weight is 0 are left out of
    // the total whatever their value).
    generator_loss_values combine(double adv_img, double adv_match, double esl_value, double rcl_value) const {
        check_weights();
        generator_loss_values v{adv_img, adv_match, esl_value, rcl_value, adv_img};
        if (weights.match > 0.0) v.total += weights.match * adv_match;
        if (weights.esl > 0.0) v.total += weights.esl * esl_value;
        if (weights.rcl > 0.0) v.total += weights.rcl * rcl_value;
        return v;
    }

    template <class T>
    generator_loss_values value(core::const_view<T> logits_img, core::const_view<T> logits_match,
                                const generated_batch<T>& in) const {
        return backward(logits_img, logits_match, in, core::view<T>{}, core::view<T>{}, generated_batch_grads<T>{},
                        core::grad_mode::none, core::grad_mode::none);
    }

    template <class T>
    generator_loss_values backward(core::const_view<T> logits_img, core::const_view<T> logits_match,
                                   const generated_batch<T>& in, core::view<T> dlogits_img, core::view<T> dlogits_match,
                                   const generated_batch_grads<T>& grads, core::grad_mode data_mode,
                                   core::grad_mode code_mode) const {
        using core::grad_mode;
        check_weights();
        const bool match_on = weights.match > 0.0;
        detail::require_logits(logits_img, dlogits_img, data_mode, "D_img");
        if (match_on) detail::require_logits(logits_match, dlogits_match, data_mode, "D_match");
        detail::require_term_grad(grads.image, in.image, data_mode, "image");
        detail::require_term_grad(grads.mask_logits, in.mask_logits, data_mode, "mask_logits");
        detail::require_term_grad(grads.mask_logits_2, in.mask_logits_2, data_mode, "mask_logits_2");
        detail::require_term_grad(grads.defect_codes, in.defect_codes, code_mode, "defect_codes");
        detail::require_term_grad(grads.defect_codes_2, in.defect_codes_2, code_mode, "defect_codes_2");

        // The terms first: they check their own inputs before writing, and nothing can throw after them.
        constexpr double off = std::numeric_limits<double>::quiet_NaN();
        detail::zero_if_assigned(grads.image, data_mode);
        detail::zero_if_assigned(grads.mask_logits, data_mode);
        detail::zero_if_assigned(grads.mask_logits_2, data_mode);
        detail::zero_if_assigned(grads.defect_codes, code_mode);
        detail::zero_if_assigned(grads.defect_codes_2, code_mode);
        const grad_mode dm = data_mode == grad_mode::none ? grad_mode::none : grad_mode::accumulate;
        const grad_mode cm = code_mode == grad_mode::none ? grad_mode::none : grad_mode::accumulate;
        const double esl_value =
            weights.esl > 0.0 ? double(esl.backward(in, static_cast<T>(weights.esl), grads, dm, cm)) : off;
        const double rcl_value =
            weights.rcl > 0.0 ? double(rcl.backward(in, static_cast<T>(weights.rcl), grads, dm, cm)) : off;

        const double adv_img = detail::weighted_generator_loss<Adversarial>(logits_img, 1.0, dlogits_img, data_mode);
        double adv_match = off;
        if (match_on)
            adv_match = detail::weighted_generator_loss<Adversarial>(logits_match, weights.match, dlogits_match, data_mode);
        else
            detail::zero_if_assigned(dlogits_match, data_mode);
        return combine(adv_img, adv_match, esl_value, rcl_value);
    }

private:
    void check_weights() const {
        const auto ok = [](double w) { return std::isfinite(w) && w >= 0.0; };
        const char* where = detail::objective_where;
        IMBDEF_REQUIRE(ok(weights.match), where, "weights.match finite and >= 0", std::to_string(weights.match));
        IMBDEF_REQUIRE(ok(weights.esl), where, "weights.esl finite and >= 0", std::to_string(weights.esl));
        IMBDEF_REQUIRE(ok(weights.rcl), where, "weights.rcl finite and >= 0", std::to_string(weights.rcl));
    }
};

}  // namespace imbdef::policies
