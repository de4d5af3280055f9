// Benchmarks of the misc op family at the shapes of the cpu64 and lite128 presets (batch 8, float,
// the process-wide pool). Names read <op>_<pass>/<shape>, which bench/compare/misc_vs_torch.py
// parses to time the same computation in PyTorch.
//
//   mbstd          D epilogue: [8, 128, 4, 4] (cpu64), [8, 256, 4, 4] (lite128), group 4
//   norm2          mapping input z: [8, 256]
//   softplus       D logits [8, 1]; and [8, 131072] for throughput
//   sum            R1's per-sample sum over [8, 3, 64, 64] / [8, 3, 128, 128]; a bias gradient
//                  (axes 0, 2, 3) over [8, 128, 32, 32]
//   add, mul       D block residual sums: [8, 128, 32, 32] (cpu64 b64), [8, 128, 64, 64] (lite128 b128)
//   lerp           the G EMA over all parameters: 1,047,623 (cpu64), 3,780,951 (lite128), in place
//   fourier        G input: [8, 128, 36, 36] (cpu64), [8, 256, 36, 36] (lite128)
//   grid_sample    ADA after the x2 upsampling: [8, 3, 128, 128] (cpu64), [8, 3, 256, 256] (lite128)
//   affine_grid, color_matrix  the same images (colour at the image size 64 / 128)

#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <imbdef/core.hpp>
#include <imbdef/ops/affine_grid.hpp>
#include <imbdef/ops/arithmetic.hpp>
#include <imbdef/ops/color_matrix.hpp>
#include <imbdef/ops/fourier_features.hpp>
#include <imbdef/ops/grid_sample.hpp>
#include <imbdef/ops/minibatch_std.hpp>
#include <imbdef/ops/normalize_2nd_moment.hpp>
#include <imbdef/ops/reduce.hpp>
#include <imbdef/ops/softplus.hpp>

namespace {

using namespace imbdef;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;

tensor<float> randn(const shape& s, std::uint64_t stream, float stddev = 1.0f) {
    tensor<float> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0xbe9c, stream}, 0, 0.0f, stddev);
    return t;
}

std::string dims(const shape& s) {
    std::string out;
    for (int a = 0; a < s.rank(); ++a) {
        if (a) out.push_back('x');
        out.append(std::to_string(s[a]));
    }
    return out;
}

double count(const shape& s) { return static_cast<double>(s.numel()); }

// Registers `name` running `body` once per iteration; bytes and flops are per call.
void add(const std::string& name, std::function<void()> body, double bytes, double flops = 0) {
    benchmark::RegisterBenchmark(name.c_str(), [body = std::move(body), bytes, flops](benchmark::State& state) {
        for (auto _ : state) body();
        state.counters["threads"] = core::num_threads();
        if (bytes > 0) state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
        if (flops > 0) state.counters["flops_per_second"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
    })->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// Every buffer a benchmark touches lives here for the whole run.
std::vector<std::shared_ptr<tensor<float>>>& keep() {
    static std::vector<std::shared_ptr<tensor<float>>> all;
    return all;
}
std::shared_ptr<tensor<float>> hold(tensor<float> t) {
    keep().push_back(std::make_shared<tensor<float>>(std::move(t)));
    return keep().back();
}

void register_mbstd() {
    for (index_t c : {128, 256}) {
        const shape xs{8, c, 4, 4};
        const ops::minibatch_std_params p{.group_size = 4};
        const shape ys = ops::minibatch_std_output_shape(xs, p);
        auto x = hold(randn(xs, 1)), xd = hold(randn(xs, 2)), y = hold(tensor<float>(ys)), dy = hold(randn(ys, 3)),
             dyd = hold(randn(ys, 4)), dx = hold(tensor<float>(xs));
        const double io = 4.0 * (count(xs) + count(ys));
        add("mbstd_forward/" + dims(xs), [=] { ops::minibatch_std(*x, y->view(), p); }, io);
        add("mbstd_backward/" + dims(xs), [=] { ops::minibatch_std_backward(*x, *dy, dx->view(), grad_mode::assign, p); },
            io + 4.0 * count(xs));
        add("mbstd_forward_tangent/" + dims(xs), [=] { ops::minibatch_std_forward_tangent(*x, *xd, y->view(), p); },
            io + 4.0 * count(xs));
        add("mbstd_backward_tangent/" + dims(xs),
            [=] { ops::minibatch_std_backward_tangent(*x, *xd, *dy, *dyd, dx->view(), grad_mode::assign, p); },
            2 * io + 4.0 * count(xs));
    }
}

void register_norm2() {
    const shape s{8, 256};
    auto x = hold(randn(s, 5)), y = hold(tensor<float>(s)), dy = hold(randn(s, 6)), dx = hold(tensor<float>(s));
    add("norm2_forward/" + dims(s), [=] { ops::normalize_2nd_moment(*x, y->view()); }, 8.0 * count(s));
    add("norm2_backward/" + dims(s), [=] { ops::normalize_2nd_moment_backward(*x, *dy, dx->view(), grad_mode::assign); },
        12.0 * count(s));
}

void register_softplus() {
    for (const shape s : {shape{8, 1}, shape{8, 131072}}) {
        auto x = hold(randn(s, 7, 3.0f)), y = hold(tensor<float>(s)), dy = hold(randn(s, 8)), dx = hold(tensor<float>(s));
        add("softplus_forward/" + dims(s), [=] { ops::softplus(*x, y->view()); }, 8.0 * count(s));
        add("softplus_backward/" + dims(s), [=] { ops::softplus_backward(*x, *dy, dx->view(), grad_mode::assign); },
            12.0 * count(s));
    }
}

void register_sum() {
    for (const shape s : {shape{8, 3, 64, 64}, shape{8, 3, 128, 128}}) {
        auto x = hold(randn(s, 9)), y = hold(tensor<float>(shape{8})), dy = hold(randn(shape{8}, 10)),
             dx = hold(tensor<float>(s));
        add("sum_forward/" + dims(s) + "/axes123", [=] { ops::sum(*x, {1, 2, 3}, y->view()); }, 4.0 * count(s));
        add("sum_backward/" + dims(s) + "/axes123",
            [=] { ops::sum_backward(*dy, {1, 2, 3}, dx->view(), grad_mode::assign); }, 4.0 * count(s));
    }
    const shape s{8, 128, 32, 32};
    auto x = hold(randn(s, 11)), y = hold(tensor<float>(shape{128})), dy = hold(randn(shape{128}, 12)),
         dx = hold(tensor<float>(s));
    add("sum_forward/" + dims(s) + "/axes023", [=] { ops::sum(*x, {0, 2, 3}, y->view()); }, 4.0 * count(s));
    add("sum_backward/" + dims(s) + "/axes023", [=] { ops::sum_backward(*dy, {0, 2, 3}, dx->view(), grad_mode::assign); },
        4.0 * count(s));
}

void register_arithmetic() {
    for (const shape s : {shape{8, 128, 32, 32}, shape{8, 128, 64, 64}}) {
        auto a = hold(randn(s, 13)), b = hold(randn(s, 14)), y = hold(tensor<float>(s)), dy = hold(randn(s, 15)),
             da = hold(tensor<float>(s)), db = hold(tensor<float>(s));
        const double n = static_cast<double>(s.numel());
        add("add_forward/" + dims(s), [=] { ops::add(*a, *b, y->view()); }, 12.0 * n);
        add("add_backward/" + dims(s),
            [=] { ops::add_backward(*dy, da->view(), grad_mode::assign, db->view(), grad_mode::assign); }, 12.0 * n);
        add("mul_forward/" + dims(s), [=] { ops::mul(*a, *b, y->view()); }, 12.0 * n);
        add("mul_backward/" + dims(s),
            [=] { ops::mul_backward(*a, *b, *dy, da->view(), grad_mode::assign, db->view(), grad_mode::assign); },
            24.0 * n);
    }
    // The generator EMA, theta_ema <- lerp(theta, theta_ema, beta), over every G parameter:
    // cpu64 1,047,623 and lite128 3,780,951 (reference section 11).
    for (const shape s : {shape{1047623}, shape{3780951}}) {
        auto a = hold(randn(s, 24)), b = hold(randn(s, 25));
        add("lerp_forward/" + dims(s), [=] { ops::lerp(*a, *b, 0.999, b->view()); }, 12.0 * count(s));
    }
}

void register_fourier() {
    for (index_t c : {128, 256}) {
        const ops::fourier_features_params p{};
        auto freqs = hold(tensor<float>(shape{c, 2})), phases = hold(tensor<float>(shape{c}));
        ops::fourier_features_init(freqs->view(), phases->view(), p.bandwidth, core::philox_stream{1, 2});
        auto t = hold(randn(shape{8, 4}, 16, 0.2f));
        for (index_t i = 0; i < 8; ++i) (*t)(i, 0) += 1.0f;
        auto w = hold(randn(shape{c, c}, 17));
        const shape ys = ops::fourier_features_output_shape(8, c, p);
        auto y = hold(tensor<float>(ys)), dy = hold(randn(ys, 18)), dt = hold(tensor<float>(shape{8, 4})),
             dw = hold(tensor<float>(shape{c, c}));
        const double gemm = 2.0 * 8 * static_cast<double>(c * c) * 36 * 36;
        add("fourier_forward/" + dims(ys), [=] { ops::fourier_features(*freqs, *phases, *t, *w, y->view(), p); },
            4.0 * count(ys), gemm);
        add("fourier_backward/" + dims(ys),
            [=] {
                ops::fourier_features_backward(*freqs, *phases, *t, *w, *dy, dt->view(), grad_mode::assign, dw->view(),
                                               grad_mode::assign, p);
            },
            4.0 * count(ys), 2 * gemm);
    }
}

void register_grid_sample() {
    for (index_t px : {128, 256}) {
        const shape xs{8, 3, px, px};
        auto x = hold(randn(xs, 19)), dx = hold(tensor<float>(xs)), y = hold(tensor<float>(xs)), dy = hold(randn(xs, 20));
        // ADA's geometric matrix: a mild rotation and scale (p small keeps them near identity).
        auto theta = hold(tensor<float>(shape{8, 2, 3}));
        for (index_t i = 0; i < 8; ++i) {
            const float a = 0.1f * static_cast<float>(i), s = 1.0f + 0.02f * static_cast<float>(i);
            (*theta)(i, 0, 0) = s * std::cos(a);
            (*theta)(i, 0, 1) = -s * std::sin(a);
            (*theta)(i, 1, 0) = s * std::sin(a);
            (*theta)(i, 1, 1) = s * std::cos(a);
            (*theta)(i, 0, 2) = 0.01f * static_cast<float>(i);
        }
        auto grid = hold(tensor<float>(shape{8, px, px, 2}));
        ops::affine_grid(*theta, grid->view());
        const double pixels = 8.0 * static_cast<double>(px * px);
        add("affine_grid/" + dims(xs), [=] { ops::affine_grid(*theta, grid->view()); }, 8.0 * pixels);
        add("grid_sample_forward/" + dims(xs), [=] { ops::grid_sample(*x, *grid, y->view()); }, pixels * (8 + 24));
        add("grid_sample_backward/" + dims(xs), [=] { ops::grid_sample_backward(*grid, *dy, dx->view(), grad_mode::assign); },
            pixels * (8 + 24));
    }
}

void register_color_matrix() {
    for (index_t px : {64, 128}) {
        const shape xs{8, 3, px, px};
        auto x = hold(randn(xs, 21)), y = hold(tensor<float>(xs)), dy = hold(randn(xs, 22)), dx = hold(tensor<float>(xs));
        auto m = hold(randn(shape{8, 4, 4}, 23, 0.3f));
        const double bytes = 8.0 * count(xs);
        add("color_matrix_forward/" + dims(xs), [=] { ops::color_matrix(*x, *m, y->view()); }, bytes);
        add("color_matrix_backward/" + dims(xs),
            [=] { ops::color_matrix_backward(*m, *dy, dx->view(), grad_mode::assign); }, bytes);
    }
}

const bool registered = [] {
    register_mbstd();
    register_norm2();
    register_softplus();
    register_sum();
    register_arithmetic();
    register_fourier();
    register_grid_sample();
    register_color_matrix();
    return true;
}();

}  // namespace
