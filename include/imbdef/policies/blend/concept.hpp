#pragma once
// The blend contract (METHOD.md, stage 2): how the defect branch's residual enters the backbone,
//   F = F_S + beta * S(M) * F_R,
// with backbone features F_S and residual F_R of shape [N, C, H, W] and the defect-mask logit M of
// shape [N, 1, H, W], broadcast over channels. The gate S, in [0, 1], is what a blend chooses.
//
//   forward(F_S, F_R, M, F)                     F of F_S's shape. F may be F_S itself (in place):
//                                               every element of F_S is read before F's is written.
//   backward(F_R, M, dF, dF_S, dF_R, dM, mode)  dF_S = dF, dF_R = beta S dF,
//                                               dM = beta S'(M) sum_c dF F_R (0 for a hard gate),
//                                               all three under the one data grad mode; under none
//                                               it returns at once and the buffers may be empty.
//                                               Outputs must not overlap inputs or each other.
// Both are const templates over T (float in training, double in the gradient checks): a blend
// holds only its parameters, and backward recomputes S from M. Bad shapes throw imbdef::error
// naming the blend, the argument and both shapes.

#include <concepts>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/shape.hpp"
#include "../../core/tensor.hpp"
#include "../../ops/check.hpp"

namespace imbdef::policies {

template <class B>
concept blend_policy = requires(const B b, core::const_view<float> f, core::view<float> out, core::grad_mode m) {
    { B::name } -> std::convertible_to<std::string_view>;
    b.forward(f, f, f, out);
    b.backward(f, f, f, out, out, out, m);
};

namespace detail {

inline std::string blend_where(std::string_view blend) { return "policies::" + std::string(blend); }

// `ref` (F_S in forward, dF in backward) of rank 4, F_R of its shape, M [N, 1, H, W] of its size.
inline void check_blend_inputs(const std::string& where, std::string_view ref, const core::shape& x,
                               const core::shape& fr, const core::shape& m) {
    IMBDEF_REQUIRE(x.rank() == 4, where, std::string(ref) + " of rank 4 [N, C, H, W]",
                   std::string(ref) + " of shape " + x.to_string());
    ops::require_shape_of(where, "F_R", fr, ref, x);
    const core::shape expected_m{x[0], 1, x[2], x[3]};
    IMBDEF_REQUIRE(m == expected_m, where,
                   "M of shape " + expected_m.to_string() + " (one channel at the size of " + std::string(ref) + ")",
                   "M of shape " + m.to_string());
}

inline void check_blend_forward(std::string_view blend, const core::shape& fs, const core::shape& fr,
                                const core::shape& m, const core::shape& f) {
    const std::string where = blend_where(blend);
    check_blend_inputs(where, "F_S", fs, fr, m);
    ops::require_shape_of(where, "F", f, "F_S", fs);
}

inline void check_blend_backward(std::string_view blend, const core::shape& fr, const core::shape& m,
                                 const core::shape& df, const core::shape& dfs, const core::shape& dfr,
                                 const core::shape& dm) {
    const std::string where = blend_where(blend) + " backward";
    check_blend_inputs(where, "dF", df, fr, m);
    ops::require_shape_of(where, "dF_S", dfs, "dF", df);
    ops::require_shape_of(where, "dF_R", dfr, "dF", df);
    ops::require_shape_of(where, "dM", dm, "M", m);
}

}  // namespace detail

}  // namespace imbdef::policies
