#pragma once
// module_problem: turns an nn module into a gradient_problem, so check_gradients proves a whole
// network (its input gradient and every declared parameter's gradient) the way it proves an op.
//
// The input is one data input named "input"; each declared parameter becomes a parameter input
// under its dotted name, with its initialised value as the point of evaluation. Buffers stay at
// their initialised values. Each forward and backward call copies the inputs into a flat
// parameter store, so what is checked is the module running on real flat storage: the
// parameter-gradient modes reach the module unchanged through a flat gradient buffer that is
// gathered from and scattered back to the checker's buffers around the call.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "../core/tensor.hpp"
#include "../nn/module.hpp"
#include "../nn/parameters.hpp"
#include "gradient_check.hpp"
#include "second_order.hpp"

namespace imbdef::testing {

template <class Module>
gradient_problem module_problem(Module module, core::tensor<double> input, std::uint64_t init_seed = 1) {
    static_assert(nn::unary_module<Module, double>, "module_problem needs an nn::unary_module");
    struct state {
        Module module;
        nn::parameter_layout layout;
        std::unique_ptr<nn::parameter_store<double>> store;
    };
    auto s = std::make_shared<state>(state{std::move(module), {}, nullptr});
    s->module.declare(nn::registry(s->layout));
    s->store = std::make_unique<nn::parameter_store<double>>(s->layout);
    s->store->initialize(init_seed);

    gradient_problem p;
    p.add_data("input", std::move(input));
    for (const auto& e : s->layout.entries())
        if (e.role == nn::tensor_role::parameter) p.add_parameter(e.name, core::to_tensor(s->store->views()[e.name]));

    // Copies the checker's parameter inputs (inputs 1..) into the flat store.
    auto load = [s](input_views x) {
        std::size_t k = 1;
        for (const auto& e : s->layout.entries())
            if (e.role == nn::tensor_role::parameter) core::copy(x[k++], s->store->views()[e.name]);
    };

    p.forward = [s, load](input_views x) {
        load(x);
        typename Module::template context<double> ctx;
        core::tensor<double> y(s->module.output_shape(x[0].shape()));
        s->module.forward(std::as_const(*s->store).views(), x[0], y.view(), ctx);
        return y;
    };
    p.backward = [s, load](input_views x, core::const_view<double> dy, grad_views dx, core::grad_mode data_mode,
                           core::grad_mode param_mode) {
        load(x);
        typename Module::template context<double> ctx;
        core::tensor<double> y(s->module.output_shape(x[0].shape()));
        const auto params = std::as_const(*s->store).views();
        s->module.forward(params, x[0], y.view(), ctx);

        // The flat gradient buffer starts as the checker's buffers, so assign, accumulate and none
        // are judged on what the module does to it.
        nn::parameter_store<double> grads(s->layout);
        std::size_t k = 1;
        if (param_mode != core::grad_mode::none)
            for (const auto& e : s->layout.entries())
                if (e.role == nn::tensor_role::parameter) core::copy(core::const_view<double>(dx[k++]), grads.views()[e.name]);
        s->module.backward(params, ctx, dy, dx[0], grads.views(), data_mode, param_mode);
        k = 1;
        if (param_mode != core::grad_mode::none)
            for (const auto& e : s->layout.entries())
                if (e.role == nn::tensor_role::parameter) core::copy(core::const_view<double>(grads.views()[e.name]), dx[k++]);
    };
    return p;
}

}  // namespace imbdef::testing

namespace imbdef::testing {

// The same for a module with the tangent passes (nn::tangent_module): a second_order_problem
// whose tangent rules are the module's forward_tangent and backward_tangent. Parameters get zero
// tangents in the module's contract, so check it with second_order_options::perturb_parameters =
// false; the parameters' dx_dot are then the tangents of the parameter gradients (R1's answer).
template <class Module>
second_order_problem module_second_order_problem(Module module, core::tensor<double> input, std::uint64_t init_seed = 1) {
    static_assert(nn::tangent_module<Module, double>, "module_second_order_problem needs an nn::tangent_module");
    gradient_problem first = module_problem(module, std::move(input), init_seed);
    second_order_problem p;
    p.inputs = std::move(first.inputs);
    p.forward = first.forward;
    p.backward = first.backward;

    struct state {
        Module module;
        nn::parameter_layout layout;
        std::unique_ptr<nn::parameter_store<double>> store;
    };
    auto s = std::make_shared<state>(state{std::move(module), {}, nullptr});
    s->module.declare(nn::registry(s->layout));
    s->store = std::make_unique<nn::parameter_store<double>>(s->layout);
    s->store->initialize(init_seed);
    auto load = [s](input_views x) {
        std::size_t k = 1;
        for (const auto& e : s->layout.entries())
            if (e.role == nn::tensor_role::parameter) core::copy(x[k++], s->store->views()[e.name]);
    };

    p.forward_tangent = [s, load](input_views x, input_views x_dot) {
        load(x);
        typename Module::template context<double> ctx;
        const core::shape ys = s->module.output_shape(x[0].shape());
        core::tensor<double> y(ys), y_dot(ys);
        const auto params = std::as_const(*s->store).views();
        s->module.forward(params, x[0], y.view(), ctx);
        s->module.forward_tangent(params, ctx, x_dot[0], y_dot.view());
        return y_dot;
    };
    p.backward_tangent = [s, load](input_views x, input_views x_dot, core::const_view<double> dy,
                                   core::const_view<double> dy_dot, grad_views dx, grad_views dx_dot) {
        load(x);
        typename Module::template context<double> ctx;
        const core::shape ys = s->module.output_shape(x[0].shape());
        core::tensor<double> y(ys), y_dot(ys);
        const auto params = std::as_const(*s->store).views();
        s->module.forward(params, x[0], y.view(), ctx);
        s->module.forward_tangent(params, ctx, x_dot[0], y_dot.view());
        nn::parameter_store<double> grads(s->layout), grads_dot(s->layout);
        s->module.backward_tangent(params, ctx, dy, dy_dot, dx[0], dx_dot[0], grads_dot.views(), core::grad_mode::assign,
                                   core::grad_mode::assign);
        // The first-order parameter gradients come from backward on a fresh pass.
        typename Module::template context<double> ctx2;
        s->module.forward(params, x[0], y.view(), ctx2);
        core::tensor<double> unused(x[0].shape());
        s->module.backward(params, ctx2, dy, unused.view(), grads.views(), core::grad_mode::none, core::grad_mode::assign);
        std::size_t k = 1;
        for (const auto& e : s->layout.entries())
            if (e.role == nn::tensor_role::parameter) {
                core::copy(core::const_view<double>(grads.views()[e.name]), dx[k]);
                core::copy(core::const_view<double>(grads_dot.views()[e.name]), dx_dot[k]);
                ++k;
            }
    };
    return p;
}

}  // namespace imbdef::testing
