#pragma once
// The Edge Structure Loss in its fidelity form, the second ESL policy (METHOD.md, "Stage 2": image
// edges agree with the mask boundary inside a band around it). Per sample, over its pixels i:
//
//   S    = sigmoid(kappa M)                    the blend's gate (policies/blend.hpp), kappa = 10
//   E_s  = E(S)                                edge map of the mask
//   B    = E_s^2 / (E_s^2 + tau^2)             band weight, tau = 0.05: near 1 where the mask
//                                              changes, about 4e-4 where it is flat
//   d    = mean over channels of (x_d - x_b)   what the defect branch changed in the image
//   E_d  = E(d)                                edge map of that change
//   n_d  = E_d / mean_i(E_d),  n_s = E_s / mean_i(E_s)     each edge map over its own mean
//   L_n  = sum_i B (n_d - n_s)^2 / (sum_i B n_s^2 + eps)
//   L    = mean over samples of L_n
//
// L is 0 when, inside the band, the image's change has edges exactly where and in proportion to
// how sharply the mask changes, and about 1 when it has none there (a change that stops away from
// the boundary); no change at all is a flat edge map and scores about (1 - f)^2, f the share of the
// frame the band covers. The normalisation makes L blind to the defect's contrast; it
// runs over the whole sample, not the band, because inside the band alone any flat edge map would
// match the mask's (both are nearly constant along a boundary). Edges of the change away from the
// boundary (texture inside the defect) therefore count, through the mean only: they dilute n_d.
// E is ops::sobel_magnitude under `sobel` (sqrt(gx^2 + gy^2 + 1e-6)), so both means are at least
// 1e-3 and every quantity is differentiable; eps = 1e-12 guards the division.
// Per sample, because each defect has its own contrast; the batch mean weighs samples equally.
//
// Gradients, for the loss scaled by s, with r = n_d - n_s, U and V the two sums of sample n and
// a = s / (N (V + eps)), b = s U / (N (V + eps)^2):
//   dn_d = 2 a B r,   dn_s = -2 a B r - 2 b B n_s,   dB = a r^2 - b n_s^2
//   dE_d = (dn_d - mean_i(dn_d n_d)) / mean_i(E_d)
//   dE_s = (dn_s - mean_i(dn_s n_s)) / mean_i(E_s) + dB 2 E_s tau^2 / (E_s^2 + tau^2)^2
//   dx_d[c] = E^T(dE_d) / C              (data_mode; x_b is a constant)
//   dM = kappa S (1 - S) E^T(dE_s)       (data_mode)
// with E^T = ops::sobel_magnitude_backward. Scratch comes from the calling thread's arena.

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

struct edge_fidelity_loss {
    static constexpr std::string_view name = "edge_fidelity";
    double kappa = 10.0;  // S = sigmoid(kappa M), as the sigmoid blend
    double tau = 0.05;    // the mask edge strength at which the band weight is 1/2
    double eps = 1e-12;
    ops::sobel_params sobel{};

    // Reads image, background, mask_logits.
    template <class T>
    T value(const generated_batch<T>& in) const {
        return backward(in, T(0), generated_batch_grads<T>{}, core::grad_mode::none, core::grad_mode::none);
    }

    template <class T>
    T backward(const generated_batch<T>& in, T scale, const generated_batch_grads<T>& grads, core::grad_mode data_mode,
               core::grad_mode /*code_mode: reads no code*/) const {
        using core::index_t;
        check(in, grads, data_mode);
        const core::shape& ms = in.mask_logits.shape();
        const index_t n = ms[0], c = in.image.size(1), hw = ms[2] * ms[3];
        core::scratch_scope<> scope;
        const core::view<T> s = scope.allocate<T>(ms), es = scope.allocate<T>(ms);
        const core::view<T> d = scope.allocate<T>(ms), ed = scope.allocate<T>(ms);
        const core::view<double> sums = scope.allocate<double>(core::shape{n, 4});

        const T kappa_t = static_cast<T>(kappa);
        for (index_t i = 0; i < n * hw; ++i) s[i] = detail::sigmoid(kappa_t * in.mask_logits[i]);
        for (index_t j = 0; j < n; ++j)
            for (index_t i = 0; i < hw; ++i) {
                double acc = 0.0;
                for (index_t ch = 0; ch < c; ++ch) {
                    const index_t k = (j * c + ch) * hw + i;
                    acc += double(in.image[k]) - double(in.background[k]);
                }
                d[j * hw + i] = static_cast<T>(acc / double(c));
            }
        ops::sobel_magnitude<T>(s, es, sobel);
        ops::sobel_magnitude<T>(d, ed, sobel);

        // Per sample: mean(E_d), mean(E_s), U, V; sums in double.
        double loss = 0.0;
        for (index_t j = 0; j < n; ++j) {
            double mu_d = 0.0, mu_s = 0.0;
            for (index_t i = j * hw; i < (j + 1) * hw; ++i) {
                mu_d += double(ed[i]);
                mu_s += double(es[i]);
            }
            mu_d /= double(hw);
            mu_s /= double(hw);
            double u = 0.0, v = 0.0;
            for (index_t i = j * hw; i < (j + 1) * hw; ++i) {
                const double b = band(es[i]), n_s = double(es[i]) / mu_s, r = double(ed[i]) / mu_d - n_s;
                u += b * r * r;
                v += b * n_s * n_s;
            }
            sums(j, 0) = mu_d;
            sums(j, 1) = mu_s;
            sums(j, 2) = u;
            sums(j, 3) = v;
            loss += u / (v + eps);
        }
        loss /= double(n);
        if (data_mode == core::grad_mode::none) return static_cast<T>(loss);

        // dE_d into ed's place and dE_s into es's, in two passes per sample: the first sums
        // mean(dn_d n_d) and mean(dn_s n_s), the second writes.
        const double tau2 = tau * tau;
        for (index_t j = 0; j < n; ++j) {
            const double mu_d = sums(j, 0), mu_s = sums(j, 1), u = sums(j, 2), v = sums(j, 3) + eps;
            const double a = double(scale) / (double(n) * v), bb = a * u / v;
            const auto pixel = [&](index_t i, double& dn_d, double& dn_s, double& db, double& n_d, double& n_s) {
                const double b = band(es[i]);
                n_d = double(ed[i]) / mu_d;
                n_s = double(es[i]) / mu_s;
                const double r = n_d - n_s;
                dn_d = 2.0 * a * b * r;
                dn_s = -2.0 * a * b * r - 2.0 * bb * b * n_s;
                db = a * r * r - bb * n_s * n_s;
            };
            double m_d = 0.0, m_s = 0.0;
            for (index_t i = j * hw; i < (j + 1) * hw; ++i) {
                double dn_d, dn_s, db, n_d, n_s;
                pixel(i, dn_d, dn_s, db, n_d, n_s);
                m_d += dn_d * n_d;
                m_s += dn_s * n_s;
            }
            m_d /= double(hw);
            m_s /= double(hw);
            for (index_t i = j * hw; i < (j + 1) * hw; ++i) {
                double dn_d, dn_s, db, n_d, n_s;
                pixel(i, dn_d, dn_s, db, n_d, n_s);
                const double e_s = es[i], w = e_s * e_s + tau2;
                ed[i] = static_cast<T>((dn_d - m_d) / mu_d);
                es[i] = static_cast<T>((dn_s - m_s) / mu_s + db * 2.0 * e_s * tau2 / (w * w));
            }
        }
        const core::view<T> back = scope.allocate<T>(ms);
        ops::sobel_magnitude_backward<T>(d, ed, back, core::grad_mode::assign, sobel);
        const T inv_c = T(1) / static_cast<T>(c);
        for (index_t j = 0; j < n; ++j)
            for (index_t ch = 0; ch < c; ++ch)
                for (index_t i = 0; i < hw; ++i)
                    core::store_grad(grads.image[(j * c + ch) * hw + i], back[j * hw + i] * inv_c, data_mode);
        ops::sobel_magnitude_backward<T>(s, es, back, core::grad_mode::assign, sobel);
        for (index_t i = 0; i < n * hw; ++i)
            core::store_grad(grads.mask_logits[i], back[i] * kappa_t * s[i] * (T(1) - s[i]), data_mode);
        return static_cast<T>(loss);
    }

private:
    template <class T>
    double band(T e_s) const {
        const double e2 = double(e_s) * double(e_s);
        return e2 / (e2 + tau * tau);
    }

    template <class T>
    void check(const generated_batch<T>& in, const generated_batch_grads<T>& g, core::grad_mode data_mode) const {
        detail::require_positive(name, "kappa", kappa);
        detail::require_positive(name, "tau", tau);
        detail::require_positive(name, "eps", eps);
        const core::shape& x = in.image.shape();
        IMBDEF_REQUIRE(x.rank() == 4 && x.numel() > 0, detail::term_where(name),
                       "image of shape [N, C, H, W] with at least one pixel", "image of shape " + x.to_string());
        detail::require_shape_as(name, "background", in.background.shape(), "image", x);
        const core::shape m{x[0], 1, x[2], x[3]};
        IMBDEF_REQUIRE(in.mask_logits.shape() == m, detail::term_where(name),
                       "mask_logits of shape " + m.to_string() + " (one channel, image " + x.to_string() + ")",
                       "mask_logits of shape " + in.mask_logits.shape().to_string());
        detail::require_grad_shape(name, "the gradient of image", g.image.shape(), "image", x, data_mode);
        detail::require_grad_shape(name, "the gradient of mask_logits", g.mask_logits.shape(), "mask_logits", m,
                                   data_mode);
    }
};

static_assert(generator_loss_term<edge_fidelity_loss>);

}  // namespace imbdef::policies
