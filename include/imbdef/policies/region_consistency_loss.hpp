#pragma once
// The Region Consistency Loss (METHOD.md, "Stage 2"): the fraction of soft defect mass that lies
// outside the valid region,
//
//   L = sum(S (1 - b)) / (sum(S) + eps),   S = sigmoid(kappa M),  kappa = 10,  eps = 1e-6,
//
// with S the blend's gate (policies/blend.hpp: what actually lets the defect residual through) and
// b in [0, 1] the frozen stage-1 valid-region mask of the same background, a constant.
//
// Both sums run over the whole batch: L is the share of the batch's defect mass that is out of
// region, so every pixel of defect counts the same wherever it is. A ratio per sample would give a
// sample whose mask is nearly empty (sum S near 0, a ratio of two tiny numbers) the weight of a
// whole defect and a gradient of order 1 / sum(S).
//
// Gradient, for the loss scaled by s, with A = sum(S (1 - b)) and Z = sum(S) + eps:
//   dM = s kappa S (1 - S) ((1 - b) / Z - A / Z^2)      (data_mode; b gets none)

#include <cmath>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "generator_loss_term.hpp"

namespace imbdef::policies {

struct region_consistency_loss {
    static constexpr std::string_view name = "region_consistency";
    double kappa = 10.0;  // S = sigmoid(kappa M), as the sigmoid blend
    double eps = 1e-6;

    // Reads mask_logits, valid_region.
    template <class T>
    T value(const generated_batch<T>& in) const {
        return backward(in, T(0), generated_batch_grads<T>{}, core::grad_mode::none, core::grad_mode::none);
    }

    template <class T>
    T backward(const generated_batch<T>& in, T scale, const generated_batch_grads<T>& grads, core::grad_mode data_mode,
               core::grad_mode /*code_mode: reads no code*/) const {
        check(in, grads, data_mode);
        const core::index_t n = in.mask_logits.numel();
        const T k = static_cast<T>(kappa);
        double outside = 0.0, total = 0.0;  // in double: a float batch has up to millions of pixels
        for (core::index_t i = 0; i < n; ++i) {
            const double s = detail::sigmoid(k * in.mask_logits[i]);
            outside += s * (1.0 - double(in.valid_region[i]));
            total += s;
        }
        const double z = total + eps;
        if (data_mode != core::grad_mode::none) {
            const double a = double(scale) / z, c = double(scale) * outside / (z * z);
            for (core::index_t i = 0; i < n; ++i) {
                const T s = detail::sigmoid(k * in.mask_logits[i]);
                const T ds = static_cast<T>(a * (1.0 - double(in.valid_region[i])) - c);
                core::store_grad(grads.mask_logits[i], ds * k * s * (T(1) - s), data_mode);
            }
        }
        return static_cast<T>(outside / z);
    }

private:
    template <class T>
    void check(const generated_batch<T>& in, const generated_batch_grads<T>& g, core::grad_mode data_mode) const {
        detail::require_positive(name, "kappa", kappa);
        detail::require_positive(name, "eps", eps);
        detail::require_mask_shape(name, "mask_logits", in.mask_logits.shape());
        detail::require_shape_as(name, "valid_region", in.valid_region.shape(), "mask_logits", in.mask_logits.shape());
        detail::require_grad_shape(name, "the gradient of mask_logits", g.mask_logits.shape(), "mask_logits",
                                   in.mask_logits.shape(), data_mode);
        for (core::index_t i = 0; i < in.valid_region.numel(); ++i) {
            const T b = in.valid_region[i];
            IMBDEF_REQUIRE(b >= T(0) && b <= T(1), detail::term_where(name), "valid_region values in [0, 1]",
                           std::to_string(double(b)) + " at element " + std::to_string(i));
        }
    }
};

static_assert(generator_loss_term<region_consistency_loss>);

}  // namespace imbdef::policies
