#pragma once
// Pointwise gates and the blend that lifts one: a gate is a small class with
//   static constexpr std::string_view name;    e.g. "sigmoid"; the blend is named "<name>_blend"
//   double value(double m) const;               S(m), in [0, 1]
//   double derivative(double m) const;          dS/dm (0 for a hard gate)
//   void validate() const;                      optional: throws imbdef::error on bad parameters
// and gate_blend<Gate>{.gate = {...}, .beta = b} is then a blend_policy (concept.hpp), with the
// gate evaluated in double at every pixel of M. The shipped pointwise blends are such lifts:
//   sigmoid_blend = gate_blend<sigmoid_gate>  S = sigmoid(kappa M), the default (METHOD.md: kappa
//                                             10, smaller is softer). Differentiable, so the image
//                                             discriminator's gradient reaches the mask head:
//                                             dM = beta kappa S (1 - S) sum_c dF F_R.
//   hard_gate_blend = gate_blend<hard_gate>   S = 1[M >= 0] (DFMGAN); the mask gets no gradient.
// A user's gate is lifted the same way (examples/custom_policy.cpp).

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/tensor.hpp"
#include "concept.hpp"
#include "residual.hpp"

namespace imbdef::policies {

template <class G>
concept pointwise_gate = requires(const G g, double m) {
    { G::name } -> std::convertible_to<std::string_view>;
    // The name is a compile-time constant, so the blend's name can be one too.
    typename std::integral_constant<std::size_t, std::string_view(G::name).size()>;
    { g.value(m) } -> std::convertible_to<double>;
    { g.derivative(m) } -> std::convertible_to<double>;
};

namespace detail {

// "<gate name>_blend", built at compile time.
template <class Gate>
struct gate_blend_name {
    static constexpr std::string_view gate = Gate::name;
    static constexpr std::string_view suffix = "_blend";
    static constexpr std::array<char, gate.size() + suffix.size()> chars = [] {
        std::array<char, gate.size() + suffix.size()> a{};
        std::copy(gate.begin(), gate.end(), a.begin());
        std::copy(suffix.begin(), suffix.end(), a.begin() + gate.size());
        return a;
    }();
    static constexpr std::string_view value{chars.data(), chars.size()};
};

}  // namespace detail

template <pointwise_gate Gate>
struct gate_blend {
    static constexpr std::string_view name = detail::gate_blend_name<Gate>::value;
    Gate gate{};
    double beta = 1.0;

    // The gate's own check (if it has one) and beta's; once per pass, not per pixel.
    void validate() const {
        if constexpr (requires(const Gate& g) { g.validate(); }) gate.validate();
        IMBDEF_REQUIRE(std::isfinite(beta), detail::blend_where(name), "a finite beta", "beta " + std::to_string(beta));
    }

    template <class T>
    void forward(core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m, core::view<T> f) const {
        detail::check_blend_forward(name, fs.shape(), fr.shape(), m.shape(), f.shape());
        validate();
        detail::blend_residual_forward(static_cast<T>(beta), fs, fr, f, value_at(m));
    }

    template <class T>
    void backward(core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df, core::view<T> dfs,
                  core::view<T> dfr, core::view<T> dm, core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        detail::check_blend_backward(name, fr.shape(), m.shape(), df.shape(), dfs.shape(), dfr.shape(), dm.shape());
        validate();
        const core::index_t hw = m.size(2) * m.size(3);
        detail::blend_residual_backward(static_cast<T>(beta), fr, df, dfs, dfr, dm, mode, value_at(m),
                                        [&](core::index_t s, core::index_t i) {
                                            return static_cast<T>(gate.derivative(static_cast<double>(m[s * hw + i])));
                                        });
    }

private:
    // (sample, pixel) -> S(M there), evaluated in double.
    template <class T>
    auto value_at(core::const_view<T> m) const {
        const core::index_t hw = m.size(2) * m.size(3);
        return [this, m, hw](core::index_t s, core::index_t i) {
            return static_cast<T>(gate.value(static_cast<double>(m[s * hw + i])));
        };
    }
};

// S = sigmoid(kappa m); kappa > 0 is the smoothing coefficient (smaller is softer).
struct sigmoid_gate {
    static constexpr std::string_view name = "sigmoid";
    double kappa = 10.0;

    double value(double m) const { return 1.0 / (1.0 + std::exp(-kappa * m)); }
    double derivative(double m) const {
        const double s = value(m);
        return kappa * s * (1.0 - s);
    }
    void validate() const {
        IMBDEF_REQUIRE(kappa > 0.0 && std::isfinite(kappa), "policies::sigmoid_gate", "kappa > 0 and finite",
                       "kappa " + std::to_string(kappa));
    }
};

// S = 1[m >= 0]: DFMGAN's gate. Its derivative is 0 everywhere (the step at 0 is not
// differentiated), so no gradient reaches the mask through the blend.
struct hard_gate {
    static constexpr std::string_view name = "hard_gate";

    double value(double m) const { return m >= 0.0 ? 1.0 : 0.0; }
    double derivative(double) const { return 0.0; }
};

using sigmoid_blend = gate_blend<sigmoid_gate>;
using hard_gate_blend = gate_blend<hard_gate>;

static_assert(pointwise_gate<sigmoid_gate> && pointwise_gate<hard_gate>);
static_assert(blend_policy<sigmoid_blend> && blend_policy<hard_gate_blend>);
static_assert(sigmoid_blend::name == "sigmoid_blend" && hard_gate_blend::name == "hard_gate_blend");

}  // namespace imbdef::policies
