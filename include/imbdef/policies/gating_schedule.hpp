#pragma once
// Gating schedules: training progress p in [0, 1] (images shown / total) -> strength alpha(p).
// PGDI multiplies its detail injection by alpha(p) (METHOD.md, "PGDI"); at inference p = 1.
// Each schedule is a small aggregate, so a user writes a new one in a few lines.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <numbers>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace imbdef::policies {

template <class S>
concept gating_schedule = requires(const S s, double p) {
    { s(p) } -> std::convertible_to<double>;
    { S::name } -> std::convertible_to<std::string_view>;
};

// Checks the progress handed to a schedule; every schedule's operator() calls it.
inline double checked_progress(double p, std::string_view schedule) {
    IMBDEF_REQUIRE(p >= 0.0 && p <= 1.0, std::string(schedule) + " schedule", "progress in [0, 1]", std::to_string(p));
    return p;
}

// (p - p0) / (p1 - p0), clamped to [0, 1].
inline double ramp_fraction(double p, double p0, double p1) {
    if (p1 <= p0) return p >= p1 ? 1.0 : 0.0;
    return std::clamp((p - p0) / (p1 - p0), 0.0, 1.0);
}

struct constant_schedule {
    static constexpr std::string_view name = "constant";
    double value = 1.0;
    double operator()(double p) const {
        checked_progress(p, name);
        return value;
    }
};

struct linear_schedule {
    static constexpr std::string_view name = "linear";
    double p0 = 0.1, p1 = 0.6, max = 1.0;
    double operator()(double p) const { return max * ramp_fraction(checked_progress(p, name), p0, p1); }
};

// The default: 0 until p0, then a half cosine up to max at p1 (smooth at both ends).
struct cosine_ramp_schedule {
    static constexpr std::string_view name = "cosine_ramp";
    double p0 = 0.1, p1 = 0.6, max = 1.0;
    double operator()(double p) const {
        const double t = ramp_fraction(checked_progress(p, name), p0, p1);
        return max * 0.5 * (1.0 - std::cos(std::numbers::pi * t));
    }
};

struct step_schedule {
    static constexpr std::string_view name = "step";
    double at = 0.5, max = 1.0;
    double operator()(double p) const { return checked_progress(p, name) >= at ? max : 0.0; }
};

struct sigmoid_schedule {
    static constexpr std::string_view name = "sigmoid";
    double center = 0.35, sharpness = 12.0, max = 1.0;
    double operator()(double p) const {
        return max / (1.0 + std::exp(-sharpness * (checked_progress(p, name) - center)));
    }
};

static_assert(gating_schedule<constant_schedule> && gating_schedule<linear_schedule> &&
              gating_schedule<cosine_ramp_schedule> && gating_schedule<step_schedule> &&
              gating_schedule<sigmoid_schedule>);

}  // namespace imbdef::policies
