#pragma once
// Per-layer cost of the networks, for `imbdef info` and for FLOP/s figures in benchmarks:
// parameters (from the schedules) and multiply-accumulates per image of the forward pass, counted
// as reference/stylegan3.md section 8 does (polyphase separable filters, the discriminator's
// 4x4 FIR as a full 2-D filter). One MAC is two FLOPs. From the same tables, the MACs of whole
// training steps of both stages, pass by pass (train_step_cost below), for the training benchmarks.

#include <cstdint>
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

// The image discriminator, or with mask_extra_channels > 0 the stage-2 matching discriminator
// (models/matching_discriminator.hpp): each block's conv0 and skip then read the injected mask
// too (e channels more), the mask pyramid is a 2x2 mean per level, and with num_classes > 1 the
// class projection adds one dot product of the epilogue's width.
inline std::vector<layer_cost> discriminator_costs(const discriminator_schedule& s, int in_channels, int mbstd_channels = 1,
                                                   int mask_extra_channels = 0, int num_classes = 1) {
    std::vector<layer_cost> out;
    const double extra = mask_extra_channels;
    for (const auto& b : s.blocks) {
        const double r = b.resolution, t = b.in_channels, o = b.out_channels;
        layer_cost c{"b" + std::to_string(b.resolution),
                     std::to_string(b.in_channels) + (mask_extra_channels ? "(+" + std::to_string(mask_extra_channels) + ")" : "") +
                         "->" + std::to_string(b.out_channels) + ", " + std::to_string(b.resolution) + "^2"};
        c.params = b.parameter_count(in_channels) + static_cast<long long>(mask_extra_channels) * (9 * b.in_channels + b.out_channels);
        c.mac_conv = r * r * (t + extra) * t * 9 + (r / 2) * (r / 2) * o * t * 9 + (r / 2) * (r / 2) * (t + extra) * o +
                     (b.has_fromrgb ? r * r * in_channels * t : 0.0);
        c.mac_filter = (r + 1) * (r + 1) * t * 16 + (r / 2) * (r / 2) * (t + extra) * 16;
        if (mask_extra_channels && !b.has_fromrgb) c.mac_filter += 6 * r * r;  // this block's mask level: separable 2x2 mean
        out.push_back(c);
    }
    const double ch = s.epilogue_channels;
    layer_cost e{"b4 epilogue", std::to_string(s.epilogue_channels) + "(+" + std::to_string(mbstd_channels) + ")->" +
                                    std::to_string(s.epilogue_channels) + "->1"};
    e.params = s.epilogue_parameter_count(mbstd_channels);
    e.mac_conv = 16 * (ch + mbstd_channels) * ch * 9 + 16 * ch * ch + ch;
    if (num_classes > 1) {
        e.params += static_cast<long long>(num_classes) * s.epilogue_channels;
        e.mac_other = ch;
    }
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

// ---- Training steps ----
//
// The MACs of one pass of a network over one image, split by what a backward pass computes:
//   forward  every row's MACs;
//   data     the input gradient: every op's adjoint (transposed conv, transposed FIR, transposed
//            dense product) costs what the op costs forward, so data = forward;
//   weight   the parameter gradient: only rows with trained parameters have one, and there only
//            the convolutions and dense products (one wgrad GEMM each, as many MACs as their
//            forward); FIR filters and frozen rows (params == 0) have none.
// So backward = 2 x forward for a trained conv and 1 x forward for a filter or a frozen layer.
// The parameter gradient of a pass needs the data gradients of every layer above the first, so a
// discriminator pass with parameter gradients and no input gradient still pays `data`, less its
// first 1x1 fromrgb conv's (under 1% of a block: not subtracted).
struct pass_macs {
    double forward = 0, data = 0, weight = 0;
};

inline pass_macs pass_macs_of(const std::vector<layer_cost>& rows) {
    pass_macs p;
    for (const auto& r : rows) {
        p.forward += r.mac_total();
        if (r.params > 0) p.weight += r.mac_conv + r.mac_other;
    }
    p.data = p.forward;
    return p;
}

inline pass_macs operator+(const pass_macs& a, const pass_macs& b) {
    return {a.forward + b.forward, a.data + b.data, a.weight + b.weight};
}

// What a pass of one network costs, by the gradients it asks for.
inline double forward_macs(const pass_macs& p) { return p.forward; }
inline double input_gradient_macs(const pass_macs& p) { return p.forward + p.data; }           // G main's D passes
inline double parameter_gradient_macs(const pass_macs& p) { return p.forward + p.data + p.weight; }  // D main, G main's G
// Exact R1 by forward-over-reverse (policies/r1_penalty.hpp): forward, backward for g (data
// only), tangent forward (each linear op on the tangent: one forward), tangent backward (the
// first-order dx again, dx_dot, and the weight-gradient tangent dy_dot x^T + dy x_dot^T: two
// wgrads): 2 forward + 3 data + 2 weight.
inline double r1_exact_macs(const pass_macs& p) { return 2 * p.forward + 3 * p.data + 2 * p.weight; }

// One network pass of a training step, per image: `macs` each time it runs, every `every`-th step
// (1: every step; the lazy R1 interval for D reg).
struct step_pass {
    std::string phase, what;
    double macs = 0;
    int every = 1;
    double amortized() const { return macs / every; }
};

// A training step's cost per image, pass by pass. Not counted (each below 0.1% of a cpu64 step):
// ADA's transforms and their adjoints (per-pixel resampling, no MACs in the reference's count),
// the soft mask's tanh and the pairs' copies, the losses (softplus per logit; stage 2's ESL, two
// 3x3 Sobel filters and a difference per mask pixel, and RCL, a product per mask pixel), Adam and
// the EMA (a few FLOPs per parameter per step, not per image).
struct train_step_cost {
    std::vector<step_pass> passes;
    // MACs per image of a step without the lazy passes, and of the lazy passes when they run.
    double every_step_macs() const {
        double m = 0;
        for (const auto& p : passes)
            if (p.every == 1) m += p.macs;
        return m;
    }
    double lazy_macs() const {
        double m = 0;
        for (const auto& p : passes)
            if (p.every != 1) m += p.macs;
        return m;
    }
    // Averaged over whole multiples of the lazy interval.
    double macs_per_image() const {
        double m = 0;
        for (const auto& p : passes) m += p.amortized();
        return m;
    }
    // Over a window of `steps` steps of which `lazy_runs` ran the lazy passes.
    double macs_per_image(std::int64_t steps, std::int64_t lazy_runs) const {
        return static_cast<double>(steps) * every_step_macs() + static_cast<double>(lazy_runs) * lazy_macs();
    }
};

// Stage 1 (train/background_trainer.hpp), per image of the batch:
//   G main  G forward; D_img and D_match forward with their input gradient (fakes); G backward,
//           data and parameter gradients
//   D main  G forward; D_img and D_match forward and backward with parameter gradients, on the
//           fakes and on the reals
//   D reg   every r1_interval steps, exact R1 on the reals for D_img and D_match
// g: generator_costs; d_img, d_match: discriminator_costs of the two discriminators.
inline train_step_cost background_train_step_cost(const std::vector<layer_cost>& g, const std::vector<layer_cost>& d_img,
                                                  const std::vector<layer_cost>& d_match, int r1_interval) {
    const pass_macs G = pass_macs_of(g), Di = pass_macs_of(d_img), Dm = pass_macs_of(d_match);
    return {{{"G main", "G forward and backward (data + parameters)", parameter_gradient_macs(G)},
             {"G main", "D_img forward + input gradient (fakes)", input_gradient_macs(Di)},
             {"G main", "D_match forward + input gradient (fakes)", input_gradient_macs(Dm)},
             {"D main", "G forward", forward_macs(G)},
             {"D main", "D_img forward + parameter gradient (fakes, reals)", 2 * parameter_gradient_macs(Di)},
             {"D main", "D_match forward + parameter gradient (fakes, reals)", 2 * parameter_gradient_macs(Dm)},
             {"D reg", "D_img exact R1 (reals)", r1_exact_macs(Di), r1_interval},
             {"D reg", "D_match exact R1 (reals)", r1_exact_macs(Dm), r1_interval}}};
}

// Stage 2 (train/defect_trainer.hpp), per image of the batch, one defect pass per image:
//   G main  G forward (the whole background pass, then the defect path); D_img and D_match
//           forward with their input gradient (fakes); G backward: the defect path's data
//           gradients (branch, to-mask, mask resampling, blends, the frozen layers re-run after
//           the start and to-RGB) and the trained rows' parameter gradients; the frozen
//           background pass gets no backward
//   D main  G forward; D_img on fakes and reals, D_match on fakes, reals and the shuffled-mask
//           negatives, forward and backward with parameter gradients
//   D reg   every r1_interval steps, exact R1 on the real pairs for D_img and D_match
// background: generator_costs; defect: defect_path_costs; d_img: discriminator_costs;
// d_match: discriminator_costs with the mask injection's extra channels and the classes.
inline train_step_cost defect_train_step_cost(const std::vector<layer_cost>& background, const std::vector<layer_cost>& defect,
                                              const std::vector<layer_cost>& d_img, const std::vector<layer_cost>& d_match,
                                              int r1_interval) {
    const pass_macs B = pass_macs_of(background), P = pass_macs_of(defect), Di = pass_macs_of(d_img), Dm = pass_macs_of(d_match);
    return {{{"G main", "G forward (background pass + defect path)", B.forward + P.forward},
             {"G main", "G backward (defect path: data + trained parameters)", P.data + P.weight},
             {"G main", "D_img forward + input gradient (fakes)", input_gradient_macs(Di)},
             {"G main", "D_match forward + input gradient (fakes)", input_gradient_macs(Dm)},
             {"D main", "G forward (background pass + defect path)", B.forward + P.forward},
             {"D main", "D_img forward + parameter gradient (fakes, reals)", 2 * parameter_gradient_macs(Di)},
             {"D main", "D_match forward + parameter gradient (fakes, reals, shuffled masks)", 3 * parameter_gradient_macs(Dm)},
             {"D reg", "D_img exact R1 (real pairs)", r1_exact_macs(Di), r1_interval},
             {"D reg", "D_match exact R1 (real pairs)", r1_exact_macs(Dm), r1_interval}}};
}

}  // namespace imbdef::models
