#pragma once
// Modulated convolution (reference section 3.3), NCHW, stride 1:
//   Wn[n, o, i, u, v] = g * d[n, o] * W[o, i, u, v] * s[n, i]
//   d[n, o] = rsqrt(sum_{i,u,v} (W[o, i, u, v] s[n, i])^2 + eps)   (1 without demodulation)
//   y[n] = conv2d(x[n], Wn[n], padding)                              (padding K - 1 by default)
// x [N, I, H, W], W [O, I, KH, KW], s [N, I], y [N, O, H + 2p - KH + 1, W + 2p - KW + 1]; g is the
// input gain (magnitude_ema^-1/2), applied after demodulation. StyleGAN3's pre-normalisation of W
// and s cancels in d up to eps and is not applied.
//
// Two evaluations of the same function:
// - non-fused: y = g d (.) conv(x (.) s, W), one shared-weight convolution with per-(sample,
//   channel) scales on its input and output;
// - fused: per-sample weights Wn[n] and one convolution per sample (StyleGAN3's grouped form).
//
// Gradients, with Q[o, i] = sum_{u,v} W[o, i, u, v]^2 and e[n, o] = d[n, o]^2 sum_{h,w} dy y
// (= dL/dd * d^3; 0 without demodulation):
//   dx = s (.) conv_transpose(g d (.) dy, W)
//   ds[n, i] = sum_{h,w} conv_transpose(g d (.) dy, W)[n, i] x[n, i] - s[n, i] sum_o e[n, o] Q[o, i]
//   dW = wgrad(x (.) s, g d (.) dy) - W[o, i, u, v] sum_n e[n, o] s[n, i]^2
// The fused backward reaches the same values through the per-sample weight gradients
// G[n] = wgrad(x[n], dy[n]) and the chain rule through Wn (a test checks that both agree).

#include <optional>
#include <string_view>

#include "../../core/shape.hpp"

namespace imbdef::ops {

struct modulated_conv2d_params {
    bool demodulate = true;
    double input_gain = 1.0;                // g
    double eps = 1e-8;
    std::optional<core::index_t> padding{};  // unset: KH - 1 (the full convolution StyleGAN3 uses)
    bool fused = false;                     // per-sample weights instead of scale-conv-scale
};

struct modulated_conv2d_op {
    static constexpr std::string_view name = "ops::modulated_conv2d";
};

}  // namespace imbdef::ops
