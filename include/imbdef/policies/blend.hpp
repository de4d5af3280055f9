#pragma once
// Blends (METHOD.md, stage 2; docs/policies.md, "blend"): how the defect branch's residual enters
// the backbone, F = F_S + beta * S(M) * F_R, the gate S chosen by the policy.
//   blend_policy                 the concept (blend/concept.hpp)
//   pointwise_gate, gate_blend   a gate S(m) with its derivative, lifted into a blend
//                                (blend/gate_blend.hpp)
//   sigmoid_blend                gate_blend<sigmoid_gate>, S = sigmoid(kappa M): the default
//   hard_gate_blend              gate_blend<hard_gate>, S = 1[M >= 0] (DFMGAN), dM = 0
//   blurred_hard_blend           S = Gaussian blur of 1[M >= 0], dM = 0 (blend/blurred_hard_blend.hpp)
//   scheduled_sigmoid_blend      kappa from soft to sharp over training progress
//   blend_at(blend, progress)    the blend to use at a progress (blend/scheduled_blend.hpp)

#include "blend/blurred_hard_blend.hpp"
#include "blend/concept.hpp"
#include "blend/gate_blend.hpp"
#include "blend/scheduled_blend.hpp"
