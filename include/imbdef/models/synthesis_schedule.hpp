#pragma once
// The per-layer schedule of StyleGAN3's synthesis network (reference/stylegan3.md section 3.1 and
// 3.5): cutoffs, stopbands, sampling rates, sizes, channel counts, resampling factors, filter
// lengths and paddings, computed from a handful of inputs. The presets change only the inputs.
//
// Exactness: for some configurations 2 * f_t lands exactly on a power of two in real arithmetic
// (T-256, layer 9: 2^7). A log2 one ulp too large would double that layer's sampling rate, so
// log2 is snapped to the nearest integer when within 1e-9 before the ceiling, and paddings use
// floor division (Python's //), not C++'s truncation.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../nn/synthesis_layer_spec.hpp"

namespace imbdef::models {

struct synthesis_config {
    int resolution = 256;          // R: output size in pixels (a power of two)
    int image_channels = 3;        // channels of the output image (plus mask_channels)
    int mask_channels = 0;         // extra output channels (1: the valid-region mask logit)
    int channel_base = 32768;      // cbase
    int channel_max = 512;         // cmax
    int num_layers = 14;           // N: synthesis layers before the to-RGB layer
    int num_critical = 2;          // Nc: critically sampled layers at the end
    int margin = 10;               // pixels added on each side of non-final layers
    double first_cutoff = 2.0;     // f_c[0]
    double first_stopband = std::pow(2.0, 2.1);
    double last_stopband_rel = std::pow(2.0, 0.3);
    int conv_kernel = 3;           // 3 for config T, 1 for config R
    bool radial_filters = false;   // config R: radial (jinc) down filters in non-critical layers
    int filter_size = 6;           // taps per unit of up/down factor
    int lrelu_upsampling = 2;
};

// The specs the schedule computes are nn's types (nn::synthesis_layer is configured by one, and nn
// may not include models); these are their names here.
using layer_spec = nn::synthesis_layer_spec;
using input_spec = nn::synthesis_input_spec;

struct synthesis_schedule {
    input_spec input;
    std::vector<layer_spec> layers;  // L_0 .. L_N
};

namespace detail {
// Python's // for integers.
constexpr int floor_div(int a, int b) noexcept { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

inline double snapped_log2(double x) {
    const double l = std::log2(x);
    const double r = std::round(l);
    return std::abs(l - r) < 1e-9 ? r : l;
}
}  // namespace detail

inline synthesis_schedule make_synthesis_schedule(const synthesis_config& c) {
    const std::string where = "models::make_synthesis_schedule";
    IMBDEF_REQUIRE(c.resolution >= 8 && (c.resolution & (c.resolution - 1)) == 0, where,
                   "a power-of-two resolution of at least 8", std::to_string(c.resolution));
    IMBDEF_REQUIRE(c.num_layers >= 2 && c.num_critical >= 1 && c.num_critical < c.num_layers, where,
                   "num_layers >= 2 and 1 <= num_critical < num_layers",
                   std::to_string(c.num_layers) + " layers, " + std::to_string(c.num_critical) + " critical");
    IMBDEF_REQUIRE(c.channel_base > 0 && c.channel_max > 0 && c.image_channels > 0 && c.mask_channels >= 0, where,
                   "positive channel base, channel max and image channels",
                   std::to_string(c.channel_base) + ", " + std::to_string(c.channel_max) + ", " +
                       std::to_string(c.image_channels));
    IMBDEF_REQUIRE(c.conv_kernel == 1 || c.conv_kernel == 3, where, "a conv kernel of 1 or 3", std::to_string(c.conv_kernel));

    const int n = c.num_layers;
    const double R = c.resolution;
    const double last_cutoff = R / 2;
    const double last_stopband = last_cutoff * c.last_stopband_rel;
    std::vector<double> fc(n + 1), ft(n + 1), sr(n + 1), fh(n + 1);
    std::vector<int> size(n + 1), ch(n + 1);
    for (int i = 0; i <= n; ++i) {
        const double e = std::min(static_cast<double>(i) / (n - c.num_critical), 1.0);
        fc[i] = c.first_cutoff * std::pow(last_cutoff / c.first_cutoff, e);
        ft[i] = c.first_stopband * std::pow(last_stopband / c.first_stopband, e);
        sr[i] = std::exp2(std::ceil(detail::snapped_log2(std::min(2 * ft[i], R))));
        fh[i] = std::max(ft[i], sr[i] / 2) - fc[i];
        size[i] = static_cast<int>(sr[i]) + 2 * c.margin;
        ch[i] = static_cast<int>(std::nearbyint(std::min((c.channel_base / 2.0) / fc[i], static_cast<double>(c.channel_max))));
    }
    size[n - 1] = size[n] = c.resolution;
    ch[n] = c.image_channels + c.mask_channels;

    synthesis_schedule s;
    s.input = {ch[0], size[0], sr[0], fc[0]};
    for (int i = 0; i <= n; ++i) {
        const int prev = std::max(i - 1, 0);
        layer_spec L;
        L.index = i;
        L.is_torgb = i == n;
        L.is_critically_sampled = i >= n - c.num_critical;
        L.in_channels = ch[prev];
        L.out_channels = ch[i];
        L.kernel = L.is_torgb ? 1 : c.conv_kernel;
        L.in_size = size[prev];
        L.out_size = size[i];
        L.in_sampling_rate = sr[prev];
        L.out_sampling_rate = sr[i];
        L.tmp_sampling_rate = std::max(sr[prev], sr[i]) * (L.is_torgb ? 1 : c.lrelu_upsampling);
        L.up = static_cast<int>(std::lround(L.tmp_sampling_rate / sr[prev]));
        L.down = static_cast<int>(std::lround(L.tmp_sampling_rate / sr[i]));
        L.up_taps = L.up > 1 && !L.is_torgb ? c.filter_size * L.up : 1;
        L.down_taps = L.down > 1 && !L.is_torgb ? c.filter_size * L.down : 1;
        L.in_cutoff = fc[prev];
        L.out_cutoff = fc[i];
        L.in_half_width = fh[prev];
        L.out_half_width = fh[i];
        L.out_stopband = ft[i];
        L.radial_down_filter = c.radial_filters && !L.is_critically_sampled;
        L.conv_size = L.in_size + L.kernel - 1;
        const int pad_total =
            (L.out_size - 1) * L.down + 1 - L.conv_size * L.up + L.up_taps + L.down_taps - 2;
        L.pad_lo = detail::floor_div(pad_total + L.up, 2);
        L.pad_hi = pad_total - L.pad_lo;
        L.up_size = L.conv_size * L.up + pad_total - (L.up_taps - 1);
        s.layers.push_back(L);
    }
    return s;
}

}  // namespace imbdef::models
