#pragma once
// residual<Main, Skip>: y = Main(x) + Skip(x), the shape of StyleGAN2's discriminator block
// (Skip = a strided 1x1 conv there). Skip defaults to the identity. Both branches must produce the
// same shape. Children are named "main" and "skip" in parameter names.

#include <string>

#include "identity.hpp"
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
        core::tensor<T> skip_out;
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
        main_.forward(p, x, y, ctx.main);
        const core::view<T> s = ensure_shape(ctx.skip_out, y.shape());
        skip_.forward(p, x, s, ctx.skip);
        for (core::index_t i = 0; i < y.numel(); ++i) y[i] += s[i];
    }

    // Both branches see dy; the skip branch adds its input gradient onto the main branch's.
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        main_.backward(p, ctx.main, dy, dx, g, data_mode, param_mode);
        const core::grad_mode then =
            data_mode == core::grad_mode::none ? core::grad_mode::none : core::grad_mode::accumulate;
        skip_.backward(p, ctx.skip, dy, dx, g, then, param_mode);
    }

private:
    Main main_;
    Skip skip_;
};

}  // namespace imbdef::nn
