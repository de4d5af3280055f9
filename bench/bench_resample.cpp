// Benchmarks of the resample family at the layer shapes of the cpu64 and lite128 presets
// (reference/stylegan3.md sections 8b and 11), batch 8, on the library's thread pool.
//
// Names: <op>_<fwd|bwd>/<preset>_<layer> (image filters: <op>_<fwd|bwd>/<shape>). FLOP/s counts the multiply-adds a polyphase separable
// implementation needs (2 FLOP each, the convention of reference section 8); bytes/s the tensors
// read and written once. bench/compare/resample_vs_torch.py runs this binary and PyTorch side by
// side.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/filtered_lrelu.hpp>
#include <imbdef/ops/fir.hpp>
#include <imbdef/ops/image_filters.hpp>
#include <imbdef/ops/upfirdn2d.hpp>

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;

namespace {

constexpr index_t batch = 8;

tensor<float> normal(const shape& s, std::uint64_t stream) {
    tensor<float> t(s, core::uninitialized);
    core::fill_normal<float>(t.view(), core::philox_stream{0xBE4C, stream}, 0, 0.0f, 1.0f);
    return t;
}

// A synthesis layer's filtered_lrelu: C channels, input (S_conv) size, up factor, filter taps, pads.
struct g_layer {
    std::string name;  // preset_layer
    index_t channels;
    index_t in;
    int up;
    index_t fu_taps;
    index_t fd_taps;
    index_t p0;
    index_t p1;
    bool torgb;
};

// cpu64: L0 (= L1), L2, L3, L4, L5 (margin crop), ToRGB; lite128: L0 (= L1), L2, L3, L4, L5, L6,
// L7 (margin crop), ToRGB.
const std::vector<g_layer>& g_layers() {
    static const std::vector<g_layer> layers = {
        {"cpu64_L0", 128, 38, 2, 12, 12, 9, 8, false},     {"cpu64_L2", 128, 38, 4, 24, 12, -6, -9, false},
        {"cpu64_L3", 128, 54, 4, 24, 12, -6, -9, false},   {"cpu64_L4", 64, 86, 2, 12, 12, 9, 8, false},
        {"cpu64_L5", 64, 86, 2, 12, 12, -11, -12, false},  {"cpu64_torgb", 3, 64, 1, 1, 1, 0, 0, true},
        {"lite128_L0", 256, 38, 2, 12, 12, 9, 8, false},   {"lite128_L2", 256, 38, 4, 24, 12, -6, -9, false},
        {"lite128_L3", 256, 54, 4, 24, 12, -6, -9, false}, {"lite128_L4", 203, 86, 2, 12, 12, 9, 8, false},
        {"lite128_L5", 114, 86, 4, 24, 12, -6, -9, false}, {"lite128_L6", 64, 150, 2, 12, 12, 9, 8, false},
        {"lite128_L7", 64, 150, 2, 12, 12, -11, -12, false}, {"lite128_torgb", 3, 128, 1, 1, 1, 0, 0, true},
    };
    return layers;
}

struct g_setup {
    tensor<float> x, fu, fd, b;
    ops::filtered_lrelu_params p;
};

g_setup setup(const g_layer& L) {
    g_setup s;
    s.x = normal(shape{batch, L.channels, L.in, L.in}, 1);
    s.b = normal(shape{L.channels}, 2);
    if (!L.torgb) {
        s.fu = ops::fir::lowpass<float>(L.fu_taps, 8.0, 12.0, 32.0 * L.up);
        s.fd = ops::fir::lowpass<float>(L.fd_taps, 8.0, 12.0, 64.0);
        s.p = {L.up, 2, L.p0, L.p1, L.p0, L.p1, std::sqrt(2.0), 0.2, 256.0, false};
    } else {
        s.p = {1, 1, 0, 0, 0, 0, 1.0, 1.0, 256.0, false};
    }
    return s;
}

// Multiply-adds of a separable polyphase stage and of the filtered_lrelu passes.
double stage_macs(index_t in_h, index_t out_h, index_t out_w, index_t taps, int up) {
    const double per = std::ceil(double(taps) / up);
    return double(in_h) * double(out_w) * per + double(out_h) * double(out_w) * per;
}

struct lrelu_costs {
    double fwd_macs, bwd_macs, fwd_bytes, bwd_bytes;
};

lrelu_costs costs(const g_layer& L, const ops::filtered_lrelu_geometry& g) {
    const double planes = double(batch * L.channels);
    const double up = planes * stage_macs(g.in_h, g.act_h, g.act_w, L.fu_taps, L.up);
    const double down = planes * stage_macs(g.act_h, g.out_h, g.out_w, L.fd_taps, 1);
    const double down_t = planes * stage_macs(g.out_h, g.act_h, g.act_w, L.fd_taps, 2);
    const double up_t = planes * stage_macs(g.act_h, g.in_h, g.in_w, L.fu_taps, 1);
    const double in = planes * double(g.in_h * g.in_w) * 4, out = planes * double(g.out_h * g.out_w) * 4;
    const double mask = planes * double(g.act_h * g.mask_row_bytes);
    return {up + down, down_t + up_t, in + out + mask, in + out + mask};
}

// What bench/compare/resample_vs_torch.py rebuilds the PyTorch computation from.
std::string label(const g_layer& L) {
    return "x=" + std::to_string(batch) + "," + std::to_string(L.channels) + "," + std::to_string(L.in) + "," +
           std::to_string(L.in) + " up=" + std::to_string(L.torgb ? 1 : L.up) + " down=" + std::to_string(L.torgb ? 1 : 2) +
           " fu=" + std::to_string(L.fu_taps) + " fd=" + std::to_string(L.fd_taps) + " pad=" + std::to_string(L.p0) + "," +
           std::to_string(L.p1) + " torgb=" + std::to_string(L.torgb ? 1 : 0);
}

void set_counters(benchmark::State& state, double macs, double bytes) {
    state.counters["FLOP/s"] = benchmark::Counter(2.0 * macs * double(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["bytes/s"] = benchmark::Counter(bytes * double(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["threads"] = core::num_threads();
}

void bm_filtered_lrelu_fwd(benchmark::State& state, const g_layer& L) {
    g_setup s = setup(L);
    const auto g = ops::filtered_lrelu_geometry_of(s.x.shape(), s.fu.shape(), s.fd.shape(), s.p);
    tensor<float> y(shape{batch, L.channels, g.out_h, g.out_w}, core::uninitialized);
    tensor<std::uint8_t> mask(ops::filtered_lrelu_mask_shape(s.x.shape(), s.fu.shape(), s.fd.shape(), s.p),
                              core::uninitialized);
    for (auto _ : state) {
        ops::filtered_lrelu<float>(s.x, s.fu, s.fd, s.b, y.view(), mask.view(), s.p);
        benchmark::DoNotOptimize(y.data());
    }
    const lrelu_costs c = costs(L, g);
    set_counters(state, c.fwd_macs, c.fwd_bytes);
    state.SetLabel(label(L));
}

void bm_filtered_lrelu_bwd(benchmark::State& state, const g_layer& L) {
    g_setup s = setup(L);
    const auto g = ops::filtered_lrelu_geometry_of(s.x.shape(), s.fu.shape(), s.fd.shape(), s.p);
    tensor<float> y(shape{batch, L.channels, g.out_h, g.out_w}, core::uninitialized);
    tensor<std::uint8_t> mask(ops::filtered_lrelu_mask_shape(s.x.shape(), s.fu.shape(), s.fd.shape(), s.p),
                              core::uninitialized);
    ops::filtered_lrelu<float>(s.x, s.fu, s.fd, s.b, y.view(), mask.view(), s.p);
    const tensor<float> dy = normal(y.shape(), 3);
    tensor<float> dx(s.x.shape(), core::uninitialized), db(s.b.shape(), core::uninitialized);
    for (auto _ : state) {
        ops::filtered_lrelu_backward<float>(s.x.shape(), s.fu, s.fd, mask, dy, dx.view(), db.view(), grad_mode::assign,
                                            grad_mode::assign, s.p);
        benchmark::DoNotOptimize(dx.data());
    }
    const lrelu_costs c = costs(L, g);
    set_counters(state, c.bwd_macs, c.bwd_bytes);
    state.SetLabel(label(L));
}

// upfirdn2d cases: the synthesis layers' up-FIR (up 2 / 4, gain up^2) and down-FIR (down 2), and
// the discriminator's 4 x 4 blur (pad 2) and skip downsample (down 2, pad 1).
struct u_case {
    std::string name;
    shape x;
    index_t taps;
    bool two_d;
    ops::upfirdn2d_params p;
};

const std::vector<u_case>& u_cases() {
    static const std::vector<u_case> cases = [] {
        std::vector<u_case> out;
        for (const g_layer& L : g_layers()) {
            if (L.torgb) continue;
            const double gain = double(L.up) * L.up;
            out.push_back({L.name + "_up", shape{batch, L.channels, L.in, L.in}, L.fu_taps, false,
                           ops::upfirdn2d_params::uniform(L.up, 1, L.p0, L.p1, L.p0, L.p1, gain)});
            const index_t act = L.in * L.up + L.p0 + L.p1 - L.fu_taps + 1;
            out.push_back({L.name + "_down", shape{batch, L.channels, act, act}, L.fd_taps, false,
                           ops::upfirdn2d_params::uniform(1, 2, 0, 0, 0, 0)});
        }
        // Discriminator blocks (channels at the block's resolution, cbase / res capped at cmax).
        const struct {
            const char* name;
            index_t c, res;
        } d[] = {{"cpu64_D_b64", 64, 64}, {"cpu64_D_b32", 128, 32}, {"lite128_D_b128", 64, 128},
                 {"lite128_D_b64", 128, 64}, {"lite128_D_b32", 256, 32}};
        for (const auto& b : d) {
            out.push_back({std::string(b.name) + "_blur", shape{batch, b.c, b.res, b.res}, 4, true,
                           ops::upfirdn2d_params::uniform(1, 1, 2, 2, 2, 2)});
            out.push_back({std::string(b.name) + "_skipdown", shape{batch, b.c, b.res, b.res}, 4, true,
                           ops::upfirdn2d_params::uniform(1, 2, 1, 1, 1, 1)});
        }
        return out;
    }();
    return cases;
}

tensor<float> u_filter(const u_case& c) {
    if (c.two_d) return ops::fir::setup_filter<float>({1.0, 3.0, 3.0, 1.0});
    return ops::fir::lowpass<float>(c.taps, 8.0, 12.0, 64.0);
}

std::string label(const u_case& c) {
    const auto& p = c.p;
    return "x=" + std::to_string(c.x[0]) + "," + std::to_string(c.x[1]) + "," + std::to_string(c.x[2]) + "," +
           std::to_string(c.x[3]) + " f=" + std::to_string(c.taps) + (c.two_d ? "x2d" : "") + " up=" + std::to_string(p.up_x) +
           " down=" + std::to_string(p.down_x) + " pad=" + std::to_string(p.pad_x0) + "," + std::to_string(p.pad_x1) + "," +
           std::to_string(p.pad_y0) + "," + std::to_string(p.pad_y1) + " gain=" + std::to_string(p.gain);
}

double u_macs(const u_case& c, const shape& y) {
    const double planes = double(c.x[0] * c.x[1]);
    if (c.two_d) return planes * double(y[2] * y[3]) * double(c.taps * c.taps) / (c.p.up_x * c.p.up_y);
    return planes * stage_macs(c.x[2], y[2], y[3], c.taps, c.p.up_x);
}

void bm_upfirdn2d_fwd(benchmark::State& state, const u_case& c) {
    const tensor<float> x = normal(c.x, 4), f = u_filter(c);
    tensor<float> y(ops::upfirdn2d_output_shape(c.x, f.shape(), c.p), core::uninitialized);
    for (auto _ : state) {
        ops::upfirdn2d<float>(x, f, y.view(), c.p);
        benchmark::DoNotOptimize(y.data());
    }
    set_counters(state, u_macs(c, y.shape()), 4.0 * double(x.numel() + y.numel()));
    state.SetLabel(label(c));
}

void bm_upfirdn2d_bwd(benchmark::State& state, const u_case& c) {
    const tensor<float> f = u_filter(c);
    const tensor<float> dy = normal(ops::upfirdn2d_output_shape(c.x, f.shape(), c.p), 5);
    tensor<float> dx(c.x, core::uninitialized);
    for (auto _ : state) {
        ops::upfirdn2d_backward<float>(dy, f, dx.view(), grad_mode::assign, c.p);
        benchmark::DoNotOptimize(dx.data());
    }
    set_counters(state, u_macs(c, dy.shape()), 4.0 * double(dx.numel() + dy.numel()));
    state.SetLabel(label(c));
}

// Image filters at the shapes the losses, PGDI and the metrics use: images of the two presets
// (64 and 128 px, 3 channels) and PGDI's feature maps (cpu64 L4: 64 ch at 84 px; lite128 L6:
// 64 ch at 148 px).
struct image_case {
    std::string name;
    shape x;
};

const std::vector<image_case>& image_cases() {
    static const std::vector<image_case> cases = {{"img64", shape{batch, 3, 64, 64}},
                                                  {"img128", shape{batch, 3, 128, 128}}};
    return cases;
}

const std::vector<image_case>& feature_cases() {
    static const std::vector<image_case> cases = {{"cpu64_L4", shape{batch, 64, 84, 84}},
                                                  {"lite128_L6", shape{batch, 64, 148, 148}}};
    return cases;
}

// Runs `fn` as the benchmark body; bytes/s counts `bytes` per call.
template <class Fn>
void image_bench(benchmark::State& state, double bytes, Fn&& fn) {
    for (auto _ : state) fn();
    state.counters["bytes/s"] = benchmark::Counter(bytes * double(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["threads"] = core::num_threads();
}

void register_image_filters() {
    auto reg = [](const std::string& name, auto fn) {
        benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMillisecond)->UseRealTime();
    };
    for (const image_case& c : image_cases()) {
        const double io = 4.0 * double(c.x.numel());
        reg("sobel_fwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 6);
            tensor<float> gx(c.x, core::uninitialized), gy(c.x, core::uninitialized);
            image_bench(st, 3 * io, [&] { ops::sobel<float>(x, gx.view(), gy.view()); });
        });
        reg("sobel_bwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> gx = normal(c.x, 7), gy = normal(c.x, 8);
            tensor<float> dx(c.x, core::uninitialized);
            image_bench(st, 3 * io, [&] { ops::sobel_backward<float>(gx, gy, dx.view(), grad_mode::assign); });
        });
        reg("sobel_magnitude_fwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 9);
            tensor<float> m(c.x, core::uninitialized);
            image_bench(st, 2 * io, [&] { ops::sobel_magnitude<float>(x, m.view()); });
        });
        reg("sobel_magnitude_bwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 10), dm = normal(c.x, 11);
            tensor<float> dx(c.x, core::uninitialized);
            image_bench(st, 3 * io, [&] { ops::sobel_magnitude_backward<float>(x, dm, dx.view(), grad_mode::assign); });
        });
        for (const double sigma : {2.0, 10.0}) {
            const std::string tag = "/" + c.name + "_sigma" + std::to_string(int(sigma));
            reg("exp2_blur_fwd" + tag, [c, io, sigma](benchmark::State& st) {
                const tensor<float> x = normal(c.x, 12);
                tensor<float> y(c.x, core::uninitialized);
                image_bench(st, 2 * io, [&] { ops::exp2_blur<float>(x, y.view(), sigma); });
            });
            reg("exp2_blur_bwd" + tag, [c, io, sigma](benchmark::State& st) {
                const tensor<float> dy = normal(c.x, 13);
                tensor<float> dx(c.x, core::uninitialized);
                image_bench(st, 2 * io, [&] { ops::exp2_blur_backward<float>(dy, dx.view(), grad_mode::assign, sigma); });
            });
        }
        reg("gaussian_blur_fwd/" + c.name + "_sigma1.5", [c, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 14);
            tensor<float> y(c.x, core::uninitialized);
            image_bench(st, 2 * io, [&] { ops::gaussian_blur<float>(x, y.view(), 1.5); });
        });
        // Resize: area down by 2, bicubic up by 2.
        const shape half{c.x[0], c.x[1], c.x[2] / 2, c.x[3] / 2}, twice{c.x[0], c.x[1], 2 * c.x[2], 2 * c.x[3]};
        reg("resize_fwd/" + c.name + "_area_half", [c, half, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 15);
            tensor<float> y(half, core::uninitialized);
            image_bench(st, 1.25 * io, [&] { ops::resize<float>(x, y.view()); });
        });
        reg("resize_bwd/" + c.name + "_area_half", [c, half, io](benchmark::State& st) {
            const tensor<float> dy = normal(half, 16);
            tensor<float> dx(c.x, core::uninitialized);
            image_bench(st, 1.25 * io, [&] { ops::resize_backward<float>(dy, dx.view(), grad_mode::assign); });
        });
        reg("resize_fwd/" + c.name + "_bicubic_twice", [c, twice, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 17);
            tensor<float> y(twice, core::uninitialized);
            image_bench(st, 5 * io, [&] { ops::resize<float>(x, y.view()); });
        });
    }
    for (const image_case& c : feature_cases()) {
        const double io = 4.0 * double(c.x.numel());
        reg("binomial_lowpass_fwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> x = normal(c.x, 18);
            tensor<float> y(c.x, core::uninitialized);
            image_bench(st, 2 * io, [&] { ops::binomial_lowpass<float>(x, y.view()); });
        });
        reg("binomial_lowpass_bwd/" + c.name, [c, io](benchmark::State& st) {
            const tensor<float> dy = normal(c.x, 19);
            tensor<float> dx(c.x, core::uninitialized);
            image_bench(st, 2 * io, [&] { ops::binomial_lowpass_backward<float>(dy, dx.view(), grad_mode::assign); });
        });
    }
}

const bool registered = [] {
    benchmark::AddCustomContext("imbdef_threads", std::to_string(core::num_threads()));
    for (const g_layer& L : g_layers()) {
        benchmark::RegisterBenchmark(("filtered_lrelu_fwd/" + L.name).c_str(), bm_filtered_lrelu_fwd, L)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("filtered_lrelu_bwd/" + L.name).c_str(), bm_filtered_lrelu_bwd, L)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
    for (const u_case& c : u_cases()) {
        benchmark::RegisterBenchmark(("upfirdn2d_fwd/" + c.name).c_str(), bm_upfirdn2d_fwd, c)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("upfirdn2d_bwd/" + c.name).c_str(), bm_upfirdn2d_bwd, c)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
    register_image_filters();
    return true;
}();

}  // namespace
