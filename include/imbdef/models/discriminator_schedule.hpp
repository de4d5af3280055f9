#pragma once
// The block schedule of StyleGAN2's residual discriminator (reference/stylegan3.md section 4), as
// StyleGAN3 trains it: blocks at resolutions R, R/2, ..., 8 and the epilogue at 4, with
// ch(res) = min(channel_base / res, channel_max); block b{res} maps ch(res) to ch(res / 2).

#include <algorithm>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace imbdef::models {

struct discriminator_config {
    int resolution = 256;
    int in_channels = 3;  // image channels (plus a mask channel for the matching discriminator)
    int channel_base = 32768;
    int channel_max = 512;
    int mbstd_group = 4;
    int mbstd_channels = 1;
};

struct discriminator_block_spec {
    int resolution = 0;     // input resolution of the block
    int in_channels = 0;    // tmp = ch(res)
    int out_channels = 0;   // ch(res / 2)
    bool has_fromrgb = false;

    // fromrgb (first block), conv0 (3x3, bias), conv1 (3x3 down, bias), skip (1x1 down, no bias).
    long long parameter_count(int image_channels) const {
        const long long t = in_channels, o = out_channels;
        return (has_fromrgb ? image_channels * t + t : 0) + (t * t * 9 + t) + (o * t * 9 + o) + o * t;
    }
};

struct discriminator_schedule {
    std::vector<discriminator_block_spec> blocks;  // b{R} .. b8
    int epilogue_channels = 0;                      // ch(4)

    // mbstd conv (C + F -> C, 3x3), fc (C*16 -> C), out (C -> 1).
    long long epilogue_parameter_count(int mbstd_channels) const {
        const long long c = epilogue_channels;
        return ((c + mbstd_channels) * c * 9 + c) + (c * 16 * c + c) + (c + 1);
    }
    long long parameter_count(int image_channels, int mbstd_channels) const {
        long long n = epilogue_parameter_count(mbstd_channels);
        for (const auto& b : blocks) n += b.parameter_count(image_channels);
        return n;
    }
};

inline discriminator_schedule make_discriminator_schedule(const discriminator_config& c) {
    IMBDEF_REQUIRE(c.resolution >= 8 && (c.resolution & (c.resolution - 1)) == 0, "models::make_discriminator_schedule",
                   "a power-of-two resolution of at least 8", std::to_string(c.resolution));
    IMBDEF_REQUIRE(c.channel_base > 0 && c.channel_max > 0 && c.in_channels > 0, "models::make_discriminator_schedule",
                   "positive channel base, channel max and input channels",
                   std::to_string(c.channel_base) + ", " + std::to_string(c.channel_max) + ", " + std::to_string(c.in_channels));
    auto ch = [&](int res) { return std::max(1, std::min(c.channel_base / res, c.channel_max)); };
    discriminator_schedule s;
    for (int res = c.resolution; res >= 8; res /= 2)
        s.blocks.push_back({res, ch(res), ch(res / 2), res == c.resolution});
    s.epilogue_channels = ch(4);
    return s;
}

}  // namespace imbdef::models
