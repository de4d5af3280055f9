// What a user's program does first: make a tensor and draw Philox normals into it.
#include <cmath>
#include <cstdio>

#include <imbdef/imbdef.hpp>

int main() {
    namespace core = imbdef::core;
    core::tensor<float> z({4, 512});
    core::fill_normal(z.view(), core::philox_stream{.seed = 1234});
    double sum = 0, sum2 = 0;
    for (float v : z) {
        sum += v;
        sum2 += static_cast<double>(v) * v;
    }
    const double n = static_cast<double>(z.numel());
    const double mean = sum / n, var = sum2 / n - mean * mean;
    std::printf("imbdef %d.%d.%d: %lld Philox normals, mean %.4f, variance %.4f\n", imbdef::version_major,
                imbdef::version_minor, imbdef::version_patch, static_cast<long long>(z.numel()), mean, var);
    return std::abs(mean) < 0.1 && std::abs(var - 1) < 0.1 ? 0 : 1;
}
