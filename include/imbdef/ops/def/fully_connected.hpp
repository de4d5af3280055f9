#pragma once
// Fully connected layer with equalised learning rate (reference section 1), activation fused
// through bias_act:
//   y = bias_act(x (W g_w)^T, b g_b),   g_w = lr_multiplier / sqrt(in),   g_b = lr_multiplier,
// x [N, in], W [out, in], b [out] (optional), y [N, out]. With z the pre-activation and
// g = dy * factor(y) (def/bias_act.hpp):
//   dx = g_w g W,   dW = g_w g^T x,   db = g_b sum_n g.
// Tangents (R1): the layer is bilinear in (x, W) before a fixed mask, so
//   y_dot = factor(y) (g_w (x_dot W^T + x W_dot^T) + g_b b_dot),
//   dx_dot = g_w (g_dot W + g W_dot),   dW_dot = g_w (g_dot^T x + g^T x_dot),   db_dot = g_b sum_n g_dot,
// with g_dot = factor(y) dy_dot.

#include <cmath>
#include <optional>
#include <string_view>

#include "../../core/shape.hpp"
#include "bias_act.hpp"

namespace imbdef::ops {

struct fully_connected_params {
    double lr_multiplier = 1.0;
    activation act = activation::linear;
    double slope = 0.2;                 // leaky ReLU only
    std::optional<double> act_gain{};   // unset: sqrt 2 for lrelu, 1 for linear
    std::optional<double> clamp{};      // unset: no clamp

    double weight_gain(core::index_t in) const { return lr_multiplier / std::sqrt(static_cast<double>(in)); }
    double bias_gain() const { return lr_multiplier; }
    bias_act_params activation_params() const { return {act, slope, act_gain, clamp, 1}; }
    // True when bias_act is the identity apart from the bias (linear, gain 1, no clamp).
    bool identity_activation() const { return act == activation::linear && activation_params().resolved_gain() == 1.0 && !clamp; }
};

struct fully_connected_op {
    static constexpr std::string_view name = "ops::fully_connected";
};

}  // namespace imbdef::ops
