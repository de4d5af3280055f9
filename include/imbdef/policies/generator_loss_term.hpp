#pragma once
// Generator loss terms of stage 2 (METHOD.md, "Stage 2"; DESIGN.md, "Policies": generated batch ->
// value and gradients): the concept every term satisfies and the batch it reads, so that the
// generator objective (generator_objective.hpp) takes any term, a user's own included.
//
// A term sees one generator step through generated_batch<T>, views of everything a term may read.
// It reads what it needs; what it does not read may be empty.
//   image           x_d  [N, C, H, W]   the defect image of the first pass
//   background      x_b  [N, C, H, W]   the same backgrounds with the branch off (frozen: a constant)
//   mask_logits     M_1  [N, 1, H, W]   the defect-mask logits of the first pass
//   defect_codes    w_d1 [N, ...]       its defect codes: [N, w_dim], or per layer [N, L, w_dim]
//   mask_logits_2   M_2, defect_codes_2 w_d2: a second pass with the same background codes and
//                                       other defect codes (the mode-seeking pair)
//   valid_region    b    [N, 1, H, W]   the frozen stage-1 valid-region mask, in [0, 1] (a constant)
// Every pair of the two passes is over the whole batch: sample n of pass 2 shares its background
// with sample n of pass 1.
//
// The contract of a term L:
//   L::name                                    static, a string_view for logs
//   value(in) -> T                             the loss
//   backward(in, scale, grads, data_mode, code_mode) -> T
//                                              the loss again, and scale * dL/d(input) for every
//                                              input the term reads: image and mask logits under
//                                              data_mode, defect codes under code_mode
//                                              (core/grad_mode.hpp). The buffers of inputs the term
//                                              does not read are neither read nor written and may be
//                                              empty, so a caller that sums terms zeroes its assign
//                                              buffers once and accumulates every term into them.
// Bad shapes or parameters throw imbdef::error before anything is written.

#include <cmath>
#include <concepts>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "adversarial_loss.hpp"  // detail::sigmoid, shared with the logistic loss

namespace imbdef::policies {

template <class T>
struct generated_batch {
    core::const_view<T> image{};
    core::const_view<T> background{};
    core::const_view<T> mask_logits{};
    core::const_view<T> defect_codes{};
    core::const_view<T> mask_logits_2{};
    core::const_view<T> defect_codes_2{};
    core::const_view<T> valid_region{};
};

// Gradient buffers, one per input that can have a gradient (background and valid region are
// constants), each of its input's shape when written.
template <class T>
struct generated_batch_grads {
    core::view<T> image{};
    core::view<T> mask_logits{};
    core::view<T> defect_codes{};
    core::view<T> mask_logits_2{};
    core::view<T> defect_codes_2{};
};

template <class L>
concept generator_loss_term =
    std::copy_constructible<L> &&
    requires(const L l, const generated_batch<float>& in, const generated_batch_grads<float>& g, float scale,
             core::grad_mode m) {
        { L::name } -> std::convertible_to<std::string_view>;
        { l.value(in) } -> std::convertible_to<double>;
        { l.backward(in, scale, g, m, m) } -> std::convertible_to<double>;
    };

// Produces the concept's diagnostic inside the objective with one readable message. It returns
// true even then, so that the caller's static_assert adds no second error.
template <class L>
constexpr bool check_generator_loss_term() {
    static_assert(generator_loss_term<L>,
                  "imbdef::policies::generator_objective: every loss term must satisfy "
                  "policies::generator_loss_term: static name, value(generated_batch<T>) -> T and "
                  "backward(generated_batch<T>, scale, generated_batch_grads<T>, data_mode, code_mode) -> T "
                  "(see policies/generator_loss_term.hpp)");
    return true;
}

namespace detail {

inline std::string term_where(std::string_view term) { return "policies::" + std::string(term); }

// A mask-shaped input: [N, 1, H, W] with at least one pixel.
inline void require_mask_shape(std::string_view term, std::string_view name, const core::shape& s) {
    IMBDEF_REQUIRE(s.rank() == 4 && s[1] == 1 && s.numel() > 0, term_where(term),
                   std::string(name) + " of shape [N, 1, H, W] with at least one pixel",
                   std::string(name) + " of shape " + s.to_string());
}

// `s` (named `name`) must equal `ref` (named `ref_name`).
inline void require_shape_as(std::string_view term, std::string_view name, const core::shape& s,
                             std::string_view ref_name, const core::shape& ref) {
    IMBDEF_REQUIRE(s == ref, term_where(term), std::string(name) + " of " + std::string(ref_name) + "'s shape " + ref.to_string(),
                   std::string(name) + " of shape " + s.to_string());
}

// A gradient buffer is checked only when its mode writes it.
inline void require_grad_shape(std::string_view term, std::string_view name, const core::shape& s,
                               std::string_view input, const core::shape& ref, core::grad_mode mode) {
    if (mode != core::grad_mode::none) require_shape_as(term, name, s, input, ref);
}

inline void require_positive(std::string_view term, std::string_view name, double v) {
    IMBDEF_REQUIRE(v > 0.0 && std::isfinite(v), term_where(term), std::string(name) + " finite and > 0",
                   std::string(name) + " " + std::to_string(v));
}

// sign(x) with sign(0) = 0: the derivative we give |x| (its subgradient at 0 that keeps a tie
// from pushing either way).
template <class T>
T sign(T x) {
    return static_cast<T>((x > T(0)) - (x < T(0)));
}

}  // namespace detail

}  // namespace imbdef::policies
