#pragma once
// The generator's exponential moving average (StyleGAN2/3, training_loop.py), taken once per
// iteration after the generator's optimiser step, with images_seen counted before the iteration's
// batch is added:
//
//   ema_nimg = min(half_life_kimg * 1000, images_seen * rampup)    (no min without a ramp-up)
//   beta     = 0.5 ^ (batch / max(ema_nimg, 1e-8))
//   theta_ema <- theta + beta (theta_ema - theta)                   (trained parameters)
//   buffers of the EMA copy <- buffers of the generator             (copied as they are)
//
// At images_seen = 0 beta is 0: the EMA copy starts as the generator itself.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "../nn/parameters.hpp"

namespace imbdef::train {

using core::index_t;

struct ema_options {
    double half_life_kimg = 10;  // StyleGAN's ema_kimg: thousands of images for the weight to halve
    double rampup = 0.05;        // the half-life is at most this fraction of the images seen; <= 0: none

    // The defaults of METHOD.md ("Training defaults"): half-life batch * 10 / 32 kimg, ramp-up 0.05.
    static constexpr ema_options for_batch(index_t batch) noexcept {
        return {static_cast<double>(batch) * 10.0 / 32.0, 0.05};
    }
};

// The EMA decay for an iteration of `batch` images that starts after `images_seen` images.
inline double ema_beta(const ema_options& options, std::int64_t images_seen, index_t batch) {
    IMBDEF_REQUIRE(options.half_life_kimg >= 0 && std::isfinite(options.half_life_kimg), "ema_beta",
                   "a finite half-life >= 0 kimg", std::to_string(options.half_life_kimg));
    IMBDEF_REQUIRE(images_seen >= 0, "ema_beta", "images seen >= 0", std::to_string(images_seen));
    IMBDEF_REQUIRE(batch >= 1, "ema_beta", "a batch of at least 1 image", std::to_string(batch));
    double ema_nimg = options.half_life_kimg * 1000.0;
    if (options.rampup > 0) ema_nimg = std::min(ema_nimg, static_cast<double>(images_seen) * options.rampup);
    return std::pow(0.5, static_cast<double>(batch) / std::max(ema_nimg, 1e-8));
}

// ema <- current + beta (ema - current), element by element over two flat spans of equal size.
template <class T>
void ema_update(core::view<T> ema, std::type_identity_t<core::const_view<T>> current, double beta) {
    static_assert(std::is_floating_point_v<T>, "ema_update runs on float or double parameters");
    IMBDEF_REQUIRE(ema.numel() == current.numel(), "ema_update", std::to_string(current.numel()) + " EMA elements",
                   std::to_string(ema.numel()));
    IMBDEF_REQUIRE(beta >= 0 && beta <= 1, "ema_update", "beta in [0, 1]", std::to_string(beta));
    const T b = static_cast<T>(beta);
    T* const e = ema.data();
    const T* const c = current.data();
    core::parallel_for(0, ema.numel(), index_t{1} << 15, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) e[i] = c[i] + b * (e[i] - c[i]);
    });
}

// One EMA update of a whole network: trained parameters averaged, buffers copied. Both views
// must be bound to layouts of the same sizes (normally the one layout of the generator).
template <class T>
void update_ema(nn::parameter_views<T> ema, std::type_identity_t<nn::parameter_views<const T>> current, double beta) {
    using nn::tensor_role;
    IMBDEF_REQUIRE(ema.flat(tensor_role::buffer).numel() == current.flat(tensor_role::buffer).numel(), "update_ema",
                   std::to_string(current.flat(tensor_role::buffer).numel()) + " flat buffer elements in the EMA copy",
                   std::to_string(ema.flat(tensor_role::buffer).numel()));
    ema_update(ema.flat(tensor_role::parameter), current.flat(tensor_role::parameter), beta);
    const core::view<T> to = ema.flat(tensor_role::buffer);
    const core::const_view<T> from = current.flat(tensor_role::buffer);
    std::copy(from.data(), from.data() + from.numel(), to.data());
}

// The iteration's update from the schedule; returns the beta it used.
template <class T>
double update_ema(nn::parameter_store<T>& ema, const nn::parameter_store<T>& current, const ema_options& options,
                  std::int64_t images_seen, index_t batch) {
    const double beta = ema_beta(options, images_seen, batch);
    update_ema(ema.views(), current.views(), beta);
    return beta;
}

}  // namespace imbdef::train
