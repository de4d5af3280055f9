#pragma once
// The module contract.
//
// A module is a configured, stateless function with parameters. It
//   - declares its parameters once: declare(const registry&), keeping the parameter_refs it gets;
//   - says what it produces: output_shape(input shape), throwing imbdef::error for a bad input;
//   - runs forward(params, x, y, ctx): reads x and the parameter values, writes y (allocated by the
//     caller with output_shape), and saves what backward needs in ctx;
//   - runs backward(params, ctx, dy, dx, grads, data_mode, param_mode): from the context of the
//     matching forward and the output gradient dy, writes the input gradient dx under data_mode and
//     the parameter gradients (into grads, bound to the same layout) under param_mode, following
//     core/grad_mode.hpp.
// Forward state lives in the caller's context object, never in the module, so several passes
// (D on reals, D on fakes, the R1 pass) can be alive at once. A context may hold views of x and y,
// like saved tensors: both must stay alive and unchanged until backward. Context storage is
// allocated on the first pass and reused while shapes stay the same (nn::ensure_shape), so steady
// state allocates nothing.
//
// A tangent module (the discriminator's, for exact R1 by forward-over-reverse; DESIGN.md, "Second
// order") also has, with parameters held fixed (zero parameter tangents):
//   - forward_tangent(params, ctx, x_dot, y_dot): after forward on the same context, assigns y_dot,
//     the derivative of y along x_dot; ctx may keep a view of x_dot until backward_tangent;
//   - backward_tangent(params, ctx, dy, dy_dot, dx, dx_dot, grads_dot, data_mode, param_mode):
//     writes dx, the input gradient backward would give for dy, and dx_dot, its derivative along
//     (x_dot, dy_dot), both under data_mode; and under param_mode the derivative of the parameter
//     gradient along the same direction, which for R1 is the penalty's parameter gradient.

#include <concepts>

#include "../core/grad_mode.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "parameters.hpp"

namespace imbdef::nn {

// The views a module works with: parameter values (read-only) and parameter gradients.
template <class T>
using params_in = parameter_views<const T>;
template <class T>
using grads_out = parameter_views<T>;

// Makes `t` hold shape `s`, reallocating only when the element count changes.
template <class T>
core::view<T> ensure_shape(core::tensor<T>& t, const core::shape& s) {
    if (t.numel() == s.numel())
        t.reshape(s);
    else
        t = core::tensor<T>(s, core::uninitialized);
    return t.view();
}

// A module mapping one tensor to one tensor, checked for element type T.
template <class M, class T = float>
concept unary_module = std::copy_constructible<M> && requires(M m, const M cm, const registry& r, const core::shape& s,
                                                              typename M::template context<T>& ctx,
                                                              params_in<T> p, grads_out<T> g,
                                                              core::const_view<T> x, core::view<T> y,
                                                              core::grad_mode mode) {
    m.declare(r);
    { cm.output_shape(s) } -> std::same_as<core::shape>;
    cm.forward(p, x, y, ctx);
    cm.backward(p, ctx, x, y, g, mode, mode);
};

// A module with the tangent passes of exact R1, checked for element type T.
template <class M, class T = float>
concept tangent_module = unary_module<M, T> && requires(const M cm, typename M::template context<T>& ctx,
                                                        params_in<T> p, grads_out<T> g, core::const_view<T> x,
                                                        core::view<T> y, core::grad_mode mode) {
    cm.forward_tangent(p, ctx, x, y);
    cm.backward_tangent(p, ctx, x, x, y, y, g, mode, mode);
};

// Produces the concept's diagnostic inside a composite with one readable message.
template <class M>
constexpr bool check_unary_module() {
    static_assert(unary_module<M, float>,
                  "imbdef::nn: a child of sequential/repeat/residual must be an nn::unary_module: "
                  "declare(const registry&), output_shape(shape) const, a nested template context<T>, "
                  "forward(params, x, y, ctx) const and backward(params, ctx, dy, dx, grads, "
                  "data_mode, param_mode) const (see nn/module.hpp)");
    return unary_module<M, float>;
}

}  // namespace imbdef::nn
