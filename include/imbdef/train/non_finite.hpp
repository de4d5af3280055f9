#pragma once
// The non-finite guard of training: the first NaN or infinity in a loss or a gradient stops the
// run with an error that names the tensor, the element and the step, before any parameter has
// been changed by it (so the last checkpoint written is the last good state).

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../nn/parameters.hpp"

namespace imbdef::train {

class non_finite_error : public imbdef::error {
public:
    non_finite_error(const std::string& what, std::int64_t step, double value)
        : imbdef::error("training step " + std::to_string(step), "finite values in " + what, describe(value)),
          step_(step) {}
    std::int64_t step() const noexcept { return step_; }

private:
    static std::string describe(double v) {
        return std::isnan(v) ? std::string("NaN") : std::string(v > 0 ? "+inf" : "-inf");
    }
    std::int64_t step_;
};

struct non_finite_element {
    std::string name;         // the tensor's dotted name
    core::index_t element;    // flat index inside that tensor
    double value;
};

// The first non-finite element of `flat` (storage of `role` laid out by `layout`), by tensor name.
template <class T>
std::optional<non_finite_element> first_non_finite(const nn::parameter_layout& layout, nn::tensor_role role,
                                                   core::const_view<T> flat) {
    const T* const data = flat.data();
    // A fast scan first: the common case is all finite.
    bool all_finite = true;
    for (core::index_t i = 0; i < flat.numel(); ++i) all_finite &= std::isfinite(data[i]);
    if (all_finite) return std::nullopt;
    for (const auto& e : layout.entries()) {
        if (e.role != role) continue;
        for (core::index_t i = 0; i < e.shape.numel(); ++i)
            if (!std::isfinite(data[e.offset + i])) return non_finite_element{e.name, i, static_cast<double>(data[e.offset + i])};
    }
    return non_finite_element{"(outside every declared tensor)", 0, 0.0};
}

}  // namespace imbdef::train
