#pragma once
// sequential<A, B, C>: y = C(B(A(x))), flat over a tuple. Children may be plain modules (named by
// their index) or named<"name", M>; access by index (get<1>()) or by name (get<"fc1">()).
// The context keeps each child's context and the intermediate activations and gradients, sized on
// the first pass and reused afterwards.

#include <algorithm>
#include <array>
#include <cstddef>
#include <tuple>
#include <utility>

#include "module.hpp"
#include "named.hpp"

namespace imbdef::nn {

template <class... Children>
class sequential {
    static_assert(sizeof...(Children) >= 1, "imbdef::nn::sequential needs at least one child");
    static_assert((check_unary_module<child_module_t<Children>>() && ...));
    static constexpr std::size_t count = sizeof...(Children);
    using modules = std::tuple<child_module_t<Children>...>;

public:
    template <class T>
    struct context {
        std::tuple<typename child_module_t<Children>::template context<T>...> children;
        std::array<core::tensor<T>, count - 1> activations;
        std::array<core::tensor<T>, count - 1> gradients;
        std::array<core::tensor<T>, count - 1> activation_tangents;  // the tangent passes only
        std::array<core::tensor<T>, count - 1> gradient_tangents;
    };

    sequential() = default;
    explicit sequential(child_module_t<Children>... children) : modules_(std::move(children)...) {}

    template <std::size_t I>
    auto& get() noexcept { return std::get<I>(modules_); }
    template <std::size_t I>
    const auto& get() const noexcept { return std::get<I>(modules_); }
    template <fixed_string Name>
    auto& get() noexcept { return std::get<index_of<Name>()>(modules_); }
    template <fixed_string Name>
    const auto& get() const noexcept { return std::get<index_of<Name>()>(modules_); }

    void declare(const registry& r) {
        each([&]<std::size_t I>(auto& m) { m.declare(r.scope(child_name<I>())); });
    }

    core::shape output_shape(const core::shape& in) const {
        core::shape s = in;
        each([&]<std::size_t I>(const auto& m) { s = m.output_shape(s); });
        return s;
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        core::const_view<T> in = x;
        each([&]<std::size_t I>(const auto& m) {
            core::view<T> out;
            if constexpr (I + 1 == count)
                out = y;
            else
                out = ensure_shape(ctx.activations[I], m.output_shape(in.shape()));
            m.forward(p, in, out, std::get<I>(ctx.children));
            in = out;
        });
    }

    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        backward_from<count - 1, T>(p, ctx, dy, dx, g, data_mode, param_mode);
    }

    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const
        requires(tangent_module<child_module_t<Children>, T> && ...)
    {
        core::const_view<T> in = x_dot;
        each([&]<std::size_t I>(const auto& m) {
            core::view<T> out;
            if constexpr (I + 1 == count)
                out = y_dot;
            else
                out = ensure_shape(ctx.activation_tangents[I], ctx.activations[I].shape());
            m.forward_tangent(p, std::get<I>(ctx.children), in, out);
            in = out;
        });
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g, core::grad_mode data_mode,
                          core::grad_mode param_mode) const
        requires(tangent_module<child_module_t<Children>, T> && ...)
    {
        backward_tangent_from<count - 1, T>(p, ctx, dy, dy_dot, dx, dx_dot, g, data_mode, param_mode);
    }

private:
    template <std::size_t I, class T>
    void backward_tangent_from(params_in<T> p, context<T>& ctx, core::const_view<T> dy_i, core::const_view<T> dy_dot_i,
                               core::view<T> dx, core::view<T> dx_dot, grads_out<T> g, core::grad_mode data_mode,
                               core::grad_mode param_mode) const {
        const auto& m = std::get<I>(modules_);
        if constexpr (I == 0) {
            m.backward_tangent(p, std::get<0>(ctx.children), dy_i, dy_dot_i, dx, dx_dot, g, data_mode, param_mode);
        } else {
            const core::shape& s = ctx.activations[I - 1].shape();
            core::view<T> dx_i = ensure_shape(ctx.gradients[I - 1], s);
            core::view<T> dx_dot_i = ensure_shape(ctx.gradient_tangents[I - 1], s);
            m.backward_tangent(p, std::get<I>(ctx.children), dy_i, dy_dot_i, dx_i, dx_dot_i, g, core::grad_mode::assign,
                               param_mode);
            backward_tangent_from<I - 1, T>(p, ctx, dx_i, dx_dot_i, dx, dx_dot, g, data_mode, param_mode);
        }
    }

    template <fixed_string Name>
    static constexpr std::size_t index_of() {
        constexpr std::array<bool, count> hits{detail::child_traits<Children>::template has_name<Name>...};
        static_assert(std::count(hits.begin(), hits.end(), true) == 1,
                      "imbdef::nn::sequential::get<name>: no child (or more than one) has this name");
        return static_cast<std::size_t>(std::find(hits.begin(), hits.end(), true) - hits.begin());
    }

    template <std::size_t I>
    static std::string child_name() {
        return detail::child_traits<std::tuple_element_t<I, std::tuple<Children...>>>::name(I);
    }

    // Calls fn.template operator()<I>(module) for each child in order.
    template <class Fn>
    void each(Fn&& fn) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (fn.template operator()<I>(std::get<I>(modules_)), ...); }
        (std::make_index_sequence<count>{});
    }
    template <class Fn>
    void each(Fn&& fn) const {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (fn.template operator()<I>(std::get<I>(modules_)), ...); }
        (std::make_index_sequence<count>{});
    }

    // Child I receives the output gradient dy_i and writes its input gradient into the buffer of
    // child I - 1 (assign), or into the caller's dx under data_mode for the first child.
    template <std::size_t I, class T>
    void backward_from(params_in<T> p, context<T>& ctx, core::const_view<T> dy_i, core::view<T> dx, grads_out<T> g,
                       core::grad_mode data_mode, core::grad_mode param_mode) const {
        const auto& m = std::get<I>(modules_);
        if constexpr (I == 0) {
            m.backward(p, std::get<0>(ctx.children), dy_i, dx, g, data_mode, param_mode);
        } else {
            core::view<T> dx_i = ensure_shape(ctx.gradients[I - 1], ctx.activations[I - 1].shape());
            m.backward(p, std::get<I>(ctx.children), dy_i, dx_i, g, core::grad_mode::assign, param_mode);
            backward_from<I - 1, T>(p, ctx, dx_i, dx, g, data_mode, param_mode);
        }
    }

    modules modules_;
};

}  // namespace imbdef::nn
