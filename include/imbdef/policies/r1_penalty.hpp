#pragma once
// The R1 penalty (Mescheder et al. 2018) on real images, with its parameter gradient.
//
//   R1(theta) = gamma / (2N) * sum_n |g_n|^2,   g = d/dx sum_n D(x_n; theta)
//   dR1/dtheta = (gamma / N) (dg/dtheta)^T g = d/de [ dD/dtheta (x + e (gamma / N) g) ] at e = 0
//
// r1_exact computes the last line by forward-over-reverse (DESIGN.md, "Second order"): one forward
// and one backward pass of D for g, then one tangent forward with x_dot = (gamma / N) g and one
// tangent backward, whose parameter-gradient tangent is the answer. r1_finite_difference is the
// test oracle: central differences of D's parameter gradient along the same direction.
// Both write the parameter gradient into `grads` under `mode` and return the penalty's value.

#include <cstdint>
#include <string>

#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../nn/module.hpp"
#include "../nn/parameters.hpp"

namespace imbdef::policies {

namespace detail {
// g = d sum(D(x)) / dx, with the context of the forward pass left in ctx.
template <class D, class T>
T r1_input_gradient(const D& d, nn::params_in<T> p, core::const_view<T> x, typename D::template context<T>& ctx,
                    core::tensor<T>& logits, core::tensor<T>& ones, core::tensor<T>& g) {
    nn::ensure_shape(logits, d.output_shape(x.shape()));
    d.forward(p, x, logits.view(), ctx);
    nn::ensure_shape(ones, logits.shape());
    ones.fill(T(1));
    nn::ensure_shape(g, x.shape());
    d.backward(p, ctx, ones.cview(), g.view(), nn::grads_out<T>::unbound(p.layout()), core::grad_mode::assign,
               core::grad_mode::none);
    T sum = 0;
    for (T v : g) sum += v * v;
    return sum;
}
}  // namespace detail

// Scratch for r1_exact, reused across calls so that a training step allocates nothing.
template <class D, class T>
struct r1_workspace {
    typename D::template context<T> ctx;
    core::tensor<T> logits, ones, zeros, g, x_dot, logits_dot, dx, dx_dot;
};

template <class D, class T>
    requires nn::tangent_module<D, T>
T r1_exact(const D& d, nn::params_in<T> p, core::const_view<T> reals, double gamma, nn::grads_out<T> grads,
           core::grad_mode mode, r1_workspace<D, T>& w) {
    const core::index_t n = reals.size(0);
    const T value = static_cast<T>(gamma / (2.0 * static_cast<double>(n))) *
                    detail::r1_input_gradient(d, p, reals, w.ctx, w.logits, w.ones, w.g);
    if (mode == core::grad_mode::none) return value;
    const T scale = static_cast<T>(gamma / static_cast<double>(n));
    nn::ensure_shape(w.x_dot, reals.shape());
    for (core::index_t i = 0; i < w.g.numel(); ++i) w.x_dot[i] = scale * w.g[i];
    nn::ensure_shape(w.logits_dot, w.logits.shape());
    d.forward_tangent(p, w.ctx, w.x_dot.cview(), w.logits_dot.view());
    nn::ensure_shape(w.zeros, w.logits.shape());
    w.zeros.fill(T(0));
    d.backward_tangent(p, w.ctx, w.ones.cview(), w.zeros.cview(), w.dx.view(), w.dx_dot.view(), grads,
                       core::grad_mode::none, mode);
    return value;
}

template <class D, class T>
    requires nn::tangent_module<D, T>
T r1_exact(const D& d, nn::params_in<T> p, core::const_view<T> reals, double gamma, nn::grads_out<T> grads,
           core::grad_mode mode) {
    r1_workspace<D, T> w;
    return r1_exact(d, p, reals, gamma, grads, mode, w);
}

// The oracle: (dD/dtheta (x + e u) - dD/dtheta (x - e u)) / 2e with u = (gamma / N) g, for
// parameter storage `p_values` (whose layout `grads` shares).
template <class D, class T>
T r1_finite_difference(const D& d, nn::params_in<T> p, core::const_view<T> reals, double gamma,
                       nn::grads_out<T> grads, core::grad_mode mode, double step = 1e-4) {
    typename D::template context<T> ctx;
    core::tensor<T> logits, ones, g;
    const core::index_t n = reals.size(0);
    const T value =
        static_cast<T>(gamma / (2.0 * static_cast<double>(n))) * detail::r1_input_gradient(d, p, reals, ctx, logits, ones, g);
    if (mode == core::grad_mode::none) return value;
    const T u_scale = static_cast<T>(gamma / static_cast<double>(n));
    const core::index_t size = p.layout().size(nn::tensor_role::parameter);
    core::tensor<T> plus({size}), minus({size}), empty_buffers({p.layout().size(nn::tensor_role::buffer)});
    for (int sign : {1, -1}) {
        core::tensor<T> x = core::to_tensor(reals);
        for (core::index_t i = 0; i < x.numel(); ++i) x[i] += static_cast<T>(sign * step) * u_scale * g[i];
        nn::ensure_shape(logits, d.output_shape(x.shape()));
        d.forward(p, x.cview(), logits.view(), ctx);
        core::tensor<T> dx(x.shape());
        core::tensor<T>& target = sign > 0 ? plus : minus;
        d.backward(p, ctx, ones.cview(), dx.view(), nn::grads_out<T>(p.layout(), target.view(), empty_buffers.view()),
                   core::grad_mode::none, core::grad_mode::assign);
    }
    const auto flat = grads.flat(nn::tensor_role::parameter);
    for (core::index_t i = 0; i < size; ++i)
        core::store_grad(flat[i], (plus[i] - minus[i]) / static_cast<T>(2 * step), mode);
    return value;
}

}  // namespace imbdef::policies
