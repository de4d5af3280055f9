#pragma once
// imbdef info --preset P: the layer tables of a preset's networks, with parameters and FLOPs.

#include <cstdio>
#include <string>

#include <imbdef/models/cost.hpp>
#include <imbdef/models/presets.hpp>

namespace imbdef_cli {

inline void print_cost_table(const char* title, const std::vector<imbdef::models::layer_cost>& rows) {
    std::printf("\n%s\n", title);
    std::printf("  %-14s %-46s %12s %12s %12s\n", "layer", "shape", "params", "MFLOP conv", "MFLOP total");
    for (const auto& r : rows)
        std::printf("  %-14s %-46s %12lld %12.1f %12.1f\n", r.name.c_str(), r.shape.c_str(), r.params, 2e-6 * r.mac_conv,
                    2e-6 * r.mac_total());
    const auto t = imbdef::models::total_cost(rows);
    std::printf("  %-14s %-46s %12lld %12.1f %12.1f\n", "total", "", t.params, 2e-6 * t.mac_conv, 2e-6 * t.mac_total());
}

inline void print_info(const std::string& preset_name, int channels) {
    namespace models = imbdef::models;
    const auto& p = models::preset_by_name(preset_name);
    std::printf("preset %s: %d px, z = w = %d, channel base %d, max %d, %d synthesis layers (%s)\n",
                std::string(p.name).c_str(), p.resolution, p.latent_dim, p.channel_base, p.channel_max, p.num_layers,
                std::string(p.purpose).c_str());
    print_cost_table("background generator (image channels + the valid-region mask channel), per image",
                     models::generator_costs(models::make_synthesis_schedule(p.synthesis(channels)), p.latent_dim, p.latent_dim));
    print_cost_table("image discriminator, per image",
                     models::discriminator_costs(models::make_discriminator_schedule(p.image_discriminator(channels)), channels));
    print_cost_table("matching discriminator (image + soft mask), per image",
                     models::discriminator_costs(models::make_discriminator_schedule(p.matching_discriminator(channels)),
                                                 channels + 1));
}

}  // namespace imbdef_cli
