#pragma once
// imbdef's presets (METHOD.md, "Presets"): the inputs of the StyleGAN3 schedule and of the
// discriminators at four sizes. Mapping depth 2 everywhere; the image discriminator uses the
// generator's channel base and max, the matching discriminator a quarter of the base.

#include <array>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "discriminator_schedule.hpp"
#include "synthesis_schedule.hpp"

namespace imbdef::models {

struct preset {
    std::string_view name;
    int resolution;
    int latent_dim;  // z = w
    int channel_base;
    int channel_max;
    int num_layers;
    std::string_view purpose;

    // The generator schedule for `image_channels` (1 grey, 3 RGB) plus the valid-region mask.
    synthesis_config synthesis(int image_channels, int mask_channels = 1) const {
        synthesis_config c;
        c.resolution = resolution;
        c.image_channels = image_channels;
        c.mask_channels = mask_channels;
        c.channel_base = channel_base;
        c.channel_max = channel_max;
        c.num_layers = num_layers;
        return c;
    }
    discriminator_config image_discriminator(int image_channels) const {
        discriminator_config c;
        c.resolution = resolution;
        c.in_channels = image_channels;
        c.channel_base = channel_base;
        c.channel_max = channel_max;
        return c;
    }
    // Sees (image, soft mask): one more input channel, a quarter of the channel base.
    discriminator_config matching_discriminator(int image_channels) const {
        discriminator_config c = image_discriminator(image_channels + 1);
        c.channel_base = channel_base / 4;
        return c;
    }
};

inline constexpr std::array<preset, 4> presets = {{
    {"tiny", 32, 64, 1024, 32, 4, "unit and integration tests, seconds"},
    {"cpu64", 64, 256, 4096, 128, 6, "the embedded demo on a laptop CPU"},
    {"lite128", 128, 256, 8192, 256, 8, "CPU research runs, GPU quick runs"},
    {"paper256", 256, 512, 16384, 512, 10, "the paper's scale, GPU"},
}};

inline const preset& preset_by_name(std::string_view name) {
    for (const auto& p : presets)
        if (p.name == name) return p;
    throw imbdef::error("preset", "one of tiny, cpu64, lite128, paper256", "'" + std::string(name) + "'");
}

}  // namespace imbdef::models
