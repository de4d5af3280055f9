#pragma once
// ada: adaptive discriminator augmentation, StyleGAN2-ADA's pipeline 'bgc' (reference/stylegan3.md
// section 6) as an augmentation policy (concept.hpp). The random parameters are those of
// ada_params.hpp; p is a member, tuned from outside by ada_tuner.
//
// Execution, per sample by the kind of its geometric transform:
//   - identity (nothing fired): a copy. With p == 0 no sample fires and forward is one copy of x,
//     bit for bit (the reference runs its filters even then, an identity only up to rounding);
//   - blit (options.exact_blits and g_inv maps pixel centres onto pixel centres: flips, quarter
//     turns, integer translations): y(i, j) = x(reflect(i_in), reflect(j_in)), exact;
//   - resample, for the other samples of the batch together: reflect-pad by a margin shared by
//     them, upsample x2 with the sym6 wavelet low-pass (upfirdn2d, gain 4), bilinear grid_sample
//     (zeros, align_corners = False) of a supersampled output with a border of 2 * Hz_pad = 6
//     samples (Hz_pad = 3), downsample x2 with sym6 (flipped, the border cropped). The alignment is
//     the reference's: upsampled sample 2p stands for input pixel p and supersampled sample t for
//     output pixel (t - 6) / 2, which follows sym6's group delay (its taps' centre of mass is 5.1,
//     not 5.5). The up/down pair is then exactly the identity for the identity and translations
//     (sym6 is orthogonal), and a mirror comes out about 0.1 pixel off (sym6 is not symmetric:
//     one reason blits are copied exactly). The margin is
//     the reference's: the farthest output corner mapped back through g_inv, plus 2 Hz_pad = 6
//     input pixels, clamped to [0, size - 1] and rounded up, the maximum over the resampled samples
//     of the batch (the reference takes it over the whole batch; identity and blit samples do not
//     widen it).
// Then the colour map on the image channels (ada_params.hpp), mask channels untouched.
//
// All of it is affine in x for fixed parameters, so backward is the exact transpose, built from
// the ops' own transposes (upfirdn2d_backward, grid_sample_backward), the transposed reflect pad
// (a fold), the transposed blit (a scatter-add) and M^T for colour. The context keeps only the
// parameters (a few hundred bytes per sample); intermediate images live in the calling thread's
// scratch arena, requested at their worst-case sizes for the batch shape so that the arena stops
// growing after the first step. Work is split by sample (and by channel plane inside the ops);
// every value is computed by one fixed sequence of operations, so results do not depend on the
// thread count.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/philox.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../../ops/affine_grid.hpp"
#include "../../ops/fir.hpp"
#include "../../ops/grid_sample.hpp"
#include "../../ops/upfirdn2d.hpp"
#include "ada_params.hpp"
#include "concept.hpp"

namespace imbdef::policies {

namespace detail {

// The sym6 wavelet's low-pass decomposition taps (as PyWavelets lists them), the reference's
// Hz_geom before normalisation to sum 1.
inline constexpr double sym6_taps[12] = {
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466,   0.787641141030194,     0.3379294217276218,   -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578,  0.0017677118642428036, -0.007800708325034148};
inline constexpr core::index_t ada_taps = 12;
inline constexpr core::index_t ada_hz_pad = ada_taps / 4;  // border of the supersampled output, in input pixels

// sym6 normalised to sum 1 (setup_filter keeps a 12-tap filter 1-D: separable).
template <class T>
const core::tensor<T>& ada_filter() {
    static const core::tensor<T> f = [] {
        core::tensor<double> taps(core::shape{ada_taps});
        for (core::index_t k = 0; k < ada_taps; ++k) taps[k] = sym6_taps[k];
        return ops::fir::setup_filter<T>(taps.cview());
    }();
    return f;
}

// upsample2d(up = 2): pads ((F + 1) // 2, (F - 2) // 2), gain 4 (2 per axis).
inline constexpr ops::upfirdn2d_params ada_up_params =
    ops::upfirdn2d_params::uniform(2, 1, (ada_taps + 1) / 2, (ada_taps - 2) / 2, (ada_taps + 1) / 2, (ada_taps - 2) / 2, 4.0);
// downsample2d(down = 2, padding = -2 Hz_pad, flip_filter): pads -2 Hz_pad + ((F - 1) // 2, (F - 2) // 2).
inline constexpr ops::upfirdn2d_params ada_down_params = ops::upfirdn2d_params::uniform(
    1, 2, -2 * ada_hz_pad + (ada_taps - 1) / 2, -2 * ada_hz_pad + (ada_taps - 2) / 2, -2 * ada_hz_pad + (ada_taps - 1) / 2,
    -2 * ada_hz_pad + (ada_taps - 2) / 2, 1.0, true);

// The parameters of upfirdn2d's adjoint for an input of shape x (reference section 7): up and
// down swapped, the filter flipped, the pads of upfirdn_axis::transposed. Called as a forward,
// it is upfirdn2d_backward under assign.
inline ops::upfirdn2d_params upfirdn2d_adjoint_params(const core::shape& x, const core::shape& f, const ops::upfirdn2d_params& p) {
    const auto [ax, ay] = ops::upfirdn2d_axes(x, f, p);
    const ops::upfirdn_axis tx = ax.transposed(), ty = ay.transposed();
    return {tx.up, ty.up, tx.down, ty.down, tx.pad0, tx.pad1, ty.pad0, ty.pad1, p.gain, !p.flip_filter};
}

struct ada_margins {
    core::index_t x0 = 0, x1 = 0, y0 = 0, y1 = 0;
};

// The reflect-pad margins shared by the resampled samples.
inline ada_margins ada_pad_margins(const std::vector<ada_sample>& samples, const std::vector<core::index_t>& resampled,
                                   core::index_t height, core::index_t width) {
    const double cx = static_cast<double>(width - 1) / 2, cy = static_cast<double>(height - 1) / 2;
    double reach[4] = {-std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                       -std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    for (core::index_t s : resampled) {
        const mat3& g = samples[static_cast<std::size_t>(s)].g_inv;
        for (double px : {-cx, cx})
            for (double py : {-cy, cy}) {
                const double x = g.x(px, py), y = g.y(px, py);
                reach[0] = std::max(reach[0], -x);
                reach[1] = std::max(reach[1], x);
                reach[2] = std::max(reach[2], -y);
                reach[3] = std::max(reach[3], y);
            }
    }
    auto margin = [](double r, double c, core::index_t size) {
        const double m = std::clamp(r + static_cast<double>(2 * ada_hz_pad) - c, 0.0, static_cast<double>(size - 1));
        return static_cast<core::index_t>(std::ceil(m));
    };
    return {margin(reach[0], cx, width), margin(reach[1], cx, width), margin(reach[2], cy, height),
            margin(reach[3], cy, height)};
}

// One plane: dst [h + y0 + y1, w + x0 + x1] = src [h, w] padded by reflection.
template <class T>
void reflect_pad_plane(const T* src, T* dst, core::index_t h, core::index_t w, const ada_margins& m) {
    const core::index_t wp = w + m.x0 + m.x1, hp = h + m.y0 + m.y1;
    for (core::index_t ip = 0; ip < hp; ++ip) {
        const T* row = src + reflect_index(ip - m.y0, h) * w;
        T* out = dst + ip * wp;
        for (core::index_t j = 0; j < m.x0; ++j) out[j] = row[m.x0 - j];
        std::copy(row, row + w, out + m.x0);
        for (core::index_t j = 0; j < m.x1; ++j) out[m.x0 + w + j] = row[w - 2 - j];
    }
}

// The transpose: dst [h, w] (under mode, assign or accumulate) gets every padded sample added
// back onto the pixel it was copied from.
template <class T>
void reflect_fold_plane(const T* src, T* dst, core::index_t h, core::index_t w, const ada_margins& m,
                        core::grad_mode mode) {
    const core::index_t wp = w + m.x0 + m.x1, hp = h + m.y0 + m.y1;
    if (mode == core::grad_mode::assign) std::fill_n(dst, h * w, T(0));
    for (core::index_t ip = 0; ip < hp; ++ip) {
        T* row = dst + reflect_index(ip - m.y0, h) * w;
        const T* in = src + ip * wp;
        for (core::index_t j = 0; j < m.x0; ++j) row[m.x0 - j] += in[j];
        for (core::index_t j = 0; j < w; ++j) row[j] += in[m.x0 + j];
        for (core::index_t j = 0; j < m.x1; ++j) row[w - 2 - j] += in[m.x0 + w + j];
    }
}

// y (c planes) = x moved by the sample's pixel map, indices reflected.
template <class T>
void blit_gather(const core::index_t (&map)[6], const T* x, T* y, core::index_t c, core::index_t h, core::index_t w) {
    for (core::index_t ch = 0; ch < c; ++ch) {
        const T* src = x + ch * h * w;
        T* dst = y + ch * h * w;
        for (core::index_t i = 0; i < h; ++i)
            for (core::index_t j = 0; j < w; ++j)
                dst[i * w + j] = src[reflect_index(map[3] * j + map[4] * i + map[5], h) * w +
                                     reflect_index(map[0] * j + map[1] * i + map[2], w)];
    }
}

// The transpose: dx += the scatter of g along the same map.
template <class T>
void blit_scatter(const core::index_t (&map)[6], const T* g, T* dx, core::index_t c, core::index_t h, core::index_t w) {
    for (core::index_t ch = 0; ch < c; ++ch) {
        const T* src = g + ch * h * w;
        T* dst = dx + ch * h * w;
        for (core::index_t i = 0; i < h; ++i)
            for (core::index_t j = 0; j < w; ++j)
                dst[reflect_index(map[3] * j + map[4] * i + map[5], h) * w +
                    reflect_index(map[0] * j + map[1] * i + map[2], w)] += src[i * w + j];
    }
}

// The colour map in place on the image channels of one sample (planes of hw pixels).
template <class T>
void color_apply(const ada_sample& s, core::index_t color_channels, core::index_t hw, T* y, bool with_offset) {
    if (color_channels == 1) {
        const T m = static_cast<T>(s.m[0]), b = with_offset ? static_cast<T>(s.b[0]) : T(0);
        for (core::index_t p = 0; p < hw; ++p) y[p] = m * y[p] + b;
        return;
    }
    T m[9], b[3];
    for (int k = 0; k < 9; ++k) m[k] = static_cast<T>(s.m[k]);
    for (int k = 0; k < 3; ++k) b[k] = with_offset ? static_cast<T>(s.b[k]) : T(0);
    T* r = y;
    T* g = y + hw;
    T* bl = y + 2 * hw;
    for (core::index_t p = 0; p < hw; ++p) {
        const T vr = r[p], vg = g[p], vb = bl[p];
        r[p] = m[0] * vr + m[1] * vg + m[2] * vb + b[0];
        g[p] = m[3] * vr + m[4] * vg + m[5] * vb + b[1];
        bl[p] = m[6] * vr + m[7] * vg + m[8] * vb + b[2];
    }
}

// out (under mode) = the transposed colour map of dy for one sample of c planes: M^T on the image
// channels, the identity on the others (and everywhere when the sample has no colour map).
template <class T>
void color_transpose(const ada_sample& s, core::index_t color_channels, core::index_t c, core::index_t hw, const T* dy,
                     T* out, core::grad_mode mode) {
    core::index_t first_plain = 0;
    if (s.color && color_channels == 1) {
        const T m = static_cast<T>(s.m[0]);
        for (core::index_t p = 0; p < hw; ++p) core::store_grad(out[p], m * dy[p], mode);
        first_plain = 1;
    } else if (s.color) {
        T m[9];
        for (int k = 0; k < 9; ++k) m[k] = static_cast<T>(s.m[k]);
        const T* gr = dy;
        const T* gg = dy + hw;
        const T* gb = dy + 2 * hw;
        for (core::index_t p = 0; p < hw; ++p) {
            core::store_grad(out[p], m[0] * gr[p] + m[3] * gg[p] + m[6] * gb[p], mode);
            core::store_grad(out[hw + p], m[1] * gr[p] + m[4] * gg[p] + m[7] * gb[p], mode);
            core::store_grad(out[2 * hw + p], m[2] * gr[p] + m[5] * gg[p] + m[8] * gb[p], mode);
        }
        first_plain = 3;
    }
    const core::index_t from = first_plain * hw, to = c * hw;
    if (mode == core::grad_mode::assign)
        std::copy(dy + from, dy + to, out + from);
    else if (mode == core::grad_mode::accumulate)
        for (core::index_t k = from; k < to; ++k) out[k] += dy[k];
}

}  // namespace detail

struct ada {
    static constexpr std::string_view name = "ada";
    // Random words a forward takes per sample (after rounding the offset up to a block boundary).
    static constexpr std::uint64_t words_per_sample = 4 * detail::ada_blocks_per_sample;

    ada_options options{};
    double p = 0.0;  // augmentation probability; 0 is the identity

    template <class T>
    struct context {
        core::shape shape = core::shape::none();
        core::index_t color_channels = 0;
        bool ready = false;     // a forward has filled this context
        bool identity = true;   // no sample changed: forward was a copy
        bool any_color = false;
        std::vector<detail::ada_sample> samples;
        std::vector<core::index_t> resampled;  // samples on the resampling path, ascending
        detail::ada_margins margins{};
    };

    // The offset after the words a forward over n samples starting at `offset` takes: offset
    // rounded up to a multiple of 4, plus words_per_sample * n. Independent of p and the options.
    static constexpr std::uint64_t next_offset(std::uint64_t offset, core::index_t n) noexcept {
        return 4 * ((offset + 3) / 4) + words_per_sample * static_cast<std::uint64_t>(n);
    }

    // y = A x + a with A and a drawn for each sample from (rng, offset); returns next_offset.
    template <std::floating_point T>
    std::uint64_t forward(std::type_identity_t<core::const_view<T>> x, core::index_t color_channels,
                          std::type_identity_t<core::view<T>> y, context<T>& ctx, core::philox_stream rng,
                          std::uint64_t offset) const {
        const std::string where = "policies::ada";
        detail::check_augmentation_input(name, "x", x.shape(), color_channels);
        detail::check_augmentation_output(name, "y", x.shape(), y.shape());
        IMBDEF_REQUIRE(std::isfinite(p) && p >= 0, where, "probability p >= 0 and finite", "p " + std::to_string(p));
        IMBDEF_REQUIRE(!detail::overlaps<T>(x.data(), x.numel(), y.data(), y.numel()), where,
                       "y in memory apart from x", "y overlapping x");
        const core::index_t n = x.size(0), h = x.size(2), w = x.size(3);
        ctx.shape = x.shape();
        ctx.color_channels = color_channels;
        ctx.ready = true;
        ctx.identity = true;
        ctx.any_color = false;
        ctx.resampled.clear();
        ctx.resampled.reserve(static_cast<std::size_t>(n));
        ctx.samples.resize(static_cast<std::size_t>(n));
        if (p > 0 && !x.empty()) {
            using geometry = detail::ada_sample::geometry;
            const std::uint64_t first_block = (offset + 3) / 4;
            for (core::index_t s = 0; s < n; ++s) {
                detail::ada_sample& smp = ctx.samples[static_cast<std::size_t>(s)];
                smp = detail::draw_ada_sample(options, p, color_channels, h, w, rng,
                                              first_block + detail::ada_blocks_per_sample * static_cast<std::uint64_t>(s));
                detail::classify_ada_geometry(smp, h, w, options.exact_blits);
                if (smp.kind == geometry::resample) {
                    smp.slot = static_cast<core::index_t>(ctx.resampled.size());
                    ctx.resampled.push_back(s);
                }
                ctx.identity = ctx.identity && smp.kind == geometry::identity && !smp.color;
                ctx.any_color = ctx.any_color || smp.color;
            }
            core::index_t next_slot = static_cast<core::index_t>(ctx.resampled.size());
            for (auto& smp : ctx.samples)
                if (smp.kind == geometry::blit) smp.slot = next_slot++;
            if (!ctx.resampled.empty()) ctx.margins = detail::ada_pad_margins(ctx.samples, ctx.resampled, h, w);
        }
        if (ctx.identity)
            detail::store_all(x.data(), y.data(), x.numel(), core::grad_mode::assign);
        else
            apply(ctx, x.data(), y.data(), true);
        return next_offset(offset, n);
    }

    // y_dot = A x_dot: the forward of ctx without its colour offset (the tangent rule).
    template <std::floating_point T>
    void forward_tangent(const context<T>& ctx, std::type_identity_t<core::const_view<T>> x_dot,
                         std::type_identity_t<core::view<T>> y_dot) const {
        require_ready(ctx);
        detail::check_augmentation_output(name, "x_dot", ctx.shape, x_dot.shape());
        detail::check_augmentation_output(name, "y_dot", ctx.shape, y_dot.shape());
        IMBDEF_REQUIRE(!detail::overlaps<T>(x_dot.data(), x_dot.numel(), y_dot.data(), y_dot.numel()), "policies::ada",
                       "y_dot in memory apart from x_dot", "y_dot overlapping x_dot");
        if (ctx.identity)
            detail::store_all(x_dot.data(), y_dot.data(), x_dot.numel(), core::grad_mode::assign);
        else
            apply(ctx, x_dot.data(), y_dot.data(), false);
    }

    // dx (under mode) = A^T dy for the transform of ctx.
    template <std::floating_point T>
    void backward(const context<T>& ctx, std::type_identity_t<core::const_view<T>> dy,
                  std::type_identity_t<core::view<T>> dx, core::grad_mode mode) const {
        if (mode == core::grad_mode::none) return;
        require_ready(ctx);
        detail::check_augmentation_output(name, "dy", ctx.shape, dy.shape());
        detail::check_augmentation_output(name, "dx", ctx.shape, dx.shape());
        IMBDEF_REQUIRE(!detail::overlaps<T>(dy.data(), dy.numel(), dx.data(), dx.numel()), "policies::ada",
                       "dx in memory apart from dy", "dx overlapping dy");
        if (ctx.identity) {
            detail::store_all(dy.data(), dx.data(), dy.numel(), mode);
            return;
        }
        transpose(ctx, dy.data(), dx.data(), mode);
    }

private:
    template <class T>
    static void require_ready(const context<T>& ctx) {
        IMBDEF_REQUIRE(ctx.ready, "policies::ada", "a context filled by forward", "an empty context");
    }

    // The intermediate buffers of the resampling path for ng of the batch's samples, carved from
    // `scope` at the worst-case sizes of the whole batch (margins of size - 1).
    template <class T>
    struct resample_buffers {
        core::view<T> padded, up, theta, grid, sampled;
        core::index_t hp, wp, ho, wo;

        resample_buffers(const context<T>& ctx, core::scratch_scope<>& scope) {
            const core::index_t n = ctx.shape[0], c = ctx.shape[1], h = ctx.shape[2], w = ctx.shape[3];
            const auto ng = static_cast<core::index_t>(ctx.resampled.size());
            const detail::ada_margins& m = ctx.margins;
            hp = h + m.y0 + m.y1;
            wp = w + m.x0 + m.x1;
            ho = 2 * (h + 2 * detail::ada_hz_pad);
            wo = 2 * (w + 2 * detail::ada_hz_pad);
            const core::index_t hp_max = 3 * h - 2, wp_max = 3 * w - 2;
            auto take = [&](core::index_t capacity, const core::shape& s) {
                return core::view<T>(scope.template allocate<T>(core::shape{capacity}).data(), s);
            };
            padded = take(n * c * hp_max * wp_max, {ng, c, hp, wp});
            up = take(n * c * 4 * hp_max * wp_max, {ng, c, 2 * hp, 2 * wp});
            theta = take(n * 6, {ng, 2, 3});
            grid = take(n * ho * wo * 2, {ng, ho, wo, 2});
            sampled = take(n * c * ho * wo, {ng, c, ho, wo});
            // theta maps the supersampled output's normalised grid (base b) to the upsampled, padded
            // input's, with the reference's alignment: supersampled sample t (index) stands for output
            // pixel (t - 2 Hz_pad) / 2 and upsampled sample u for padded input pixel u / 2. In centred
            // pixel units the output position is o = (size + 2 Hz_pad) / 2 * b + 1/4, and
            //   g = (2 / size_padded) * g_inv(o) + (margin0 - margin1 - 1/2) / size_padded.
            const double sx = static_cast<double>(w + 2 * detail::ada_hz_pad) / 2;
            const double sy = static_cast<double>(h + 2 * detail::ada_hz_pad) / 2;
            const double kx = 2.0 / static_cast<double>(wp), ky = 2.0 / static_cast<double>(hp);
            for (core::index_t k = 0; k < ng; ++k) {
                const detail::mat3& g = ctx.samples[static_cast<std::size_t>(ctx.resampled[static_cast<std::size_t>(k)])].g_inv;
                T* t = theta.data() + 6 * k;
                t[0] = static_cast<T>(kx * g.a[0] * sx);
                t[1] = static_cast<T>(kx * g.a[1] * sy);
                t[2] = static_cast<T>(kx * g.x(0.25, 0.25) + (static_cast<double>(m.x0 - m.x1) - 0.5) / static_cast<double>(wp));
                t[3] = static_cast<T>(ky * g.a[3] * sx);
                t[4] = static_cast<T>(ky * g.a[4] * sy);
                t[5] = static_cast<T>(ky * g.y(0.25, 0.25) + (static_cast<double>(m.y0 - m.y1) - 0.5) / static_cast<double>(hp));
            }
            ops::affine_grid<T>(theta, grid);
        }
    };

    // out [ng, C, H, W] = the resampled samples of x, in the order of ctx.resampled.
    template <class T>
    static void resample_forward(const context<T>& ctx, const T* x, core::view<T> out, core::scratch_scope<>& scope) {
        const core::index_t c = ctx.shape[1], h = ctx.shape[2], w = ctx.shape[3];
        const auto ng = static_cast<core::index_t>(ctx.resampled.size());
        resample_buffers<T> b(ctx, scope);
        const core::index_t plane_p = b.hp * b.wp;
        T* padded = b.padded.data();
        core::parallel_for(0, ng * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t q = lo; q < hi; ++q) {
                const core::index_t s = ctx.resampled[static_cast<std::size_t>(q / c)];
                detail::reflect_pad_plane(x + (s * c + q % c) * h * w, padded + q * plane_p, h, w, ctx.margins);
            }
        });
        const core::tensor<T>& f = detail::ada_filter<T>();
        ops::upfirdn2d<T>(b.padded, f, b.up, detail::ada_up_params);
        ops::grid_sample<T>(b.up, b.grid, b.sampled);
        ops::upfirdn2d<T>(b.sampled, f, out, detail::ada_down_params);
    }

    // dx (under mode) of the resampled samples += the transposed resampling of r [ng, C, H, W].
    template <class T>
    static void resample_backward(const context<T>& ctx, core::const_view<T> r, T* dx, core::grad_mode mode,
                                  core::scratch_scope<>& scope) {
        const core::index_t c = ctx.shape[1], h = ctx.shape[2], w = ctx.shape[3];
        const auto ng = static_cast<core::index_t>(ctx.resampled.size());
        resample_buffers<T> b(ctx, scope);
        const core::tensor<T>& f = detail::ada_filter<T>();
        // The upfirdn2d transposes, written as upfirdn2d with the transposed parameters.
        ops::upfirdn2d<T>(r, f, b.sampled, detail::upfirdn2d_adjoint_params(b.sampled.shape(), f.shape(), detail::ada_down_params));
        ops::grid_sample_backward<T>(b.grid, b.sampled, b.up, core::grad_mode::assign);
        ops::upfirdn2d<T>(b.up, f, b.padded, detail::upfirdn2d_adjoint_params(b.padded.shape(), f.shape(), detail::ada_up_params));
        const core::index_t plane_p = b.hp * b.wp;
        const T* padded = b.padded.data();
        core::parallel_for(0, ng * c, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t q = lo; q < hi; ++q) {
                const core::index_t s = ctx.resampled[static_cast<std::size_t>(q / c)];
                detail::reflect_fold_plane(padded + q * plane_p, dx + (s * c + q % c) * h * w, h, w, ctx.margins, mode);
            }
        });
    }

    template <class T>
    static void apply(const context<T>& ctx, const T* x, T* y, bool with_offset) {
        using geometry = detail::ada_sample::geometry;
        const core::index_t n = ctx.shape[0], c = ctx.shape[1], h = ctx.shape[2], w = ctx.shape[3];
        const core::index_t hw = h * w, cc = ctx.color_channels;
        const auto ng = static_cast<core::index_t>(ctx.resampled.size());
        core::scratch_scope<> scope;
        const bool direct = ng == n;  // every sample resampled: the downsample writes y itself
        T* resampled = y;
        if (ng > 0) {
            if (!direct) resampled = scope.template allocate<T>(core::shape{n * c * hw}).data();
            resample_forward(ctx, x, core::view<T>(resampled, {ng, c, h, w}), scope);
        }
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t s = lo; s < hi; ++s) {
                const detail::ada_sample& smp = ctx.samples[static_cast<std::size_t>(s)];
                const T* xs = x + s * c * hw;
                T* ys = y + s * c * hw;
                if (smp.kind == geometry::identity)
                    std::copy(xs, xs + c * hw, ys);
                else if (smp.kind == geometry::blit)
                    detail::blit_gather(smp.map, xs, ys, c, h, w);
                else if (!direct)
                    std::copy(resampled + smp.slot * c * hw, resampled + (smp.slot + 1) * c * hw, ys);
                if (smp.color) detail::color_apply(smp, cc, hw, ys, with_offset);
            }
        });
    }

    template <class T>
    static void transpose(const context<T>& ctx, const T* dy, T* dx, core::grad_mode mode) {
        using geometry = detail::ada_sample::geometry;
        const core::index_t n = ctx.shape[0], c = ctx.shape[1], h = ctx.shape[2], w = ctx.shape[3];
        const core::index_t hw = h * w, cc = ctx.color_channels;
        const auto ng = static_cast<core::index_t>(ctx.resampled.size());
        core::scratch_scope<> scope;
        // The colour-transposed gradient of the samples that go on to a geometric transpose, by slot.
        T* staged = scope.template allocate<T>(core::shape{n * c * hw}).data();
        const bool direct = ng == n && !ctx.any_color;  // dy itself is the resampling path's input
        core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t s = lo; s < hi; ++s) {
                const detail::ada_sample& smp = ctx.samples[static_cast<std::size_t>(s)];
                const T* g = dy + s * c * hw;
                T* d = dx + s * c * hw;
                if (smp.kind == geometry::identity) {
                    detail::color_transpose(smp, cc, c, hw, g, d, mode);
                } else if (smp.kind == geometry::blit) {
                    const T* src = g;
                    if (smp.color) {
                        T* t = staged + smp.slot * c * hw;
                        detail::color_transpose(smp, cc, c, hw, g, t, core::grad_mode::assign);
                        src = t;
                    }
                    if (mode == core::grad_mode::assign) std::fill_n(d, c * hw, T(0));
                    detail::blit_scatter(smp.map, src, d, c, h, w);
                } else if (!direct) {
                    detail::color_transpose(smp, cc, c, hw, g, staged + smp.slot * c * hw, core::grad_mode::assign);
                }
            }
        });
        if (ng > 0)
            resample_backward(ctx, core::const_view<T>(direct ? dy : staged, {ng, c, h, w}), dx, mode, scope);
    }
};

static_assert(augmentation_policy<ada>);

}  // namespace imbdef::policies
