#pragma once
// The inputs of an op or module under test: named double tensors, each either a data input (whose
// gradient follows the data grad_mode) or a parameter (whose gradient follows the parameter
// grad_mode). Shared by gradient_check.hpp and second_order.hpp.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace imbdef::testing {

enum class input_kind : unsigned char { data, parameter };

constexpr std::string_view to_string(input_kind k) noexcept {
    return k == input_kind::data ? "data" : "parameter";
}

struct check_input {
    std::string name;
    core::tensor<double> value;
    input_kind kind = input_kind::data;
};

// What the checked functions receive: one view per input, in the order the inputs were declared.
using input_views = std::span<const core::const_view<double>>;
// Gradient buffers handed to a backward function, one per input, in the same order.
using grad_views = std::span<const core::view<double>>;

// A tensor of uniform draws in (lo, hi) from the Philox stream (seed, stream): a convenient,
// reproducible input for a check.
inline core::tensor<double> random_tensor(const core::shape& s, std::uint64_t seed, std::uint64_t stream = 0,
                                          double lo = -1.0, double hi = 1.0) {
    core::tensor<double> t(s, core::uninitialized);
    core::fill_uniform<double>(t.view(), core::philox_stream{seed, stream}, 0, lo, hi);
    return t;
}

namespace detail {

// Throws unless the input list is usable: non-empty, every name non-empty and unique.
inline void validate_inputs(const std::vector<check_input>& inputs, const std::string& where) {
    IMBDEF_REQUIRE(!inputs.empty(), where, "at least one input", "none");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        IMBDEF_REQUIRE(!inputs[i].name.empty(), where, "a non-empty name for every input",
                       "an empty name for input " + std::to_string(i));
        for (std::size_t j = 0; j < i; ++j)
            IMBDEF_REQUIRE(inputs[i].name != inputs[j].name, where, "unique input names",
                           "'" + inputs[i].name + "' twice (inputs " + std::to_string(j) + " and " +
                               std::to_string(i) + ")");
    }
}

inline std::vector<core::tensor<double>> clone_values(const std::vector<check_input>& inputs) {
    std::vector<core::tensor<double>> out;
    out.reserve(inputs.size());
    for (const auto& in : inputs) out.push_back(in.value.clone());
    return out;
}

inline std::vector<core::tensor<double>> zeros_like(const std::vector<check_input>& inputs) {
    std::vector<core::tensor<double>> out;
    out.reserve(inputs.size());
    for (const auto& in : inputs) out.emplace_back(in.value.shape());
    return out;
}

inline std::vector<core::const_view<double>> const_views(const std::vector<core::tensor<double>>& ts) {
    std::vector<core::const_view<double>> out;
    out.reserve(ts.size());
    for (const auto& t : ts) out.push_back(t.cview());
    return out;
}

inline std::vector<core::view<double>> views(std::vector<core::tensor<double>>& ts) {
    std::vector<core::view<double>> out;
    out.reserve(ts.size());
    for (auto& t : ts) out.push_back(t.view());
    return out;
}

}  // namespace detail

}  // namespace imbdef::testing
