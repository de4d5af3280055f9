#pragma once
// blurred_hard_blend: the hard mask softened by a Gaussian blur (METHOD.md, stage 2, "a
// Gaussian-blurred hard mask"),
//   S = gaussian_blur_sigma(1[M >= 0]),
// sigma in pixels of the feature map the blend is applied to (so the same sigma is a wider band,
// in image pixels, at a coarser layer). The taps are those of ops::gaussian_blur (radius
// ceil(3 sigma), normalised to sum 1), applied along x then y in double.
//
// The border replicates the edge pixel, where ops::gaussian_blur pads with zeros: a zero border
// would darken S near the edge, so a defect covering the whole map would no longer be gated fully
// on. With normalised taps and a replicated border a constant mask stays constant: S = 0 exactly
// for an empty mask, and for a full one the tap sum, 1 within a few double ulps (exactly 1 in
// float). Replication rather than reflection because it is defined for any radius (a reflection
// has to fold again once the radius exceeds the map, as at sigma 1 on a 2 x 2 map).
//
// The gate is not differentiable in M (the step is), so dM = 0 as for the hard gate; dF_S = dF
// and dF_R = beta S dF. S is not pointwise in M, so this blend computes it for the whole map (in
// the calling thread's scratch arena) before the shared residual loops.

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../../ops/def/blur.hpp"
#include "concept.hpp"
#include "residual.hpp"

namespace imbdef::policies {

struct blurred_hard_blend {
    static constexpr std::string_view name = "blurred_hard_blend";
    double sigma = 1.0;  // blur standard deviation, in pixels of the feature map
    double beta = 1.0;

    void validate() const {
        const std::string where = detail::blend_where(name);
        IMBDEF_REQUIRE(sigma > 0.0 && std::isfinite(sigma), where, "sigma > 0 and finite",
                       "sigma " + std::to_string(sigma));
        IMBDEF_REQUIRE(std::isfinite(beta), where, "a finite beta", "beta " + std::to_string(beta));
    }

    // Writes the gate S [N, 1, H, W] for the logits M of the same shape.
    template <class T>
    void gate_map(core::const_view<T> m, core::view<T> s) const {
        const std::string where = detail::blend_where(name) + " gate_map";
        IMBDEF_REQUIRE(m.shape().rank() == 4 && m.size(1) == 1, where, "M of shape [N, 1, H, W]",
                       "M of shape " + m.shape().to_string());
        ops::require_shape_of(where, "S", s.shape(), "M", m.shape());
        validate();
        write_gate(m, s);
    }

    template <class T>
    void forward(core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m, core::view<T> f) const {
        detail::check_blend_forward(name, fs.shape(), fr.shape(), m.shape(), f.shape());
        validate();
        core::scratch_scope<> scope;
        const core::view<T> s = scope.allocate<T>(m.shape());
        write_gate(m, s);
        const core::index_t hw = m.size(2) * m.size(3);
        detail::blend_residual_forward(static_cast<T>(beta), fs, fr, f,
                                       [&](core::index_t n, core::index_t i) { return s[n * hw + i]; });
    }

    template <class T>
    void backward(core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df, core::view<T> dfs,
                  core::view<T> dfr, core::view<T> dm, core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        detail::check_blend_backward(name, fr.shape(), m.shape(), df.shape(), dfs.shape(), dfr.shape(), dm.shape());
        validate();
        core::scratch_scope<> scope;
        const core::view<T> s = scope.allocate<T>(m.shape());
        write_gate(m, s);
        const core::index_t hw = m.size(2) * m.size(3);
        detail::blend_residual_backward(static_cast<T>(beta), fr, df, dfs, dfr, dm, mode,
                                        [&](core::index_t n, core::index_t i) { return s[n * hw + i]; },
                                        detail::zero_slope{});
    }

private:
    // S = blur(1[M >= 0]) with a replicated border. Every output sums its taps in the same order
    // (k = -r..r, zeros included), and floating-point addition is monotone in each operand, so the
    // blur of a step is monotone exactly, not only up to rounding.
    template <class T>
    void write_gate(core::const_view<T> m, core::view<T> s) const {
        const core::index_t n = m.size(0), h = m.size(2), w = m.size(3);
        if (n == 0 || h == 0 || w == 0) return;
        const core::index_t r = ops::gaussian_blur_op::radius(sigma);
        core::scratch_scope<> scope;
        const core::view<double> taps = scope.allocate<double>(core::shape{2 * r + 1});
        const core::view<double> rows = scope.allocate<double>(core::shape{n, h, w});
        double sum = 0.0;
        for (core::index_t k = -r; k <= r; ++k) sum += ops::gaussian_blur_op::tap(k, sigma);
        for (core::index_t k = -r; k <= r; ++k) taps[k + r] = ops::gaussian_blur_op::tap(k, sigma) / sum;
        const double* tap = taps.data() + r;  // tap[k], k in [-r, r]
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t b = lo; b < hi; ++b) {
                const T* mb = m.data() + b * h * w;
                double* rb = rows.data() + b * h * w;
                for (core::index_t y = 0; y < h; ++y)
                    for (core::index_t x = 0; x < w; ++x) {
                        double acc = 0.0;
                        for (core::index_t k = -r; k <= r; ++k) {
                            const core::index_t xx = std::clamp<core::index_t>(x + k, 0, w - 1);
                            acc += mb[y * w + xx] >= T(0) ? tap[k] : 0.0;
                        }
                        rb[y * w + x] = acc;
                    }
                T* sb = s.data() + b * h * w;
                for (core::index_t y = 0; y < h; ++y)
                    for (core::index_t x = 0; x < w; ++x) {
                        double acc = 0.0;
                        for (core::index_t k = -r; k <= r; ++k)
                            acc += tap[k] * rb[std::clamp<core::index_t>(y + k, 0, h - 1) * w + x];
                        sb[y * w + x] = static_cast<T>(acc);
                    }
            }
        });
    }
};

static_assert(blend_policy<blurred_hard_blend>);

}  // namespace imbdef::policies
