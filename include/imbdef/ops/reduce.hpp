#pragma once
// ops::sum and ops::mean over all axes or over given axes, with backward passes (definitions in
// def/reduce.hpp).
//
//   sum(x, y)                 y (one element) = sum of all x
//   sum(x, axes, y)           y = x summed over `axes`, e.g. ops::sum(x, {1, 2, 3}, y) per sample
//   mean(x, y), mean(x, axes, y)
//   sum_backward(dy, dx, mode), sum_backward(dy, axes, dx, mode)     dx = dy broadcast
//   mean_backward(dy, dx, mode), mean_backward(dy, axes, dx, mode)   dx = dy / R broadcast
//
// Contract:
// - y's shape is x's shape without the reduced axes, or with them set to 1 (keepdim); a full
//   reduction accepts any y with one element ([], [1], [1, 1], ...). Axes are in [-rank, rank),
//   each at most once. Violations throw imbdef::error naming the op, the argument and the shapes.
// - The sum of an empty set is 0 and its mean NaN.
// - Backward: dx has x's shape and follows `mode`; under none it is not checked and may be empty.
//   dx must not overlap dy.
// - Both ops are linear: their tangent rules are the ops themselves applied to the tangents.
// - Float sums are accumulated in independent lanes and per-thread chunks; the result depends on
//   the thread count only in the last bits.

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "cpu/reduce.hpp"
#include "def/reduce.hpp"

namespace imbdef::ops {

namespace detail {

// Checks that `r` (named `name`) has the reduced shape of x over the plan's axes.
inline void require_reduced_shape(std::string_view op, std::string_view name, const core::shape& r,
                                  const core::shape& x, const reduce_axes* axes) {
    if (!axes) {
        IMBDEF_REQUIRE(r.numel() == 1, std::string(op),
                       std::string(name) + " with one element (the sum over all axes of x of shape " + x.to_string() +
                           ")",
                       std::string(name) + " of shape " + r.to_string());
        return;
    }
    const core::shape flat = reduced_shape(x, *axes, false);
    const core::shape kept = reduced_shape(x, *axes, true);
    IMBDEF_REQUIRE(r == flat || r == kept, std::string(op),
                   std::string(name) + " of shape " + flat.to_string() + " or " + kept.to_string() +
                       " (x's shape " + x.to_string() + " reduced over the axes)",
                   std::string(name) + " of shape " + r.to_string());
}

inline reduce_axes reduce_all_axes(const core::shape& x) {
    int axes[core::shape::max_rank];
    for (int a = 0; a < x.rank(); ++a) axes[a] = a;
    return reduce_axes(std::span<const int>(axes, static_cast<std::size_t>(x.rank())));
}

template <class T, class Device>
void reduce_forward(std::string_view op, core::const_view<T, Device> x, const reduce_axes* axes,
                    core::view<T, Device> y, bool mean) {
    const reduce_axes all = axes ? *axes : reduce_all_axes(x.shape());
    const reduce_plan p = make_reduce_plan(op, x.shape(), all);
    require_reduced_shape(op, "y", y.shape(), x.shape(), axes);
    if (y.empty()) return;
    const T scale = mean ? T(1) / static_cast<T>(p.reduced) : T(1);
    backend<reduce_op, Device>::forward(x, y, p, scale);
}

template <class T, class Device>
void reduce_backward(std::string_view op, core::const_view<T, Device> dy, const reduce_axes* axes,
                     core::view<T, Device> dx, core::grad_mode mode, bool mean) {
    if (mode == core::grad_mode::none) return;
    const reduce_axes all = axes ? *axes : reduce_all_axes(dx.shape());
    const reduce_plan p = make_reduce_plan(op, dx.shape(), all);
    require_reduced_shape(op, "dy", dy.shape(), dx.shape(), axes);
    if (dx.empty()) return;
    const T scale = mean ? T(1) / static_cast<T>(p.reduced) : T(1);
    backend<reduce_op, Device>::backward(dy, dx, mode, p, scale);
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void sum(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y) {
    detail::reduce_forward<T, Device>("ops::sum", x, nullptr, y, false);
}

template <std::floating_point T, core::device_tag Device>
void sum(std::type_identity_t<core::const_view<T, Device>> x, const reduce_axes& axes, core::view<T, Device> y) {
    detail::reduce_forward<T, Device>("ops::sum", x, &axes, y, false);
}

template <std::floating_point T, core::device_tag Device>
void mean(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y) {
    detail::reduce_forward<T, Device>("ops::mean", x, nullptr, y, true);
}

template <std::floating_point T, core::device_tag Device>
void mean(std::type_identity_t<core::const_view<T, Device>> x, const reduce_axes& axes, core::view<T, Device> y) {
    detail::reduce_forward<T, Device>("ops::mean", x, &axes, y, true);
}

template <std::floating_point T, core::device_tag Device>
void sum_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                  core::grad_mode mode) {
    detail::reduce_backward<T, Device>("ops::sum_backward", dy, nullptr, dx, mode, false);
}

template <std::floating_point T, core::device_tag Device>
void sum_backward(std::type_identity_t<core::const_view<T, Device>> dy, const reduce_axes& axes,
                  core::view<T, Device> dx, core::grad_mode mode) {
    detail::reduce_backward<T, Device>("ops::sum_backward", dy, &axes, dx, mode, false);
}

template <std::floating_point T, core::device_tag Device>
void mean_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                   core::grad_mode mode) {
    detail::reduce_backward<T, Device>("ops::mean_backward", dy, nullptr, dx, mode, true);
}

template <std::floating_point T, core::device_tag Device>
void mean_backward(std::type_identity_t<core::const_view<T, Device>> dy, const reduce_axes& axes,
                   core::view<T, Device> dx, core::grad_mode mode) {
    detail::reduce_backward<T, Device>("ops::mean_backward", dy, &axes, dx, mode, true);
}

}  // namespace imbdef::ops
