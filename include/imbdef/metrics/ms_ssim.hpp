#pragma once
// Multi-scale structural similarity (Wang, Simoncelli and Bovik, "Multiscale structural similarity
// for image quality assessment", 2003), the feature-free image distance of the diversity metric.
//
// Per channel plane and scale s = 0 .. S-1 (scale 0 the image, each next one a 2x2 average of the
// previous, an odd last row or column dropped), with an 11 x 11 Gaussian window (sigma 1.5,
// normalised) applied over the valid region only (no padding):
//   mu_x = G*x, sigma_x^2 = G*(x^2) - mu_x^2, sigma_xy = G*(xy) - mu_x mu_y,
//   cs_s = mean (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2),
//   l    = mean over the last scale of (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) times the cs term,
// C1 = (k1 L)^2, C2 = (k2 L)^2, k1 = 0.01, k2 = 0.03, L = 2 (the range of [-1, 1] images);
//   MS-SSIM = prod_{s < S-1} max(cs_s, 0)^w_s * max(ssim_{S-1}, 0)^w_{S-1},
// with the published weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); the channels' values are
// averaged. Negative terms are clamped to 0 (a fractional power of a negative number is undefined;
// common implementations do the same).
//
// Small images. S is the largest number <= max_scales (5) for which the coarsest scale still holds
// the window: min(H, W) >> (S - 1) >= window. With fewer than 5 scales the first S weights are
// divided by their sum, so they still sum to 1 (64 x 64 crops get 3 scales, 0.0448, 0.2856 and
// 0.3001 renormalised). An image smaller than the window is refused.
//
// Properties the tests pin: MS-SSIM(x, x) = 1 exactly, MS-SSIM(x, y) = MS-SSIM(y, x) exactly, and
// for two constant images a and b (every cs term 1) it is ((2ab + C1) / (a^2 + b^2 + C1))^w_{S-1},
// the luminance term to the last scale's renormalised weight.
// Everything is computed in double, each pair serially: bits do not depend on the thread count.

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace imbdef::metrics {

struct ms_ssim_options {
    int window = 11;
    double sigma = 1.5;
    double k1 = 0.01, k2 = 0.03;
    double data_range = 2.0;
    int max_scales = 5;
};

inline constexpr std::array<double, 5> ms_ssim_weights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

// The number of scales used for h x w images; throws when not even one fits.
inline int ms_ssim_scales(core::index_t h, core::index_t w, const ms_ssim_options& o = {}) {
    constexpr const char* where = "metrics::ms_ssim";
    IMBDEF_REQUIRE(o.window >= 1 && o.sigma > 0 && o.data_range > 0 && o.max_scales >= 1 && o.max_scales <= 5, where,
                   "window >= 1, sigma > 0, data_range > 0 and max_scales in [1, 5]",
                   "window " + std::to_string(o.window) + ", sigma " + std::to_string(o.sigma) + ", data_range " +
                       std::to_string(o.data_range) + ", max_scales " + std::to_string(o.max_scales));
    IMBDEF_REQUIRE(std::min(h, w) >= o.window, where, "images of at least the window, " + std::to_string(o.window) + " px",
                   std::to_string(h) + " x " + std::to_string(w));
    int s = 1;
    while (s < o.max_scales && (std::min(h, w) >> s) >= o.window) ++s;
    return s;
}

// A set of images [N, C, H, W] prepared for many MS-SSIM evaluations: the pyramid, G*x and G*x^2
// of every plane are computed once, so a pair costs one product and one filtering per scale.
class ms_ssim_set {
public:
    explicit ms_ssim_set(core::const_view<float> images, const ms_ssim_options& o = {}) : options_(o) {
        IMBDEF_REQUIRE(images.rank() == 4, "metrics::ms_ssim", "images of shape [N, C, H, W]",
                       "shape " + images.shape().to_string());
        n_ = images.size(0);
        c_ = images.size(1);
        scales_ = ms_ssim_scales(images.size(2), images.size(3), o);
        double total = 0;
        for (int s = 0; s < scales_; ++s) total += ms_ssim_weights[static_cast<std::size_t>(s)];
        for (int s = 0; s < scales_; ++s) weights_[static_cast<std::size_t>(s)] = ms_ssim_weights[static_cast<std::size_t>(s)] / total;
        taps_.resize(static_cast<std::size_t>(o.window));
        double tap_sum = 0;
        for (int i = 0; i < o.window; ++i) {
            const double t = i - (o.window - 1) / 2.0;
            taps_[static_cast<std::size_t>(i)] = std::exp(-t * t / (2 * o.sigma * o.sigma));
            tap_sum += taps_[static_cast<std::size_t>(i)];
        }
        for (double& t : taps_) t /= tap_sum;
        core::index_t h = images.size(2), w = images.size(3);
        for (int s = 0; s < scales_; ++s) {
            heights_[static_cast<std::size_t>(s)] = h;
            widths_[static_cast<std::size_t>(s)] = w;
            h /= 2;
            w /= 2;
        }
        planes_.resize(static_cast<std::size_t>(n_ * c_));
        core::parallel_for(0, n_ * c_, 1, [&](core::index_t lo, core::index_t hi) {
            std::vector<double> sq, tmp;
            for (core::index_t p = lo; p < hi; ++p) {
                auto& plane = planes_[static_cast<std::size_t>(p)];
                const core::index_t h0 = heights_[0], w0 = widths_[0];
                plane.pixels[0].resize(static_cast<std::size_t>(h0 * w0));
                for (core::index_t i = 0; i < h0 * w0; ++i) plane.pixels[0][static_cast<std::size_t>(i)] = images[p * h0 * w0 + i];
                for (int s = 0; s < scales_; ++s) {
                    const auto k = static_cast<std::size_t>(s);
                    if (s > 0) downsample(plane.pixels[k - 1], heights_[k - 1], widths_[k - 1], plane.pixels[k]);
                    const auto& x = plane.pixels[k];
                    sq.resize(x.size());
                    for (std::size_t i = 0; i < x.size(); ++i) sq[i] = x[i] * x[i];
                    filter(x, heights_[k], widths_[k], tmp, plane.mean[k]);
                    filter(sq, heights_[k], widths_[k], tmp, plane.square[k]);
                }
            }
        });
    }

    core::index_t size() const noexcept { return n_; }
    int scales() const noexcept { return scales_; }

    // MS-SSIM between image i of this set and image j of `other`, which must have the same image
    // shape and options.
    double between(core::index_t i, const ms_ssim_set& other, core::index_t j) const {
        constexpr const char* where = "metrics::ms_ssim_set::between";
        IMBDEF_REQUIRE(other.c_ == c_ && other.heights_[0] == heights_[0] && other.widths_[0] == widths_[0] &&
                           other.scales_ == scales_ && other.taps_ == taps_ && same_constants(other),
                       where, "two sets of one image shape and options",
                       "[" + std::to_string(c_) + ", " + std::to_string(heights_[0]) + ", " + std::to_string(widths_[0]) +
                           "] and [" + std::to_string(other.c_) + ", " + std::to_string(other.heights_[0]) + ", " +
                           std::to_string(other.widths_[0]) + "]");
        IMBDEF_REQUIRE(i >= 0 && i < n_ && j >= 0 && j < other.n_, where,
                       "indices below " + std::to_string(n_) + " and " + std::to_string(other.n_),
                       std::to_string(i) + " and " + std::to_string(j));
        const double c1 = square(options_.k1 * options_.data_range), c2 = square(options_.k2 * options_.data_range);
        std::vector<double> product, tmp, cross;
        double total = 0;
        for (core::index_t ch = 0; ch < c_; ++ch) {
            const auto& a = planes_[static_cast<std::size_t>(i * c_ + ch)];
            const auto& b = other.planes_[static_cast<std::size_t>(j * c_ + ch)];
            double value = 1;
            for (int s = 0; s < scales_; ++s) {
                const auto k = static_cast<std::size_t>(s);
                const auto& x = a.pixels[k];
                const auto& y = b.pixels[k];
                product.resize(x.size());
                for (std::size_t p = 0; p < x.size(); ++p) product[p] = x[p] * y[p];
                filter(product, heights_[k], widths_[k], tmp, cross);
                const bool last = s == scales_ - 1;
                double sum = 0;
                for (std::size_t p = 0; p < cross.size(); ++p) {
                    // The two sides in a canonical order, so that (x, y) and (y, x) run the same
                    // arithmetic whatever multiply-add contraction the compiler applies.
                    double mx = a.mean[k][p], my = b.mean[k][p], ex = a.square[k][p], ey = b.square[k][p];
                    if (mx > my || (mx == my && ex > ey)) {
                        std::swap(mx, my);
                        std::swap(ex, ey);
                    }
                    const double vx = ex - mx * mx, vy = ey - my * my, cxy = cross[p] - mx * my;
                    double term = (2 * cxy + c2) / (vx + vy + c2);
                    if (last) term *= (2 * mx * my + c1) / (mx * mx + my * my + c1);
                    sum += term;
                }
                value *= std::pow(std::max(sum / static_cast<double>(cross.size()), 0.0), weights_[k]);
            }
            total += value;
        }
        return total / static_cast<double>(c_);
    }

private:
    struct plane_pyramid {
        std::array<std::vector<double>, 5> pixels, mean, square;
    };

    static double square(double v) { return v * v; }

    bool same_constants(const ms_ssim_set& o) const {
        return o.options_.k1 == options_.k1 && o.options_.k2 == options_.k2 && o.options_.data_range == options_.data_range;
    }

    static void downsample(const std::vector<double>& x, core::index_t h, core::index_t w, std::vector<double>& out) {
        const core::index_t h2 = h / 2, w2 = w / 2;
        out.resize(static_cast<std::size_t>(h2 * w2));
        for (core::index_t y = 0; y < h2; ++y)
            for (core::index_t xx = 0; xx < w2; ++xx) {
                const auto at = [&](core::index_t yy, core::index_t xc) { return x[static_cast<std::size_t>(yy * w + xc)]; };
                out[static_cast<std::size_t>(y * w2 + xx)] =
                    0.25 * (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) + at(2 * y + 1, 2 * xx + 1));
            }
    }

    // Separable valid Gaussian filtering of an h x w plane: out is (h - K + 1) x (w - K + 1).
    void filter(const std::vector<double>& x, core::index_t h, core::index_t w, std::vector<double>& tmp,
                std::vector<double>& out) const {
        const auto k = static_cast<core::index_t>(taps_.size());
        const core::index_t oh = h - k + 1, ow = w - k + 1;
        tmp.assign(static_cast<std::size_t>(h * ow), 0.0);
        for (core::index_t y = 0; y < h; ++y)
            for (core::index_t xx = 0; xx < ow; ++xx) {
                double s = 0;
                for (core::index_t t = 0; t < k; ++t) s += taps_[static_cast<std::size_t>(t)] * x[static_cast<std::size_t>(y * w + xx + t)];
                tmp[static_cast<std::size_t>(y * ow + xx)] = s;
            }
        out.assign(static_cast<std::size_t>(oh * ow), 0.0);
        for (core::index_t y = 0; y < oh; ++y)
            for (core::index_t t = 0; t < k; ++t) {
                const double tap = taps_[static_cast<std::size_t>(t)];
                for (core::index_t xx = 0; xx < ow; ++xx)
                    out[static_cast<std::size_t>(y * ow + xx)] += tap * tmp[static_cast<std::size_t>((y + t) * ow + xx)];
            }
    }

    ms_ssim_options options_;
    core::index_t n_ = 0, c_ = 0;
    int scales_ = 0;
    std::array<double, 5> weights_{};
    std::array<core::index_t, 5> heights_{}, widths_{};
    std::vector<double> taps_;
    std::vector<plane_pyramid> planes_;
};

// MS-SSIM of each pair (x[i], y[i]) of two image sets of one shape [N, C, H, W].
inline std::vector<double> ms_ssim(core::const_view<float> x, core::const_view<float> y, const ms_ssim_options& o = {}) {
    IMBDEF_REQUIRE(x.rank() == 4 && x.shape() == y.shape(), "metrics::ms_ssim", "two image sets of one shape [N, C, H, W]",
                   x.shape().to_string() + " and " + y.shape().to_string());
    const ms_ssim_set a(x, o), b(y, o);
    std::vector<double> out(static_cast<std::size_t>(a.size()));
    core::parallel_for(0, a.size(), 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t i = lo; i < hi; ++i) out[static_cast<std::size_t>(i)] = a.between(i, b, i);
    });
    return out;
}

}  // namespace imbdef::metrics
