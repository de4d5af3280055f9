#pragma once
// A trained network's state, apart from the module itself: its parameter layout, the parameters
// and buffers, the gradients, and its Adam optimiser. Every network a trainer updates (G, D_img,
// D_match in both stages) is one of these; the module (its forward and backward) stays with the
// trainer, which knows its type.
//
// Not copyable or movable: the stores refer to the layout by address.

#include <algorithm>
#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "../nn/parameters.hpp"
#include "adam.hpp"
#include "finite_checks.hpp"

namespace imbdef::train {

// An optimiser's saved state (moments and step count), read in full before anything is restored.
struct optimizer_snapshot {
    core::tensor<float> m, v;
    std::int64_t steps = 0;

    explicit optimizer_snapshot(const nn::parameter_layout& layout)
        : m(core::shape{layout.size(nn::tensor_role::parameter)}), v(core::shape{layout.size(nn::tensor_role::parameter)}) {}
};

class optimized_network {
public:
    // Declares `module` (which binds its parameter references), allocates its storage and initialises its parameters from `init_seed`
    // (each tensor from the stream of its own name, nn/parameters.hpp).
    template <class Module>
    optimized_network(Module& module, const adam_options& optimizer, std::uint64_t init_seed)
        : layout_(declared(module)),
          parameters_(layout_),
          gradients_(layout_),
          optimizer_(layout_.size(nn::tensor_role::parameter), optimizer) {
        parameters_.initialize(init_seed);
    }
    optimized_network(const optimized_network&) = delete;
    optimized_network& operator=(const optimized_network&) = delete;

    const nn::parameter_layout& layout() const noexcept { return layout_; }
    nn::parameter_store<float>& parameters() noexcept { return parameters_; }
    const nn::parameter_store<float>& parameters() const noexcept { return parameters_; }
    nn::parameter_store<float>& gradients() noexcept { return gradients_; }
    const nn::parameter_store<float>& gradients() const noexcept { return gradients_; }
    adam<float>& optimizer() noexcept { return optimizer_; }
    const adam<float>& optimizer() const noexcept { return optimizer_; }

    // The non-finite guard on the gradients, `label` naming the network (and the pass) in the error.
    void require_finite_gradients(const std::string& label, std::int64_t step) const {
        train::require_finite_gradients(layout_, gradients_.parameters().cview(), label, step);
    }
    // One Adam step of the trained parameters from the gradients.
    void apply_gradients() { optimizer_.step(parameters_.parameters().view(), gradients_.parameters().cview()); }

    // Commits state read from a checkpoint (nn::parameter_store of this layout, optimiser snapshot).
    void restore(const nn::parameter_store<float>& parameters, const optimizer_snapshot& optimizer) {
        nn::copy_values<float>(parameters.views(), parameters_.views());
        std::copy_n(optimizer.m.data(), optimizer.m.numel(), optimizer_.first_moment().data());
        std::copy_n(optimizer.v.data(), optimizer.v.numel(), optimizer_.second_moment().data());
        optimizer_.set_steps(optimizer.steps);
    }

private:
    template <class Module>
    static nn::parameter_layout declared(Module& module) {
        nn::parameter_layout layout;
        module.declare(nn::registry(layout));
        return layout;
    }

    nn::parameter_layout layout_;
    nn::parameter_store<float> parameters_, gradients_;
    adam<float> optimizer_;
};

}  // namespace imbdef::train
