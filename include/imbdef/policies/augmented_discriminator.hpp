#pragma once
// A discriminator seen through one fixed draw of an augmentation: x -> D(select(A x + a)), where
// select keeps the first `keep` channels of the augmented batch (D_img sees the image channels of
// an augmented (image, mask) pair; D_match sees all of them).
//
// StyleGAN3 takes R1 with respect to the image before augmentation (reference/stylegan3.md
// section 5, "Dreg"): g = d sum D(A x) / dx = A^T dD/dy. This wrapper makes that a module with the
// tangent passes, so policies::r1_exact computes it exactly by forward-over-reverse:
//   forward_tangent   y_dot = A x_dot                     (the augmentation's own tangent rule)
//   backward_tangent  dx = A^T dy_aug, dx_dot = A^T dy_aug_dot (A is fixed, so its backward is
//                     linear and its tangent is itself)
// The draw is replayed from (rng, offset) on every forward, so every pass sees the same A.
// The wrapper holds copies of the discriminator (a description of its layers: the parameters live
// in the caller's store) and of the augmentation (its options and p).

#include <algorithm>
#include <cstdint>
#include <string>

#include "../core/grad_mode.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../nn/module.hpp"
#include "augmentation.hpp"

namespace imbdef::policies {

template <class D, augmentation_policy A>
class augmented_discriminator {
public:
    // Inputs have `in_channels` channels, the first `color_channels` of them image channels; D sees
    // the first `keep` channels of the augmented batch.
    augmented_discriminator(const D& d, const A& a, core::index_t in_channels, core::index_t color_channels,
                            core::index_t keep, core::philox_stream rng, std::uint64_t offset)
        : d_(d), a_(a), in_channels_(in_channels), color_channels_(color_channels), keep_(keep), rng_(rng), offset_(offset) {
        IMBDEF_REQUIRE(keep >= 1 && keep <= in_channels && color_channels <= in_channels, "policies::augmented_discriminator",
                       "1 <= keep <= in_channels and color_channels <= in_channels",
                       "keep " + std::to_string(keep) + ", color_channels " + std::to_string(color_channels) +
                           ", in_channels " + std::to_string(in_channels));
    }

    template <class T>
    struct context {
        typename D::template context<T> d;
        typename A::template context<T> a;
        core::tensor<T> augmented, selected, d_selected, d_augmented, augmented_dot, selected_dot, d_selected_dot, d_augmented_dot;
    };

    // The discriminator's parameters, under the same names; the wrapper adds none.
    void declare(const nn::registry& r) { d_.declare(r); }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 4 && x[1] == in_channels_, "policies::augmented_discriminator",
                       "an input [N, " + std::to_string(in_channels_) + ", H, W]", "shape " + x.to_string());
        return d_.output_shape({x[0], keep_, x[2], x[3]});
    }

    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        nn::ensure_shape(ctx.augmented, x.shape());
        a_.template forward<T>(x, color_channels_, ctx.augmented.view(), ctx.a, rng_, offset_);
        d_.forward(p, select<T>(ctx.augmented, ctx.selected), y, ctx.d);
    }

    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, nn::grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        nn::ensure_shape(ctx.d_selected, seen_shape(ctx));
        d_.backward(p, ctx.d, dy, ctx.d_selected.view(), g,
                     data_mode == core::grad_mode::none ? core::grad_mode::none : core::grad_mode::assign, param_mode);
        if (data_mode == core::grad_mode::none) return;
        a_.template backward<T>(ctx.a, expand<T>(ctx.d_selected, ctx.d_augmented), dx, data_mode);
    }

    template <class T>
    void forward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const {
        nn::ensure_shape(ctx.augmented_dot, x_dot.shape());
        a_.template forward_tangent<T>(ctx.a, x_dot, ctx.augmented_dot.view());
        d_.forward_tangent(p, ctx.d, select<T>(ctx.augmented_dot, ctx.selected_dot), y_dot);
    }

    template <class T>
    void backward_tangent(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, nn::grads_out<T> g, core::grad_mode data_mode,
                          core::grad_mode param_mode) const {
        nn::ensure_shape(ctx.d_selected, seen_shape(ctx));
        nn::ensure_shape(ctx.d_selected_dot, seen_shape(ctx));
        const core::grad_mode inner = data_mode == core::grad_mode::none ? core::grad_mode::none : core::grad_mode::assign;
        d_.backward_tangent(p, ctx.d, dy, dy_dot, ctx.d_selected.view(), ctx.d_selected_dot.view(), g, inner, param_mode);
        if (data_mode == core::grad_mode::none) return;
        a_.template backward<T>(ctx.a, expand<T>(ctx.d_selected, ctx.d_augmented), dx, data_mode);
        a_.template backward<T>(ctx.a, expand<T>(ctx.d_selected_dot, ctx.d_augmented_dot), dx_dot, data_mode);
    }

private:
    // The shape of what D sees: the augmented batch's first keep_ channels.
    template <class T>
    core::shape seen_shape(const context<T>& ctx) const {
        const core::shape& a = ctx.augmented.shape();
        return {a[0], keep_, a[2], a[3]};
    }

    // The first keep_ channels of each sample of `full`, as a tensor of their own (or `full`
    // itself when it keeps every channel).
    template <class T>
    core::const_view<T> select(const core::tensor<T>& full, core::tensor<T>& out) const {
        const core::index_t n = full.size(0), c = full.size(1), plane = full.size(2) * full.size(3);
        if (keep_ == c) return full.cview();
        nn::ensure_shape(out, {n, keep_, full.size(2), full.size(3)});
        for (core::index_t i = 0; i < n; ++i) std::copy_n(full.data() + i * c * plane, keep_ * plane, out.data() + i * keep_ * plane);
        return out.cview();
    }
    // The transpose of select: the kept channels' gradient, zeros for the others.
    template <class T>
    core::const_view<T> expand(const core::tensor<T>& kept, core::tensor<T>& full) const {
        if (keep_ == in_channels_) return kept.cview();
        const core::index_t n = kept.size(0), plane = kept.size(2) * kept.size(3), c = in_channels_;
        nn::ensure_shape(full, {n, c, kept.size(2), kept.size(3)});
        full.fill(T(0));
        for (core::index_t i = 0; i < n; ++i) std::copy_n(kept.data() + i * keep_ * plane, keep_ * plane, full.data() + i * c * plane);
        return full.cview();
    }

    D d_;
    A a_;
    core::index_t in_channels_, color_channels_, keep_;
    core::philox_stream rng_;
    std::uint64_t offset_;
};

}  // namespace imbdef::policies
