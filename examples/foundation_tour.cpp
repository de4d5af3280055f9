// A tour of what exists today, end to end: Philox draws on a thread pool, an op with its gradient,
// arena scratch, xtensor at the public boundary, and a PNG written by the data layer. It writes
//   <out>/philox_field.png   a 256x256 field of normal draws through leaky ReLU, as an image
//   <out>/summary.json       moments of the draws, the gradient norm, allocation counters
// Usage: foundation_tour [out_dir] [seed]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <imbdef/imbdef.hpp>
#include <imbdef/ops/leaky_relu.hpp>

namespace core = imbdef::core;
namespace ops = imbdef::ops;

int main(int argc, char** argv) try {
    const std::filesystem::path out = argc > 1 ? argv[1] : "runs/demo";
    const std::uint64_t seed = argc > 2 ? std::stoull(argv[2]) : 2025;
    std::filesystem::create_directories(out);

    constexpr core::index_t size = 256;
    core::tensor<float> z({1, 1, size, size});
    core::fill_normal(z.view(), core::philox_stream{.seed = seed});

    core::tensor<float> y(z.shape(), core::uninitialized);
    ops::leaky_relu(z.cview(), y.view());

    // The gradient of sum(y) with respect to z, through scratch memory from the arena.
    core::arena<core::cpu> scratch;
    auto ones = scratch.allocate<float>(z.shape());
    for (auto& v : ones) v = 1.0f;
    core::tensor<float> dz(z.shape(), core::uninitialized);
    ops::leaky_relu_backward(z.cview(), core::const_view<float>(ones), dz.view(), core::grad_mode::assign);

    // Public boundary: the image as an xtensor array over the same memory.
    auto image = core::as_xtensor(y.view().reshaped({size, size}));
    auto pixels = xt::xtensor<std::uint8_t, 3>::from_shape({std::size_t{size}, std::size_t{size}, 1});
    for (core::index_t i = 0; i < size; ++i)
        for (core::index_t j = 0; j < size; ++j) {
            const float v = std::clamp(127.5f + 40.0f * image(i, j), 0.0f, 255.0f);
            pixels(static_cast<std::size_t>(i), static_cast<std::size_t>(j), 0) = static_cast<std::uint8_t>(v);
        }
    const auto png = out / "philox_field.png";
    imbdef::data::write_png(png, pixels);

    double mean = 0, var = 0, grad_sum = 0;
    for (float v : z) mean += v;
    mean /= static_cast<double>(z.numel());
    for (float v : z) var += (v - mean) * (v - mean);
    var /= static_cast<double>(z.numel());
    for (float g : dz) grad_sum += g;

    const nlohmann::json summary = {
        {"seed", seed},
        {"threads", core::num_threads()},
        {"draws", z.numel()},
        {"mean", mean},
        {"variance", var},
        {"sum_of_gradient", grad_sum},
        {"cpu_allocations", core::memory_stats<core::cpu>::allocations.load()},
        {"cpu_peak_bytes", core::memory_stats<core::cpu>::peak_bytes.load()},
    };
    const auto json_path = out / "summary.json";
    std::ofstream(json_path) << summary.dump(2) << "\n";
    std::printf("foundation tour: %lld normal draws (mean %.4f, variance %.4f) on %d threads\n",
                static_cast<long long>(z.numel()), mean, var, core::num_threads());
    std::printf("  image:   %s\n  summary: %s\n", png.c_str(), json_path.c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "foundation_tour: %s\n", e.what());
    return 1;
}
