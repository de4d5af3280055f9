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
