#pragma once
// mask_resampler: carries the defect-mask logit M from one synthesis layer's output grid to the
// next, through exactly the geometry and filters of the layer (METHOD.md, stage 2: "resampled with
// the backbone's own resampling"), so M stays aligned with the features it gates.
//
// A synthesis layer maps its input grid to its output grid by
//   a full-padding k x k convolution    out[i] = sum_a x[i - (k - 1) + a] w[a]: centred on x[i - (k-1)/2]
//   the up-FIR fu, the activation, the down-FIR fd, with the layer's up, down and paddings.
// The resampler applies the same index maps to M, with the activation made the identity:
//   M' = fd * down( up( fu * pad_{(k-1)/2}(M) ) )         (filtered_lrelu with gain 1, slope 1, no clamp)
// The zero padding is the one the features get from their convolution; what it does near the
// border lands in the margin, which the last layers crop, as for the features. A constant M stays
// constant away from the border (the up-FIR carries the gain up^2 of StyleGAN3's resampling).
// The map is linear: backward applies its adjoint (the op's backward, then the crop of the pad).
// Layers without filters and with a 1x1 kernel (to-RGB) map M to itself.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../nn/module.hpp"
#include "../nn/synthesis_filters.hpp"
#include "../ops/filtered_lrelu.hpp"
#include "synthesis_schedule.hpp"

namespace imbdef::models {

class mask_resampler {
public:
    explicit mask_resampler(const layer_spec& spec)
        : spec_(spec), pad_((spec.kernel - 1) / 2), filters_(nn::synthesis_filters::design(spec)) {
        IMBDEF_REQUIRE(spec.kernel % 2 == 1, "models::mask_resampler L" + std::to_string(spec.index),
                       "an odd kernel (a centred convolution)", "kernel " + std::to_string(spec.kernel));
    }

    template <class T>
    struct context {
        core::tensor<T> padded, fu, fd, bias, d_padded;
        core::tensor<std::uint8_t> codes;
    };

    const layer_spec& spec() const noexcept { return spec_; }
    bool is_identity() const noexcept {
        return filters_.up.empty() && filters_.down.empty() && pad_ == 0 && spec_.up == 1 && spec_.down == 1 && spec_.pad_lo == 0 && spec_.pad_hi == 0;
    }

    // m [N, 1, S_in, S_in] -> out [N, 1, S_out, S_out].
    template <class T>
    void forward(core::const_view<T> m, core::view<T> out, context<T>& ctx) const {
        const std::string where = "models::mask_resampler L" + std::to_string(spec_.index);
        IMBDEF_REQUIRE(m.rank() == 4 && m.size(1) == 1 && m.size(2) == spec_.in_size && m.size(3) == spec_.in_size, where,
                       "M of shape [N, 1, " + std::to_string(spec_.in_size) + ", " + std::to_string(spec_.in_size) + "]",
                       "shape " + m.shape().to_string());
        const core::shape os{m.size(0), 1, spec_.out_size, spec_.out_size};
        IMBDEF_REQUIRE(out.shape() == os, where, "output of shape " + os.to_string(), "shape " + out.shape().to_string());
        if (is_identity()) {
            core::copy(m, out);
            return;
        }
        const core::index_t n = m.size(0), s = spec_.in_size, sp = s + 2 * pad_;
        const core::view<T> padded = nn::ensure_shape(ctx.padded, {n, 1, sp, sp});
        for (T& v : padded) v = T(0);
        for (core::index_t i = 0; i < n; ++i)
            for (core::index_t y = 0; y < s; ++y)
                for (core::index_t x = 0; x < s; ++x) padded(i, 0, y + pad_, x + pad_) = m(i, 0, y, x);
        load(ctx);
        const ops::filtered_lrelu_params fp = params();
        nn::ensure_shape(ctx.codes, ops::filtered_lrelu_mask_shape(padded.shape(), ctx.fu.shape(), ctx.fd.shape(), fp));
        ops::filtered_lrelu<T>(ctx.padded.cview(), ctx.fu.cview(), ctx.fd.cview(), ctx.bias.cview(), out, ctx.codes.view(), fp);
    }

    // dm under mode, from d_out (the gradient of the output).
    template <class T>
    void backward(context<T>& ctx, core::const_view<T> d_out, core::view<T> dm, core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        if (is_identity()) {
            for (core::index_t i = 0; i < dm.numel(); ++i) core::store_grad(dm[i], d_out[i], mode);
            return;
        }
        const core::view<T> dp = nn::ensure_shape(ctx.d_padded, ctx.padded.shape());
        ops::filtered_lrelu_backward<T>(ctx.padded.shape(), ctx.fu.cview(), ctx.fd.cview(), ctx.codes.cview(), d_out, dp,
                                        core::view<T>{}, core::grad_mode::assign, core::grad_mode::none, params());
        const core::index_t n = dm.size(0), s = spec_.in_size;
        for (core::index_t i = 0; i < n; ++i)
            for (core::index_t y = 0; y < s; ++y)
                for (core::index_t x = 0; x < s; ++x) core::store_grad(dm(i, 0, y, x), dp(i, 0, y + pad_, x + pad_), mode);
    }

private:
    ops::filtered_lrelu_params params() const {
        ops::filtered_lrelu_params f;
        f.up = spec_.up;
        f.down = spec_.down;
        f.pad_x0 = f.pad_y0 = spec_.pad_lo;
        f.pad_x1 = f.pad_y1 = spec_.pad_hi;
        f.gain = 1.0;
        f.slope = 1.0;
        return f;  // clamp: none
    }

    template <class T>
    void load(context<T>& ctx) const {
        filters_.load(ctx.fu, ctx.fd);
        nn::ensure_shape(ctx.bias, {1})[0] = T(0);
    }

    layer_spec spec_;
    core::index_t pad_;
    nn::synthesis_filters filters_;
};

}  // namespace imbdef::models
