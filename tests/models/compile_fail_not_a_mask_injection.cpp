// A matching discriminator over something that is not a mask-injection policy must stop at one
// readable message.
#include <imbdef/models/matching_discriminator.hpp>

struct not_a_mask_injection {
    static constexpr int extra_channels = 1;  // no name, no context, no passes
};

auto broken = imbdef::models::make_matching_discriminator<not_a_mask_injection>(imbdef::models::discriminator_config{});
