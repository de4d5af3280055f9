#pragma once
// bias_act: StyleGAN's fused bias + activation + gain + clamp (reference section 7):
//   y = clamp(act(x + b[c]) * gain, -clamp, +clamp)
// with act linear or leaky ReLU (act(v) = v > 0 ? v : slope v) and b running along one channel axis.
// The gradient is computed from the saved output y alone:
//   dx = dy * factor(y),   factor(y) = gain * (lrelu && !(y > 0) ? slope : 1) * (|y| < clamp),
//   db[c] = sum of dx over every axis but the channel axis.
// factor is piecewise constant, so the tangent rules of R1 multiply by the same fixed mask:
//   y_dot = factor(y) (x_dot + b_dot[c]),   dx_dot = factor(y) dy_dot,   db_dot = sum dx_dot.
//
// This header is device-free: the tag, the parameters and the per-element rules both backends call.

#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <string_view>

#include "../../core/macros.hpp"

namespace imbdef::ops {

enum class activation : unsigned char { linear, lrelu };

constexpr std::string_view to_string(activation a) noexcept { return a == activation::lrelu ? "lrelu" : "linear"; }

struct bias_act_params {
    activation act = activation::lrelu;
    double slope = 0.2;            // leaky ReLU only
    std::optional<double> gain{};  // unset: sqrt 2 for lrelu, 1 for linear (StyleGAN's def_gain)
    std::optional<double> clamp{}; // unset: no clamp; otherwise |y| <= clamp, clamp >= 0
    int axis = 1;                  // the axis b runs along; negative counts from the end

    double resolved_gain() const { return gain ? *gain : act == activation::lrelu ? std::numbers::sqrt2 : 1.0; }
    double resolved_clamp() const { return clamp ? *clamp : std::numeric_limits<double>::infinity(); }
};

struct bias_act_op {
    static constexpr std::string_view name = "ops::bias_act";

    // The rule's constants in the element type.
    template <class T>
    struct rule {
        T slope;
        T gain;
        T clamp;  // +inf when unclamped
        bool lrelu;

        IMBDEF_HD T forward(T v) const noexcept {
            const T a = lrelu && !(v > T(0)) ? slope * v : v;
            const T y = a * gain;
            return y > clamp ? clamp : y < -clamp ? -clamp : y;
        }
        IMBDEF_HD T factor(T y) const noexcept {
            const T d = lrelu && !(y > T(0)) ? gain * slope : gain;
            return (y < T(0) ? -y : y) < clamp ? d : T(0);
        }
    };

    template <class T>
    static rule<T> make_rule(const bias_act_params& p) {
        return {static_cast<T>(p.slope), static_cast<T>(p.resolved_gain()), static_cast<T>(p.resolved_clamp()),
                p.act == activation::lrelu};
    }
};

}  // namespace imbdef::ops
