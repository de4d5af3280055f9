#pragma once
// repeat<M, "L">: a chain of modules of one type, as many as given at construction (their
// configurations may differ: channel counts, sizes). Child i is named Prefix + i ("L0", "L1", ...),
// or just i when Prefix is empty.

#include <string>
#include <utility>
#include <vector>

#include "module.hpp"
#include "named.hpp"

namespace imbdef::nn {

template <class M, fixed_string Prefix = "">
class repeat {
    static_assert(check_unary_module<M>());

public:
    template <class T>
    struct context {
        std::vector<typename M::template context<T>> children;
        std::vector<core::tensor<T>> activations;  // output of child i, for i < size() - 1
        std::vector<core::tensor<T>> gradients;
        std::vector<core::tensor<T>> activation_tangents;  // the tangent passes only
        std::vector<core::tensor<T>> gradient_tangents;
    };

    explicit repeat(std::vector<M> modules) : modules_(std::move(modules)) {
        IMBDEF_REQUIRE(!modules_.empty(), "nn::repeat", "at least one module", "none");
    }

    std::size_t size() const noexcept { return modules_.size(); }
    M& operator[](std::size_t i) noexcept { return modules_[i]; }
    const M& operator[](std::size_t i) const noexcept { return modules_[i]; }

    void declare(const registry& r) {
        for (std::size_t i = 0; i < modules_.size(); ++i)
            modules_[i].declare(r.scope(std::string(Prefix.view()) + std::to_string(i)));
    }

    core::shape output_shape(const core::shape& in) const {
        core::shape s = in;
        for (const M& m : modules_) s = m.output_shape(s);
        return s;
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        const std::size_t n = modules_.size();
        ctx.children.resize(n);
        ctx.activations.resize(n - 1);
        ctx.gradients.resize(n - 1);
        core::const_view<T> in = x;
        for (std::size_t i = 0; i < n; ++i) {
            const core::view<T> out =
                i + 1 == n ? y : ensure_shape(ctx.activations[i], modules_[i].output_shape(in.shape()));
            modules_[i].forward(p, in, out, ctx.children[i]);
            in = out;
        }
    }

    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        core::const_view<T> dy_i = dy;
        for (std::size_t i = modules_.size(); i-- > 0;) {
            if (i == 0) {
                modules_[0].backward(p, ctx.children[0], dy_i, dx, g, data_mode, param_mode);
            } else {
                const core::view<T> dx_i = ensure_shape(ctx.gradients[i - 1], ctx.activations[i - 1].shape());
                modules_[i].backward(p, ctx.children[i], dy_i, dx_i, g, core::grad_mode::assign, param_mode);
                dy_i = dx_i;
            }
        }
    }

    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const
        requires tangent_module<M, T>
    {
        const std::size_t n = modules_.size();
        ctx.activation_tangents.resize(n - 1);
        ctx.gradient_tangents.resize(n - 1);
        core::const_view<T> in = x_dot;
        for (std::size_t i = 0; i < n; ++i) {
            const core::view<T> out = i + 1 == n ? y_dot : ensure_shape(ctx.activation_tangents[i], ctx.activations[i].shape());
            modules_[i].forward_tangent(p, ctx.children[i], in, out);
            in = out;
        }
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g, core::grad_mode data_mode,
                          core::grad_mode param_mode) const
        requires tangent_module<M, T>
    {
        core::const_view<T> dy_i = dy, dy_dot_i = dy_dot;
        for (std::size_t i = modules_.size(); i-- > 0;) {
            if (i == 0) {
                modules_[0].backward_tangent(p, ctx.children[0], dy_i, dy_dot_i, dx, dx_dot, g, data_mode, param_mode);
            } else {
                const core::shape& s = ctx.activations[i - 1].shape();
                const core::view<T> dx_i = ensure_shape(ctx.gradients[i - 1], s);
                const core::view<T> dx_dot_i = ensure_shape(ctx.gradient_tangents[i - 1], s);
                modules_[i].backward_tangent(p, ctx.children[i], dy_i, dy_dot_i, dx_i, dx_dot_i, g, core::grad_mode::assign,
                                             param_mode);
                dy_i = dx_i;
                dy_dot_i = dx_dot_i;
            }
        }
    }

private:
    std::vector<M> modules_;
};

}  // namespace imbdef::nn
