#pragma once
// The random numbers of the synthetic dataset. Every draw of a sample comes from Philox streams
// keyed by (seed, split, index within the split, purpose), so a sample depends on nothing but
// those four and can be produced alone, in any order, by any thread. Each purpose (scene
// parameters, noise lattices, defects, sensor grain) has its own stream, so rendering a sample
// without its defects leaves every other draw unchanged.

#include <cmath>
#include <cstdint>
#include <vector>

#include "../../core/philox.hpp"

namespace imbdef::data::synthetic_detail {

// What a stream is used for; part of the stream id.
enum class purpose : std::uint64_t {
    scene = 1,    // scene kind parameters, lighting, pose
    lattice = 2,  // noise lattices (lattice k at offsets k * lattice_size^2 ...)
    defects = 3,  // defect count, kinds, shapes
    grain = 4,    // per-pixel sensor noise
    extra = 5,    // per-element draws of a scene (the ceramic speckles)
};

// Stream id: bits 0..39 the index within the split, 40..47 the split, 48..63 the purpose.
inline core::philox_stream sample_stream(std::uint64_t seed, int split, std::uint64_t index, purpose p) noexcept {
    return {seed, (index & 0xFFFFFFFFFFull) | (static_cast<std::uint64_t>(split & 0xff) << 40) |
                      (static_cast<std::uint64_t>(p) << 48)};
}

// Sequential draws from one stream: the k-th draw reads offset k.
class draw_cursor {
public:
    explicit draw_cursor(core::philox_stream s) noexcept : stream_(s) {}

    std::uint32_t bits() noexcept {
        const std::uint64_t b = next_ >> 2;
        if (b != cached_block_) {
            block_ = stream_.block(b);
            cached_block_ = b;
        }
        return block_.v[next_++ & 3];
    }
    // Uniform in the open interval (0, 1).
    float uniform() noexcept { return core::uniform_from_bits(bits()); }
    float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }
    // Log-uniform in [lo, hi], lo > 0: every order of magnitude equally likely.
    float log_uniform(float lo, float hi) noexcept { return lo * std::exp(std::log(hi / lo) * uniform()); }
    // An integer in [lo, hi].
    int integer(int lo, int hi) noexcept {
        const auto span = static_cast<std::uint64_t>(hi - lo + 1);
        return lo + static_cast<int>((static_cast<std::uint64_t>(bits()) * span) >> 32);
    }
    bool chance(float p) noexcept { return uniform() < p; }
    float sign() noexcept { return chance(0.5f) ? 1.0f : -1.0f; }
    // Standard normal (Box-Muller on two words).
    float normal() noexcept {
        const std::uint32_t a = bits();
        const std::uint32_t b = bits();
        float z0, z1;
        core::box_muller(a, b, z0, z1);
        return z0;
    }

private:
    core::philox_stream stream_;
    std::uint64_t next_ = 0;
    std::uint64_t cached_block_ = ~std::uint64_t{0};
    core::philox_block block_{};
};

inline float smoothstep(float e0, float e1, float x) noexcept {
    float t = (x - e0) / (e1 - e0);
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    return t * t * (3.0f - 2.0f * t);
}
inline float clamp01(float x) noexcept { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float lerp(float a, float b, float t) noexcept { return a + (b - a) * t; }

// Value noise on a periodic 64 x 64 lattice of uniform values in [-1, 1], interpolated bilinearly
// with a smoothstep fade. Coordinates are in lattice cells; the pattern repeats every 64 cells,
// which the fractal sum hides by rotating and shifting each octave.
class lattice_noise {
public:
    static constexpr int size = 64;

    lattice_noise() = default;
    lattice_noise(core::philox_stream s, std::uint64_t offset) : values_(size * size) {
        for (int b = 0; b < size * size / 4; ++b) {
            const core::philox_block r = s.block((offset >> 2) + static_cast<std::uint64_t>(b));
            for (int k = 0; k < 4; ++k) values_[static_cast<std::size_t>(4 * b + k)] = 2.0f * core::uniform_from_bits(r.v[k]) - 1.0f;
        }
    }

    // The lattice value at cell (i, j), uniform in [-1, 1]: a table of per-element jitter.
    float value(int i, int j) const noexcept { return values_[static_cast<std::size_t>((j & (size - 1)) * size + (i & (size - 1)))]; }

    // In [-1, 1].
    float operator()(float x, float y) const noexcept {
        const float fx = std::floor(x);
        const float fy = std::floor(y);
        const int ix = static_cast<int>(fx) & (size - 1);
        const int iy = static_cast<int>(fy) & (size - 1);
        const int jx = (ix + 1) & (size - 1);
        const int jy = (iy + 1) & (size - 1);
        float tx = x - fx;
        float ty = y - fy;
        tx = tx * tx * (3.0f - 2.0f * tx);
        ty = ty * ty * (3.0f - 2.0f * ty);
        const float* row0 = values_.data() + iy * size;
        const float* row1 = values_.data() + jy * size;
        const float a = row0[ix] + (row0[jx] - row0[ix]) * tx;
        const float b = row1[ix] + (row1[jx] - row1[ix]) * tx;
        return a + (b - a) * ty;
    }

    // Fractal sum of `octaves` octaves at frequency `freq` (cells per unit), each octave doubling
    // the frequency and multiplying the amplitude by `gain`; normalised to about [-1, 1].
    float fbm(float x, float y, float freq, int octaves, float gain = 0.5f) const noexcept {
        float sum = 0.0f, norm = 0.0f, amp = 1.0f;
        for (int o = 0; o < octaves; ++o) {
            // A rotation by about 37 degrees per octave and an irrational shift decorrelate octaves.
            const float c = rot_c[o & 7], s = rot_s[o & 7];
            const float u = (c * x - s * y) * freq + 17.31f * static_cast<float>(o);
            const float v = (s * x + c * y) * freq + 9.77f * static_cast<float>(o);
            sum += amp * (*this)(u, v);
            norm += amp;
            amp *= gain;
            freq *= 2.0f;
        }
        return sum / norm;
    }

private:
    static constexpr float rot_c[8] = {1.0f, 0.79864f, 0.27564f, -0.35837f, -0.84805f, -0.99863f, -0.74314f, -0.19081f};
    static constexpr float rot_s[8] = {0.0f, 0.60181f, 0.96126f, 0.93358f, 0.52992f, -0.05234f, -0.66913f, -0.98163f};
    std::vector<float> values_;
};

// Lattice k of a sample: its own slice of the sample's lattice stream.
inline lattice_noise make_lattice(core::philox_stream lattice_stream, int k) {
    return lattice_noise(lattice_stream, static_cast<std::uint64_t>(k) * lattice_noise::size * lattice_noise::size);
}

}  // namespace imbdef::data::synthetic_detail
