#pragma once
// imbdef info --preset P: the layer tables of a preset's networks, with parameters and FLOPs.

#include <cstdio>
#include <string>

#include <imbdef/models/cost.hpp>
#include <imbdef/models/defect_generator.hpp>
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

// The defect generator's table: the background pass it shares, then what the defect path adds
// per image and per defect pass, and the ratio of the two (what one pass costs over background only).
inline void print_defect_info(const std::string& preset_name, int channels, int classes, int start_layer = -1) {
    namespace models = imbdef::models;
    const auto& p = models::preset_by_name(preset_name);
    auto config = models::defect_generator_config_for(p, channels, classes);
    config.start_layer = start_layer;
    const models::defect_generator g(config);
    const auto& s = g.background().schedule();
    const int start = g.start_layer();
    std::printf("preset %s, stage 2: defect generator on the frozen background generator; branch from L%d "
                "(output sampling rate %.0f of %d px), %d defect class(es)\n",
                std::string(p.name).c_str(), start, s.layers[static_cast<std::size_t>(start)].out_sampling_rate, p.resolution,
                classes);
    const auto background = models::generator_costs(s, p.latent_dim, p.latent_dim);
    const auto defect = models::defect_path_costs(s, start, p.latent_dim, p.latent_dim, classes);
    print_cost_table("background pass (frozen, shared; image channels + valid-region mask), per image", background);
    print_cost_table("defect path (trained parameters; 'again': frozen layers re-run on blended features), per image and pass",
                     defect);
    const double b = models::total_cost(background).mac_total(), d = models::total_cost(defect).mac_total();
    std::printf("\nbackground + one defect pass: %.1f MFLOP per image, %.3fx the background alone\n", 2e-6 * (b + d), (b + d) / b);
}

}  // namespace imbdef_cli
