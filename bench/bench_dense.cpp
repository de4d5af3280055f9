// Benchmarks of the dense ops at the layer shapes of the cpu64 and lite128 presets, batch 8
// (reference/stylegan3.md sections 4, 8b and 11):
//   conv2d/<layer>/<shape>/{fwd,bwd}       discriminator convs (3x3 pad 1, 3x3 stride 2 after the
//                                          blur, 1x1) and the generator's 3x3 pad 2 convs
//   modconv/<layer>/<shape>/{fwd,bwd}      synthesis layers (non-fused form; bwd = x, w and styles)
//   modconv_fused/...                      the same through per-sample weights
//   fc/<layer>/<shape>/{fwd,bwd}           mapping, affine and discriminator-epilogue layers
//   bias_act/<layer>/<shape>/{fwd,bwd}     the discriminator's bias + lrelu + clamp
// The shape is spelled n8_c128_h64_w64_o128_k3_s1_p1 (modconv adds _d<demodulate>, fc is
// n8_i256_o256_a<lrelu>, bias_act n8_c128_h64_w64) so bench/compare/dense_vs_torch.py can rebuild
// each case in PyTorch. Counters: FLOP/s of the multiply-adds (2 per MAC; bwd counts the data and
// weight products), or bytes/s for bias_act; pool_threads is the size of imbdef's thread pool.
// Each case reports a "min" statistic over repetitions, the figure the comparison script uses on a
// shared machine.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/bias_act.hpp>
#include <imbdef/ops/conv2d.hpp>
#include <imbdef/ops/fully_connected.hpp>
#include <imbdef/ops/modulated_conv2d.hpp>

namespace {

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;

constexpr index_t batch = 8;

tensor<float> random(const shape& s, std::uint64_t stream, float stddev = 1.0f) {
    tensor<float> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0xBE4C, stream}, 0, 0.0f, stddev);
    return t;
}

double min_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }

void finish(benchmark::State& state, double flops_per_iter, double bytes_per_iter = 0.0) {
    if (flops_per_iter > 0)
        state.counters["FLOP/s"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
    if (bytes_per_iter > 0)
        state.counters["bytes/s"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["pool_threads"] = core::num_threads();
}

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b) {
    return b->Unit(benchmark::kMillisecond)->UseRealTime()->ComputeStatistics("min", min_of);
}

// --- conv2d ----------------------------------------------------------------------------------

struct conv_case {
    const char* layer;
    index_t c, h, w, o, k, stride, pad;
};

// Discriminators: cpu64 (cbase 4096, cmax 128) and lite128 (cbase 8192, cmax 256); the fromrgb input
// is the image plus its mask (4 channels). Generators: the synthesis convs, 3x3 with padding 2 on
// the margin-extended feature maps, and ToRGB.
const conv_case conv_cases[] = {
    {"D64.b64.fromrgb", 4, 64, 64, 64, 1, 1, 0},     {"D64.b64.conv0", 64, 64, 64, 64, 3, 1, 1},
    {"D64.b64.conv1", 64, 65, 65, 128, 3, 2, 0},     {"D64.b64.skip", 64, 32, 32, 128, 1, 1, 0},
    {"D64.b32.conv0", 128, 32, 32, 128, 3, 1, 1},    {"D64.b32.conv1", 128, 33, 33, 128, 3, 2, 0},
    {"D64.b32.skip", 128, 16, 16, 128, 1, 1, 0},     {"D64.b16.conv0", 128, 16, 16, 128, 3, 1, 1},
    {"D64.b16.conv1", 128, 17, 17, 128, 3, 2, 0},    {"D64.b16.skip", 128, 8, 8, 128, 1, 1, 0},
    {"D64.b8.conv0", 128, 8, 8, 128, 3, 1, 1},       {"D64.b8.conv1", 128, 9, 9, 128, 3, 2, 0},
    {"D64.b8.skip", 128, 4, 4, 128, 1, 1, 0},        {"D64.b4.conv", 129, 4, 4, 128, 3, 1, 1},
    {"D128.b128.fromrgb", 4, 128, 128, 64, 1, 1, 0}, {"D128.b128.conv0", 64, 128, 128, 64, 3, 1, 1},
    {"D128.b128.conv1", 64, 129, 129, 128, 3, 2, 0}, {"D128.b128.skip", 64, 64, 64, 128, 1, 1, 0},
    {"D128.b64.conv0", 128, 64, 64, 128, 3, 1, 1},   {"D128.b64.conv1", 128, 65, 65, 256, 3, 2, 0},
    {"D128.b64.skip", 128, 32, 32, 256, 1, 1, 0},    {"D128.b32.conv0", 256, 32, 32, 256, 3, 1, 1},
    {"D128.b32.conv1", 256, 33, 33, 256, 3, 2, 0},   {"D128.b32.skip", 256, 16, 16, 256, 1, 1, 0},
    {"D128.b16.conv0", 256, 16, 16, 256, 3, 1, 1},   {"D128.b16.conv1", 256, 17, 17, 256, 3, 2, 0},
    {"D128.b16.skip", 256, 8, 8, 256, 1, 1, 0},      {"D128.b8.conv0", 256, 8, 8, 256, 3, 1, 1},
    {"D128.b8.conv1", 256, 9, 9, 256, 3, 2, 0},      {"D128.b8.skip", 256, 4, 4, 256, 1, 1, 0},
    {"D128.b4.conv", 257, 4, 4, 256, 3, 1, 1},
    {"G64.L0-2", 128, 36, 36, 128, 3, 1, 2},         {"G64.L3", 128, 52, 52, 128, 3, 1, 2},
    {"G64.L4", 128, 84, 84, 64, 3, 1, 2},            {"G64.L5", 64, 84, 84, 64, 3, 1, 2},
    {"G64.torgb", 64, 64, 64, 3, 1, 1, 0},
    {"G128.L0-2", 256, 36, 36, 256, 3, 1, 2},        {"G128.L3", 256, 52, 52, 256, 3, 1, 2},
    {"G128.L4", 256, 84, 84, 203, 3, 1, 2},          {"G128.L5", 203, 84, 84, 114, 3, 1, 2},
    {"G128.L6", 114, 148, 148, 64, 3, 1, 2},         {"G128.L7", 64, 148, 148, 64, 3, 1, 2},
    {"G128.torgb", 64, 128, 128, 3, 1, 1, 0},
};

std::string conv_shape_name(const conv_case& c) {
    return "n" + std::to_string(batch) + "_c" + std::to_string(c.c) + "_h" + std::to_string(c.h) + "_w" +
           std::to_string(c.w) + "_o" + std::to_string(c.o) + "_k" + std::to_string(c.k) + "_s" +
           std::to_string(c.stride) + "_p" + std::to_string(c.pad);
}

double conv_macs(const conv_case& c) {
    const auto g = ops::conv_geometry::make(batch, c.c, c.h, c.w, c.o, c.k, c.k, c.stride, c.pad, c.pad);
    return static_cast<double>(g.n) * static_cast<double>(g.o) * static_cast<double>(g.ckk()) *
           static_cast<double>(g.out_plane());
}

void conv_fwd(benchmark::State& state, conv_case c) {
    const ops::conv2d_params p{c.stride, c.pad};
    const auto g = ops::conv_geometry::make(batch, c.c, c.h, c.w, c.o, c.k, c.k, c.stride, c.pad, c.pad);
    const tensor<float> x = random({batch, c.c, c.h, c.w}, 1), w = random({c.o, c.c, c.k, c.k}, 2);
    tensor<float> y(shape{batch, c.o, g.oh, g.ow});
    for (auto _ : state) {
        ops::conv2d<float, core::cpu>(x, w, {}, y.view(), p);
        benchmark::DoNotOptimize(y.data());
    }
    finish(state, 2 * conv_macs(c));
}

// The discriminator's backward: data and weight gradients (its bias lives in bias_act).
void conv_bwd(benchmark::State& state, conv_case c) {
    const ops::conv2d_params p{c.stride, c.pad};
    const auto g = ops::conv_geometry::make(batch, c.c, c.h, c.w, c.o, c.k, c.k, c.stride, c.pad, c.pad);
    const tensor<float> x = random({batch, c.c, c.h, c.w}, 1), w = random({c.o, c.c, c.k, c.k}, 2),
                        dy = random({batch, c.o, g.oh, g.ow}, 3);
    tensor<float> dx(x.shape()), dw(w.shape());
    for (auto _ : state) {
        ops::conv2d_backward<float, core::cpu>(x, w, dy, dx.view(), dw.view(), {}, grad_mode::assign, grad_mode::assign, p);
        benchmark::DoNotOptimize(dx.data());
        benchmark::DoNotOptimize(dw.data());
    }
    finish(state, 4 * conv_macs(c));
}

// --- modulated conv2d ------------------------------------------------------------------------

struct modconv_case {
    const char* layer;
    index_t c, h, o, k;
    bool demodulate;
};

// Synthesis layers (reference section 11 for cpu64, section 8b for lite128): input extent h,
// output h + k - 1.
const modconv_case modconv_cases[] = {
    {"G64.L0-2", 128, 36, 128, 3, true},  {"G64.L3", 128, 52, 128, 3, true},   {"G64.L4", 128, 84, 64, 3, true},
    {"G64.L5", 64, 84, 64, 3, true},      {"G64.torgb", 64, 64, 3, 1, false},  {"G128.L0-2", 256, 36, 256, 3, true},
    {"G128.L3", 256, 52, 256, 3, true},   {"G128.L4", 256, 84, 203, 3, true},  {"G128.L5", 203, 84, 114, 3, true},
    {"G128.L6", 114, 148, 64, 3, true},   {"G128.L7", 64, 148, 64, 3, true},   {"G128.torgb", 64, 128, 3, 1, false},
};

std::string modconv_shape_name(const modconv_case& c) {
    return "n" + std::to_string(batch) + "_c" + std::to_string(c.c) + "_h" + std::to_string(c.h) + "_w" +
           std::to_string(c.h) + "_o" + std::to_string(c.o) + "_k" + std::to_string(c.k) + "_d" +
           std::to_string(int(c.demodulate));
}

double modconv_macs(const modconv_case& c) {
    const double out = static_cast<double>(c.h + c.k - 1);
    return static_cast<double>(batch) * static_cast<double>(c.o) * static_cast<double>(c.c * c.k * c.k) * out * out;
}

struct modconv_inputs {
    tensor<float> x, w, s, y, dy;
    explicit modconv_inputs(const modconv_case& c)
        : x(random({batch, c.c, c.h, c.h}, 1)),
          w(random({c.o, c.c, c.k, c.k}, 2)),
          s(random({batch, c.c}, 3, 0.3f)),
          y(shape{batch, c.o, c.h + c.k - 1, c.h + c.k - 1}),
          dy(random({batch, c.o, c.h + c.k - 1, c.h + c.k - 1}, 4)) {
        for (float& v : s) v += 1.0f;  // affine outputs start at 1
    }
};

void modconv_fwd(benchmark::State& state, modconv_case c, bool fused) {
    const ops::modulated_conv2d_params p{.demodulate = c.demodulate, .fused = fused};
    modconv_inputs in(c);
    for (auto _ : state) {
        ops::modulated_conv2d<float, core::cpu>(in.x, in.w, in.s, in.y.view(), p);
        benchmark::DoNotOptimize(in.y.data());
    }
    finish(state, 2 * modconv_macs(c));
}

void modconv_bwd(benchmark::State& state, modconv_case c, bool fused) {
    const ops::modulated_conv2d_params p{.demodulate = c.demodulate, .fused = fused};
    modconv_inputs in(c);
    ops::modulated_conv2d<float, core::cpu>(in.x, in.w, in.s, in.y.view(), p);
    tensor<float> dx(in.x.shape()), dw(in.w.shape()), ds(in.s.shape());
    for (auto _ : state) {
        ops::modulated_conv2d_backward<float, core::cpu>(in.x, in.w, in.s, in.y, in.dy, dx.view(), dw.view(), ds.view(),
                                                         grad_mode::assign, grad_mode::assign, p);
        benchmark::DoNotOptimize(dx.data());
    }
    finish(state, 4 * modconv_macs(c));
}

// --- fully connected -------------------------------------------------------------------------

struct fc_case {
    const char* layer;
    index_t in, out;
    double lr;
    bool lrelu;
};

const fc_case fc_cases[] = {
    {"mapping", 256, 256, 0.01, true},      {"affine.G128.L0", 256, 256, 1.0, false},
    {"affine.G64.L0", 256, 128, 1.0, false}, {"D64.b4.fc", 128 * 16, 128, 1.0, true},
    {"D128.b4.fc", 256 * 16, 256, 1.0, true}, {"D128.b4.out", 256, 1, 1.0, false},
};

std::string fc_shape_name(const fc_case& c) {
    return "n" + std::to_string(batch) + "_i" + std::to_string(c.in) + "_o" + std::to_string(c.out) + "_a" +
           std::to_string(int(c.lrelu));
}

ops::fully_connected_params fc_params(const fc_case& c) {
    ops::fully_connected_params p;
    p.lr_multiplier = c.lr;
    p.act = c.lrelu ? ops::activation::lrelu : ops::activation::linear;
    return p;
}

void fc_fwd(benchmark::State& state, fc_case c) {
    const tensor<float> x = random({batch, c.in}, 1), w = random({c.out, c.in}, 2), b = random({c.out}, 3);
    tensor<float> y(shape{batch, c.out});
    for (auto _ : state) {
        ops::fully_connected<float, core::cpu>(x, w, b, y.view(), fc_params(c));
        benchmark::DoNotOptimize(y.data());
    }
    finish(state, 2.0 * static_cast<double>(batch * c.in * c.out));
}

void fc_bwd(benchmark::State& state, fc_case c) {
    const tensor<float> x = random({batch, c.in}, 1), w = random({c.out, c.in}, 2), b = random({c.out}, 3),
                        dy = random({batch, c.out}, 4);
    tensor<float> y(shape{batch, c.out}), dx(x.shape()), dw(w.shape()), db(b.shape());
    ops::fully_connected<float, core::cpu>(x, w, b, y.view(), fc_params(c));
    for (auto _ : state) {
        ops::fully_connected_backward<float, core::cpu>(x, w, y, dy, dx.view(), dw.view(), db.view(), grad_mode::assign,
                                                        grad_mode::assign, fc_params(c));
        benchmark::DoNotOptimize(dw.data());
    }
    finish(state, 4.0 * static_cast<double>(batch * c.in * c.out));
}

// --- bias_act ----------------------------------------------------------------------------------

struct bias_act_case {
    const char* layer;
    index_t c, h;
};

const bias_act_case bias_act_cases[] = {
    {"D128.b128.conv0", 64, 128}, {"D128.b64.conv0", 128, 64}, {"D128.b32.conv0", 256, 32}, {"D64.b64.conv0", 64, 64},
};

std::string bias_act_shape_name(const bias_act_case& c) {
    return "n" + std::to_string(batch) + "_c" + std::to_string(c.c) + "_h" + std::to_string(c.h) + "_w" +
           std::to_string(c.h);
}

const ops::bias_act_params discriminator_act{.clamp = 256.0};

void bias_act_fwd(benchmark::State& state, bias_act_case c) {
    const tensor<float> x = random({batch, c.c, c.h, c.h}, 1), b = random({c.c}, 2);
    tensor<float> y(x.shape());
    for (auto _ : state) {
        ops::bias_act<float, core::cpu>(x, b, y.view(), discriminator_act);
        benchmark::DoNotOptimize(y.data());
    }
    finish(state, 0, 2.0 * static_cast<double>(x.bytes()));
}

void bias_act_bwd(benchmark::State& state, bias_act_case c) {
    const tensor<float> x = random({batch, c.c, c.h, c.h}, 1), b = random({c.c}, 2), dy = random(x.shape(), 3);
    tensor<float> y(x.shape()), dx(x.shape()), db(b.shape());
    ops::bias_act<float, core::cpu>(x, b, y.view(), discriminator_act);
    for (auto _ : state) {
        ops::bias_act_backward<float, core::cpu>(y, dy, dx.view(), db.view(), grad_mode::assign, grad_mode::assign,
                                                 discriminator_act);
        benchmark::DoNotOptimize(dx.data());
    }
    finish(state, 0, 3.0 * static_cast<double>(x.bytes()));
}

// --- registration --------------------------------------------------------------------------------

const bool registered = [] {
    for (const auto& c : conv_cases) {
        const std::string base = std::string("conv2d/") + c.layer + "/" + conv_shape_name(c);
        configure(benchmark::RegisterBenchmark((base + "/fwd").c_str(), conv_fwd, c));
        configure(benchmark::RegisterBenchmark((base + "/bwd").c_str(), conv_bwd, c));
    }
    for (bool fused : {false, true})
        for (const auto& c : modconv_cases) {
            const std::string base =
                std::string(fused ? "modconv_fused/" : "modconv/") + c.layer + "/" + modconv_shape_name(c);
            configure(benchmark::RegisterBenchmark((base + "/fwd").c_str(), modconv_fwd, c, fused));
            configure(benchmark::RegisterBenchmark((base + "/bwd").c_str(), modconv_bwd, c, fused));
        }
    for (const auto& c : fc_cases) {
        const std::string base = std::string("fc/") + c.layer + "/" + fc_shape_name(c);
        configure(benchmark::RegisterBenchmark((base + "/fwd").c_str(), fc_fwd, c));
        configure(benchmark::RegisterBenchmark((base + "/bwd").c_str(), fc_bwd, c));
    }
    for (const auto& c : bias_act_cases) {
        const std::string base = std::string("bias_act/") + c.layer + "/" + bias_act_shape_name(c);
        configure(benchmark::RegisterBenchmark((base + "/fwd").c_str(), bias_act_fwd, c));
        configure(benchmark::RegisterBenchmark((base + "/bwd").c_str(), bias_act_bwd, c));
    }
    return true;
}();

}  // namespace
