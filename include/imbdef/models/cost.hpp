#pragma once
// Per-layer cost of the networks, for `imbdef info` and for FLOP/s figures in benchmarks:
// parameters (from the schedules) and multiply-accumulates per image of the forward pass, counted
// as reference/stylegan3.md section 8 does (polyphase separable filters, the discriminator's
// 4x4 FIR as a full 2-D filter). One MAC is two FLOPs.

#include <string>
#include <vector>

#include "discriminator_schedule.hpp"
#include "synthesis_schedule.hpp"

namespace imbdef::models {

struct layer_cost {
    std::string name;
    std::string shape;  // a human-readable summary: channels and sizes
    long long params = 0;
    double mac_conv = 0, mac_filter = 0, mac_other = 0;
    double mac_total() const { return mac_conv + mac_filter + mac_other; }
};

// The up and down FIR filters of layer L on `channels` planes (polyphase, separable).
inline double resampling_macs(const layer_spec& L, double channels) {
    double m = 0;
    if (L.up_taps > 1)
        m += channels * (static_cast<double>(L.conv_size) * L.up_size + static_cast<double>(L.up_size) * L.up_size) *
             (static_cast<double>(L.up_taps) / L.up);
    if (L.down_taps > 1)
        m += channels * (static_cast<double>(L.up_size) * L.out_size + static_cast<double>(L.out_size) * L.out_size) * L.down_taps;
    return m;
}

// One synthesis layer: modulated conv, its up/down filters, the affine and the weight
// (de)modulation.
inline layer_cost synthesis_layer_cost(const layer_spec& L, int w_dim) {
    layer_cost c{(L.is_torgb ? "L" + std::to_string(L.index) + " to-RGB" : "L" + std::to_string(L.index)),
                 std::to_string(L.in_channels) + "->" + std::to_string(L.out_channels) + ", " +
                     std::to_string(L.in_size) + "->" + std::to_string(L.conv_size) + "->" + std::to_string(L.up_size) +
                     "->" + std::to_string(L.out_size) + ", up " + std::to_string(L.up) + " down " + std::to_string(L.down)};
    c.params = L.parameter_count(w_dim);
    const double k2 = static_cast<double>(L.kernel) * L.kernel, co = L.out_channels, ci = L.in_channels;
    c.mac_conv = static_cast<double>(L.conv_size) * L.conv_size * co * ci * k2;
    c.mac_filter = resampling_macs(L, co);
    c.mac_other = static_cast<double>(w_dim) * ci + 2 * co * ci * k2;
    return c;
}

inline std::vector<layer_cost> generator_costs(const synthesis_schedule& s, int z_dim, int w_dim, int mapping_layers = 2) {
    std::vector<layer_cost> out;
    layer_cost mapping{"mapping", std::to_string(mapping_layers) + " x FC " + std::to_string(w_dim)};
    for (int i = 0; i < mapping_layers; ++i) {
        const long long in = i == 0 ? z_dim : w_dim;
        mapping.params += in * w_dim + w_dim;
        mapping.mac_other += static_cast<double>(in) * w_dim;
    }
    out.push_back(mapping);
    const double c0 = s.input.channels, size0 = s.input.size;
    layer_cost input{"input", "Fourier " + std::to_string(s.input.channels) + " x " + std::to_string(s.input.size) + "^2"};
    input.params = 4LL * w_dim + 4 + static_cast<long long>(c0 * c0);
    input.mac_conv = size0 * size0 * c0 * c0;
    input.mac_other = size0 * size0 * c0 + 4.0 * w_dim;
    out.push_back(input);
    for (const auto& L : s.layers) out.push_back(synthesis_layer_cost(L, w_dim));
    return out;
}

inline std::vector<layer_cost> discriminator_costs(const discriminator_schedule& s, int in_channels, int mbstd_channels = 1) {
    std::vector<layer_cost> out;
    for (const auto& b : s.blocks) {
        const double r = b.resolution, t = b.in_channels, o = b.out_channels;
        layer_cost c{"b" + std::to_string(b.resolution),
                     std::to_string(b.in_channels) + "->" + std::to_string(b.out_channels) + ", " + std::to_string(b.resolution) + "^2"};
        c.params = b.parameter_count(in_channels);
        c.mac_conv = r * r * t * t * 9 + (r / 2) * (r / 2) * o * t * 9 + (r / 2) * (r / 2) * t * o +
                     (b.has_fromrgb ? r * r * in_channels * t : 0.0);
        c.mac_filter = (r + 1) * (r + 1) * t * 16 + (r / 2) * (r / 2) * t * 16;
        out.push_back(c);
    }
    const double ch = s.epilogue_channels;
    layer_cost e{"b4 epilogue", std::to_string(s.epilogue_channels) + "(+" + std::to_string(mbstd_channels) + ")->" +
                                    std::to_string(s.epilogue_channels) + "->1"};
    e.params = s.epilogue_parameter_count(mbstd_channels);
    e.mac_conv = 16 * (ch + mbstd_channels) * ch * 9 + 16 * ch * ch + ch;
    out.push_back(e);
    return out;
}

// What the defect path adds to the background pass (models/defect_generator.hpp), per image and
// per defect pass: the defect mapping (and class embedding), one branch layer per backbone layer
// from `start` on, the to-mask conv, the mask's resampling, the blends, and the backbone layers
// from `start + 1` on (to-RGB included) run again on the blended features. Frozen layers count
// no parameters: they are the background generator's.
inline std::vector<layer_cost> defect_path_costs(const synthesis_schedule& s, int start, int z_dim, int w_dim,
                                                 int num_classes = 1, int mapping_layers = 2) {
    std::vector<layer_cost> out;
    layer_cost mapping{"defect mapping", std::to_string(mapping_layers) + " x FC " + std::to_string(w_dim) +
                                             (num_classes > 1 ? ", embed " + std::to_string(num_classes) + " classes" : "")};
    const long long in0 = z_dim + (num_classes > 1 ? w_dim : 0);
    if (num_classes > 1) {
        mapping.params += static_cast<long long>(num_classes) * w_dim + w_dim;
        mapping.mac_other += static_cast<double>(num_classes) * w_dim;
    }
    for (int i = 0; i < mapping_layers; ++i) {
        const long long in = i == 0 ? in0 : w_dim;
        mapping.params += in * w_dim + w_dim;
        mapping.mac_other += static_cast<double>(in) * w_dim;
    }
    out.push_back(mapping);
    for (const auto& L : s.layers) {
        if (L.index < start || L.is_torgb) continue;
        layer_cost b = synthesis_layer_cost(L, w_dim);
        b.name = "branch L" + std::to_string(L.index);
        out.push_back(b);
        if (L.index == start) {
            const double size = L.out_size, c = L.out_channels;
            layer_cost m{"to-mask", std::to_string(L.out_channels) + "->1, " + std::to_string(L.out_size) + "^2"};
            m.params = static_cast<long long>(w_dim) * L.out_channels + L.out_channels + 1 + 1;
            m.mac_conv = size * size * c;
            m.mac_other = static_cast<double>(w_dim) * c + 2 * c;
            out.push_back(m);
        } else {
            layer_cost r{"mask L" + std::to_string(L.index), "1 plane, " + std::to_string(L.in_size) + "->" + std::to_string(L.out_size)};
            r.mac_filter = resampling_macs(L, 1.0);
            out.push_back(r);
        }
        layer_cost blend{"blend L" + std::to_string(L.index), std::to_string(L.out_channels) + " x " + std::to_string(L.out_size) + "^2"};
        blend.mac_other = 2.0 * L.out_channels * L.out_size * L.out_size;
        out.push_back(blend);
    }
    for (const auto& L : s.layers) {
        if (L.index <= start) continue;
        layer_cost again = synthesis_layer_cost(L, w_dim);
        again.name = "again " + again.name;
        again.params = 0;
        out.push_back(again);
    }
    return out;
}

inline layer_cost total_cost(const std::vector<layer_cost>& layers) {
    layer_cost t{"total", ""};
    for (const auto& l : layers) {
        t.params += l.params;
        t.mac_conv += l.mac_conv;
        t.mac_filter += l.mac_filter;
        t.mac_other += l.mac_other;
    }
    return t;
}

}  // namespace imbdef::models
