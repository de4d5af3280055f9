#pragma once
// with_classes<M>: a class-conditional module (one whose context takes per-sample labels in
// ctx.classes, such as nn::class_projection or models::basic_matching_discriminator) with its
// labels fixed, so that it is a plain x -> y module for code that makes its own contexts:
// testing::module_problem and module_second_order_problem, policies::r1_exact without a workspace,
// policies::r1_finite_difference. A training step that owns its contexts sets ctx.classes itself.
//
// Every pass points the inner context at the wrapper's labels. They are shared between copies of
// the wrapper (immutable, behind a shared_ptr), so a context stays valid for as long as any copy
// lives. The wrapper declares no parameters of its own: the names are M's.

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "module.hpp"

namespace imbdef::nn {

template <class M>
class with_classes {
    static_assert(check_unary_module<M>());

public:
    template <class T>
    struct context {
        typename M::template context<T> inner;
    };

    with_classes(M module, std::vector<int> classes)
        : module_(std::move(module)), classes_(std::make_shared<const std::vector<int>>(std::move(classes))) {}

    M& module() noexcept { return module_; }
    const M& module() const noexcept { return module_; }
    std::span<const int> classes() const noexcept { return *classes_; }

    void declare(const registry& r) { module_.declare(r); }
    core::shape output_shape(const core::shape& x) const { return module_.output_shape(x); }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        ctx.inner.classes = classes();
        module_.forward(p, x, y, ctx.inner);
    }
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        module_.backward(p, ctx.inner, dy, dx, g, data_mode, param_mode);
    }
    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const
        requires tangent_module<M, T>
    {
        module_.forward_tangent(p, ctx.inner, x_dot, y_dot);
    }
    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g_dot, core::grad_mode data_mode,
                          core::grad_mode param_mode) const
        requires tangent_module<M, T>
    {
        module_.backward_tangent(p, ctx.inner, dy, dy_dot, dx, dx_dot, g_dot, data_mode, param_mode);
    }

private:
    M module_;
    std::shared_ptr<const std::vector<int>> classes_;
};

}  // namespace imbdef::nn
