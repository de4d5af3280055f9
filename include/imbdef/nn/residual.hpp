#pragma once
// residual<Main, Skip>: y = Main(x) + Skip(x), the shape of StyleGAN2's discriminator block
// (Skip = a strided 1x1 conv there). Skip defaults to the identity. Both branches must produce the
// same shape. Children are named "main" and "skip" in parameter names.

#include <string>

#include "identity.hpp"
#include "../core/parallel.hpp"
#include "module.hpp"

namespace imbdef::nn {

template <class Main, class Skip = identity>
class residual {
    static_assert(check_unary_module<Main>() && check_unary_module<Skip>());

public:
    template <class T>
    struct context {
        typename Main::template context<T> main;
        typename Skip::template context<T> skip;
        core::tensor<T> main_out, skip_out;  // the branches' outputs, saved for their backward
        core::tensor<T> main_dot, skip_dot;
    };

    residual() = default;
    explicit residual(Main main, Skip skip = {}) : main_(std::move(main)), skip_(std::move(skip)) {}

    Main& main() noexcept { return main_; }
    Skip& skip() noexcept { return skip_; }

    void declare(const registry& r) {
        main_.declare(r.scope("main"));
        skip_.declare(r.scope("skip"));
    }

    core::shape output_shape(const core::shape& in) const {
        const core::shape a = main_.output_shape(in);
        const core::shape b = skip_.output_shape(in);
        core::require_same_shape(a, b, "nn::residual: main branch output vs skip branch output");
        return a;
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        const core::view<T> m = ensure_shape(ctx.main_out, y.shape());
        const core::view<T> s = ensure_shape(ctx.skip_out, y.shape());
        main_.forward(p, x, m, ctx.main);
        skip_.forward(p, x, s, ctx.skip);
        add<T>(m, s, y);
    }

    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const
        requires(tangent_module<Main, T> && tangent_module<Skip, T>)
    {
        const core::view<T> m = ensure_shape(ctx.main_dot, y_dot.shape());
        const core::view<T> s = ensure_shape(ctx.skip_dot, y_dot.shape());
        main_.forward_tangent(p, ctx.main, x_dot, m);
        skip_.forward_tangent(p, ctx.skip, x_dot, s);
        add<T>(m, s, y_dot);
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g, core::grad_mode data_mode,
                          core::grad_mode param_mode) const
        requires(tangent_module<Main, T> && tangent_module<Skip, T>)
    {
        main_.backward_tangent(p, ctx.main, dy, dy_dot, dx, dx_dot, g, data_mode, param_mode);
        skip_.backward_tangent(p, ctx.skip, dy, dy_dot, dx, dx_dot, g, then_mode(data_mode), param_mode);
    }

    // Both branches see dy; the skip branch adds its input gradient onto the main branch's.
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        main_.backward(p, ctx.main, dy, dx, g, data_mode, param_mode);
        skip_.backward(p, ctx.skip, dy, dx, g, then_mode(data_mode), param_mode);
    }

private:
    // The skip branch adds its input gradient onto the main branch's.
    static core::grad_mode then_mode(core::grad_mode data_mode) {
        return data_mode == core::grad_mode::none ? core::grad_mode::none : core::grad_mode::accumulate;
    }

    template <class T>
    static void add(core::const_view<T> a, core::const_view<T> b, core::view<T> out) {
        core::parallel_for(0, out.numel(), 1 << 14, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
        });
    }

    Main main_;
    Skip skip_;
};

}  // namespace imbdef::nn
