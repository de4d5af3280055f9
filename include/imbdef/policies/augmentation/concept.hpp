#pragma once
// The augmentation policy (DESIGN.md, "Policies"): what the discriminators see instead of the raw
// batch. For x [N, C, H, W] whose first `color_channels` channels (1 grey or 3 RGB) are the image
// and any further channels masks (D_match sees [image, soft mask]):
//   - one random transform per sample; geometric parts move every channel alike, colour parts
//     touch the image channels only;
//   - forward(x, color_channels, y, ctx, rng, offset) -> next offset: the transform's random
//     parameters come from the Philox stream `rng` at word offsets [offset, next offset), so a
//     trainer replays a step bit for bit from (seed, stream, offset); the returned offset is where
//     the caller's next draw may start. The context keeps what backward needs;
//   - for fixed random parameters y = A x + a is affine in x: backward(ctx, dy, dx, mode) writes
//     A^T dy under the gradient contract (core/grad_mode.hpp), and forward_tangent(ctx, x_dot,
//     y_dot) writes A x_dot (no offset), the tangent rule of exact R1 (DESIGN.md, "Second order");
//     the tangent of backward is backward itself, applied to dy_dot.
// Outputs must not overlap inputs (no_augmentation also accepts y == x exactly).

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/philox.hpp"
#include "../../core/tensor.hpp"

namespace imbdef::policies {

template <class A>
concept augmentation_policy =
    std::copy_constructible<A> &&
    requires(const A a, typename A::template context<float>& ctx, core::const_view<float> x, core::view<float> y,
             core::index_t color_channels, core::philox_stream rng, std::uint64_t offset, core::grad_mode m) {
        { A::name } -> std::convertible_to<std::string_view>;
        { a.forward(x, color_channels, y, ctx, rng, offset) } -> std::same_as<std::uint64_t>;
        a.forward_tangent(ctx, x, y);
        a.backward(ctx, x, y, m);
    };

namespace detail {

// Rank 4 and a colour-channel count the policies understand; `who` names the policy.
inline void check_augmentation_input(std::string_view who, std::string_view x_name, const core::shape& x,
                                     core::index_t color_channels) {
    const std::string where = "policies::" + std::string(who);
    IMBDEF_REQUIRE(x.rank() == 4, where, std::string(x_name) + " of rank 4 [N, C, H, W]",
                   std::string(x_name) + " of shape " + x.to_string());
    IMBDEF_REQUIRE((color_channels == 1 || color_channels == 3) && color_channels <= x[1], where,
                   "color_channels 1 (grey) or 3 (RGB), at most the " + std::to_string(x[1]) + " channels of " +
                       std::string(x_name),
                   "color_channels " + std::to_string(color_channels));
}

inline void check_augmentation_output(std::string_view who, std::string_view name, const core::shape& expected,
                                      const core::shape& found) {
    IMBDEF_REQUIRE(found == expected, "policies::" + std::string(who),
                   std::string(name) + " of shape " + expected.to_string(),
                   std::string(name) + " of shape " + found.to_string());
}

template <class T>
bool overlaps(const T* a, core::index_t na, const T* b, core::index_t nb) noexcept {
    if (na == 0 || nb == 0) return false;
    return std::less<const T*>{}(a, b + nb) && std::less<const T*>{}(b, a + na);
}

// dst (under mode) = src, elementwise, over the pool.
template <class T>
void store_all(const T* src, T* dst, core::index_t n, core::grad_mode mode) {
    if (mode == core::grad_mode::none || (src == dst && mode == core::grad_mode::assign)) return;
    constexpr core::index_t grain = core::index_t{1} << 15;
    core::parallel_for(0, n, grain, [=](core::index_t lo, core::index_t hi) {
        if (mode == core::grad_mode::assign)
            std::copy(src + lo, src + hi, dst + lo);
        else
            for (core::index_t i = lo; i < hi; ++i) dst[i] += src[i];
    });
}

}  // namespace detail

// The identity: y = x (a copy, nothing when y is x), dx = dy. Consumes no random words.
struct no_augmentation {
    static constexpr std::string_view name = "no_augmentation";

    template <class T>
    struct context {
        core::shape shape = core::shape::none();
    };

    template <std::floating_point T>
    std::uint64_t forward(std::type_identity_t<core::const_view<T>> x, core::index_t color_channels,
                          std::type_identity_t<core::view<T>> y, context<T>& ctx, core::philox_stream,
                          std::uint64_t offset) const {
        detail::check_augmentation_input(name, "x", x.shape(), color_channels);
        detail::check_augmentation_output(name, "y", x.shape(), y.shape());
        ctx.shape = x.shape();
        detail::store_all(x.data(), y.data(), x.numel(), core::grad_mode::assign);
        return offset;
    }

    template <std::floating_point T>
    void forward_tangent(const context<T>& ctx, std::type_identity_t<core::const_view<T>> x_dot,
                         std::type_identity_t<core::view<T>> y_dot) const {
        detail::check_augmentation_output(name, "x_dot", ctx.shape, x_dot.shape());
        detail::check_augmentation_output(name, "y_dot", ctx.shape, y_dot.shape());
        detail::store_all(x_dot.data(), y_dot.data(), x_dot.numel(), core::grad_mode::assign);
    }

    template <std::floating_point T>
    void backward(const context<T>& ctx, std::type_identity_t<core::const_view<T>> dy,
                  std::type_identity_t<core::view<T>> dx, core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        detail::check_augmentation_output(name, "dy", ctx.shape, dy.shape());
        detail::check_augmentation_output(name, "dx", ctx.shape, dx.shape());
        detail::store_all(dy.data(), dx.data(), dy.numel(), mode);
    }
};

static_assert(augmentation_policy<no_augmentation>);

}  // namespace imbdef::policies
