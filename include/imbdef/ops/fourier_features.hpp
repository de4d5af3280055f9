#pragma once
// ops::fourier_features: StyleGAN3's synthesis input (reference section 2; rules and gradients in
// def/fourier_features.hpp), its backward to the affine output t and to the weight, and the
// initialiser of its frequency and phase buffers.
//
//   fourier_features(freqs, phases, t, weight, y, params)
//       freqs [C, 2], phases [C] (buffers), t [N, 4] (r_c, r_s, t_x, t_y), weight [C, C] (applied
//       as weight / sqrt(C), no bias)  ->  y [N, C, size, size]
//   fourier_features_backward(freqs, phases, t, weight, dy, dt, data_mode, dweight, param_mode, params)
//       dt [N, 4] (data: it continues into the affine layer) and dweight [C, C] (a parameter)
//   fourier_features_init(freqs, phases, bandwidth, rng, offset) -> next offset
//
// Contract:
// - Shapes as above, else imbdef::error naming the op, the argument and both shapes; size >= 1
//   and 0 < bandwidth < sampling_rate / 2.
// - t[n, 0:2] must not be zero (t is divided by its norm, as in the reference).
// - freqs and phases get no gradient. Generator-only: no tangent rules.
// - Under a mode of none the buffer is not checked and may be empty. Outputs must not overlap
//   inputs.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/philox.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/fourier_features.hpp"
#include "def/fourier_features.hpp"

namespace imbdef::ops {

namespace detail {

// Throws unless `found` equals `expected`; `why` says where the expected shape comes from.
inline void fourier_require_shape(std::string_view op, std::string_view arg, const core::shape& found,
                          const core::shape& expected, std::string_view why) {
    IMBDEF_REQUIRE(found == expected, std::string(op),
                   std::string(arg) + " of shape " + expected.to_string() + " (" + std::string(why) + ")",
                   std::string(arg) + " of shape " + found.to_string());
}

template <class T>
fourier_features_config<T> check_fourier_features(std::string_view op, const core::shape& freqs,
                                                  const core::shape& phases, const core::shape& t,
                                                  const core::shape& weight, const fourier_features_params& p) {
    const std::string where(op);
    IMBDEF_REQUIRE(freqs.rank() == 2 && freqs[1] == 2, where, "freqs of shape [C, 2]",
                   "freqs of shape " + freqs.to_string());
    const core::index_t c = freqs[0];
    fourier_require_shape(op, "phases", phases, core::shape{c}, "[C] for the C = " + std::to_string(c) + " rows of freqs");
    fourier_require_shape(op, "weight", weight, core::shape{c, c}, "[C, C] for the C = " + std::to_string(c) + " rows of freqs");
    IMBDEF_REQUIRE(t.rank() == 2 && t[1] == 4, where, "t of shape [N, 4] (r_c, r_s, t_x, t_y)",
                   "t of shape " + t.to_string());
    IMBDEF_REQUIRE(p.size >= 1, where, "size >= 1", "size " + std::to_string(p.size));
    IMBDEF_REQUIRE(p.bandwidth > 0 && p.bandwidth < p.sampling_rate / 2, where,
                   "0 < bandwidth < sampling_rate / 2",
                   "bandwidth " + std::to_string(p.bandwidth) + " with sampling_rate " + std::to_string(p.sampling_rate));
    fourier_features_config<T> cfg{p.size, static_cast<T>(p.sampling_rate), static_cast<T>(p.bandwidth), {}};
    for (int i = 0; i < 9; ++i) cfg.u[i] = static_cast<T>(p.transform[static_cast<std::size_t>(i)]);
    return cfg;
}

}  // namespace detail

// The output shape [N, C, size, size] for t [N, 4] and C channels.
inline core::shape fourier_features_output_shape(core::index_t batch, core::index_t channels,
                                                 const fourier_features_params& p = {}) {
    return core::shape{batch, channels, p.size, p.size};
}

template <std::floating_point T, core::device_tag Device>
void fourier_features(std::type_identity_t<core::const_view<T, Device>> freqs,
                      std::type_identity_t<core::const_view<T, Device>> phases,
                      std::type_identity_t<core::const_view<T, Device>> t,
                      std::type_identity_t<core::const_view<T, Device>> weight, core::view<T, Device> y,
                      const fourier_features_params& params = {}) {
    constexpr std::string_view op = fourier_features_op::name;
    const auto cfg =
        detail::check_fourier_features<T>(op, freqs.shape(), phases.shape(), t.shape(), weight.shape(), params);
    detail::fourier_require_shape(op, "y", y.shape(), fourier_features_output_shape(t.size(0), freqs.size(0), params),
                          "[N, C, size, size]");
    if (y.empty()) return;
    backend<fourier_features_op, Device>::forward(freqs, phases, t, weight, y, cfg);
}

template <std::floating_point T, core::device_tag Device>
void fourier_features_backward(std::type_identity_t<core::const_view<T, Device>> freqs,
                               std::type_identity_t<core::const_view<T, Device>> phases,
                               std::type_identity_t<core::const_view<T, Device>> t,
                               std::type_identity_t<core::const_view<T, Device>> weight,
                               std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dt,
                               core::grad_mode data_mode, core::view<T, Device> dweight, core::grad_mode param_mode,
                               const fourier_features_params& params = {}) {
    constexpr std::string_view op = "ops::fourier_features_backward";
    const auto cfg =
        detail::check_fourier_features<T>(op, freqs.shape(), phases.shape(), t.shape(), weight.shape(), params);
    detail::fourier_require_shape(op, "dy", dy.shape(), fourier_features_output_shape(t.size(0), freqs.size(0), params),
                          "[N, C, size, size]");
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dt", dt.shape(), "t", t.shape());
    if (param_mode != core::grad_mode::none) require_shape_of(op, "dweight", dweight.shape(), "weight", weight.shape());
    if (data_mode == core::grad_mode::none && param_mode == core::grad_mode::none) return;
    backend<fourier_features_op, Device>::backward(freqs, phases, t, weight, dy, dt, data_mode, dweight, param_mode,
                                                   cfg);
}

// Draws the buffers as the reference does: f = randn(2) per channel, scaled to
// f bandwidth / (|f| exp(|f|^2 / 4)), whose radius bandwidth exp(-|f|^2 / 4) = bandwidth sqrt(U)
// makes the frequencies uniform in the disc of radius `bandwidth`; phases ~ U(-0.5, 0.5).
// Normals come from offsets [offset, offset + 2C) of `rng`, uniforms from the next C; returns the
// next free offset.
template <std::floating_point T>
std::uint64_t fourier_features_init(core::view<T, core::cpu> freqs, core::view<T, core::cpu> phases, double bandwidth,
                                    core::philox_stream rng, std::uint64_t offset = 0) {
    constexpr std::string_view op = "ops::fourier_features_init";
    IMBDEF_REQUIRE(freqs.rank() == 2 && freqs.size(1) == 2, std::string(op), "freqs of shape [C, 2]",
                   "freqs of shape " + freqs.shape().to_string());
    detail::fourier_require_shape(op, "phases", phases.shape(), core::shape{freqs.size(0)}, "[C] for the rows of freqs");
    IMBDEF_REQUIRE(bandwidth > 0, std::string(op), "bandwidth > 0", "bandwidth " + std::to_string(bandwidth));
    offset = core::fill_normal<T>(freqs, rng, offset);
    offset = core::fill_uniform<T>(phases, rng, offset, T(-0.5), T(0.5));
    for (core::index_t c = 0; c < freqs.size(0); ++c) {
        const double fx = static_cast<double>(freqs[2 * c]), fy = static_cast<double>(freqs[2 * c + 1]);
        const double r2 = fx * fx + fy * fy;
        const double k = r2 > 0 ? bandwidth / (std::sqrt(r2) * std::exp(r2 / 4)) : 0.0;
        freqs[2 * c] = static_cast<T>(fx * k);
        freqs[2 * c + 1] = static_cast<T>(fy * k);
    }
    return offset;
}

}  // namespace imbdef::ops
