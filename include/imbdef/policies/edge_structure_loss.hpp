#pragma once
// The Edge Structure Loss in its mode-seeking form, the default ESL (METHOD.md, "Stage 2"): for one
// background code and two defect codes,
//
//   L = mean|w_d1 - w_d2| / (mean|E(m_1) - E(m_2)| + eps),   m_p = tanh(k M_p),  k = 10,  eps = 1e-5,
//
// with E the Sobel gradient magnitude (ops/sobel.hpp) and M_p the mask logits of pass p. Minimising
// L asks two defect codes for mask boundaries that differ in proportion to how far apart the codes
// are, against mode collapse of the defect shape: DFMGAN's L_MS ('w/mask') on edge maps instead of
// masks, with an epsilon so that identical masks give a large finite loss, not a division by zero.
//
// Conventions:
// - Both means run over the whole batch (every element of w_d, every pixel of every sample): one
//   ratio of batch means, as METHOD.md writes it and DFMGAN computes it. A ratio per sample would
//   explode for a sample whose two masks happen to coincide (two empty masks, say).
// - E is ops::sobel_magnitude under `sobel` (default: normalised kernels, replicate border), that is
//   sqrt(gx^2 + gy^2 + delta) with delta = sobel.eps = 1e-6: differentiable where a mask is flat,
//   where E = 1e-3 for both passes and cancels in the difference.
// - |x| is differentiated as sign(x) with sign(0) = 0.
//
// Gradients, for the loss scaled by s, with A = mean|w_1 - w_2| over n_w elements and
// D = mean|E_1 - E_2| over n_e pixels:
//   dw_1 = s sign(w_1 - w_2) / (n_w (D + eps)),     dw_2 = -dw_1                 (code_mode)
//   dE_1 = -s A sign(E_1 - E_2) / (n_e (D + eps)^2), dE_2 = -dE_1
//   dM_p = k (1 - m_p^2) E^T dE_p   (E^T: ops::sobel_magnitude_backward)         (data_mode)
// DFMGAN lets this gradient reach w_d (the defect mapping) as well; code_mode none drops it.
// Scratch comes from the calling thread's arena: repeated calls allocate nothing.

#include <cmath>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/scratch.hpp"
#include "../core/tensor.hpp"
#include "../ops/sobel.hpp"
#include "generator_loss_term.hpp"

namespace imbdef::policies {

struct edge_structure_loss {
    static constexpr std::string_view name = "edge_structure";
    double mask_sharpness = 10.0;  // k in m = tanh(k M), the soft mask D_match sees
    double eps = 1e-5;
    ops::sobel_params sobel{};

    // Reads mask_logits, mask_logits_2, defect_codes, defect_codes_2.
    template <class T>
    T value(const generated_batch<T>& in) const {
        return backward(in, T(0), generated_batch_grads<T>{}, core::grad_mode::none, core::grad_mode::none);
    }

    template <class T>
    T backward(const generated_batch<T>& in, T scale, const generated_batch_grads<T>& grads, core::grad_mode data_mode,
               core::grad_mode code_mode) const {
        using core::grad_mode;
        using core::index_t;
        check(in, grads, data_mode, code_mode);
        const core::shape& s = in.mask_logits.shape();
        const index_t n_e = s.numel(), n_w = in.defect_codes.numel();
        core::scratch_scope<> scope;
        const core::view<T> m1 = scope.allocate<T>(s), m2 = scope.allocate<T>(s);
        const core::view<T> e1 = scope.allocate<T>(s), e2 = scope.allocate<T>(s);
        soft_mask<T>(in.mask_logits, m1);
        soft_mask<T>(in.mask_logits_2, m2);
        ops::sobel_magnitude<T>(m1, e1, sobel);
        ops::sobel_magnitude<T>(m2, e2, sobel);

        // Sums in double: a float batch has up to millions of pixels.
        double a = 0.0, d = 0.0;
        for (index_t i = 0; i < n_w; ++i) a += std::abs(double(in.defect_codes[i]) - double(in.defect_codes_2[i]));
        for (index_t i = 0; i < n_e; ++i) d += std::abs(double(e1[i]) - double(e2[i]));
        a /= double(n_w);
        d /= double(n_e);
        const double denom = d + eps;

        if (code_mode != grad_mode::none) {
            const T c = static_cast<T>(double(scale) / (double(n_w) * denom));
            for (index_t i = 0; i < n_w; ++i) {
                const T g = c * detail::sign(in.defect_codes[i] - in.defect_codes_2[i]);
                core::store_grad(grads.defect_codes[i], g, code_mode);
                core::store_grad(grads.defect_codes_2[i], -g, code_mode);
            }
        }
        if (data_mode != grad_mode::none) {
            const core::view<T> de = scope.allocate<T>(s), dm = scope.allocate<T>(s);
            const T c = static_cast<T>(-double(scale) * a / (double(n_e) * denom * denom));
            for (index_t i = 0; i < n_e; ++i) de[i] = c * detail::sign(e1[i] - e2[i]);
            mask_grad<T>(m1, de, dm, grads.mask_logits, data_mode);
            for (index_t i = 0; i < n_e; ++i) de[i] = -de[i];
            mask_grad<T>(m2, de, dm, grads.mask_logits_2, data_mode);
        }
        return static_cast<T>(a / denom);
    }

private:
    template <class T>
    void check(const generated_batch<T>& in, const generated_batch_grads<T>& g, core::grad_mode data_mode,
               core::grad_mode code_mode) const {
        detail::require_positive(name, "mask_sharpness", mask_sharpness);
        detail::require_positive(name, "eps", eps);
        detail::require_mask_shape(name, "mask_logits", in.mask_logits.shape());
        detail::require_shape_as(name, "mask_logits_2", in.mask_logits_2.shape(), "mask_logits", in.mask_logits.shape());
        const core::shape& w = in.defect_codes.shape();
        IMBDEF_REQUIRE(w.rank() >= 2 && w[0] == in.mask_logits.size(0) && w.numel() > 0, detail::term_where(name),
                       "defect_codes of shape [" + std::to_string(in.mask_logits.size(0)) +
                           ", w_dim] (or [N, L, w_dim]), one row per mask",
                       "defect_codes of shape " + w.to_string());
        detail::require_shape_as(name, "defect_codes_2", in.defect_codes_2.shape(), "defect_codes", w);
        detail::require_grad_shape(name, "the gradient of mask_logits", g.mask_logits.shape(), "mask_logits",
                                   in.mask_logits.shape(), data_mode);
        detail::require_grad_shape(name, "the gradient of mask_logits_2", g.mask_logits_2.shape(), "mask_logits",
                                   in.mask_logits.shape(), data_mode);
        detail::require_grad_shape(name, "the gradient of defect_codes", g.defect_codes.shape(), "defect_codes", w,
                                   code_mode);
        detail::require_grad_shape(name, "the gradient of defect_codes_2", g.defect_codes_2.shape(), "defect_codes", w,
                                   code_mode);
    }

    template <class T>
    void soft_mask(core::const_view<T> logits, core::view<T> m) const {
        const T k = static_cast<T>(mask_sharpness);
        for (core::index_t i = 0; i < m.numel(); ++i) m[i] = std::tanh(k * logits[i]);
    }

    // dM (under mode) = k (1 - m^2) E^T de, through `scratch`.
    template <class T>
    void mask_grad(core::const_view<T> m, core::const_view<T> de, core::view<T> scratch, core::view<T> dlogits,
                   core::grad_mode mode) const {
        ops::sobel_magnitude_backward<T>(m, de, scratch, core::grad_mode::assign, sobel);
        const T k = static_cast<T>(mask_sharpness);
        for (core::index_t i = 0; i < m.numel(); ++i)
            core::store_grad(dlogits[i], scratch[i] * k * (T(1) - m[i] * m[i]), mode);
    }
};

static_assert(generator_loss_term<edge_structure_loss>);

}  // namespace imbdef::policies
