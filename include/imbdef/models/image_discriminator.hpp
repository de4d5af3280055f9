#pragma once
// The image discriminator: StyleGAN2's residual discriminator as StyleGAN3 trains it
// (reference/stylegan3.md section 4), assembled from nn modules by the block schedule.
//
//   fromrgb   1x1 conv, lrelu, clamp 256
//   blocks    b0 .. (resolutions R .. 8): residual of
//               main: conv0 3x3 lrelu clamp 256, conv1 3x3 down 2 lrelu gain sqrt(1/2) clamp 256
//               skip: 1x1 down 2 linear, no bias, gain sqrt(1/2)
//   epilogue  minibatch std (group 4, 1 channel), conv 3x3 (C + 1 -> C) lrelu clamp 256, flatten,
//             fc (16 C -> C) lrelu, out (C -> 1) linear
// Parameter names: "fromrgb.weight", "blocks.b0.main.conv0.weight", "blocks.b0.skip.weight",
// "epilogue.fc.bias", ... (prefixed by the registry's scope). Every module has the tangent passes,
// so policies/r1_penalty.hpp computes R1 exactly.

#include <cmath>
#include <vector>

#include "../nn/conv_layer.hpp"
#include "../nn/flatten.hpp"
#include "../nn/fully_connected_layer.hpp"
#include "../nn/minibatch_std_layer.hpp"
#include "../nn/repeat.hpp"
#include "../nn/residual.hpp"
#include "../nn/sequential.hpp"
#include "discriminator_schedule.hpp"

namespace imbdef::models {

using discriminator_block_main = nn::sequential<nn::named<"conv0", nn::conv_layer>, nn::named<"conv1", nn::conv_layer>>;
using discriminator_block = nn::residual<discriminator_block_main, nn::conv_layer>;

using discriminator_epilogue =
    nn::sequential<nn::named<"mbstd", nn::minibatch_std_layer>, nn::named<"conv", nn::conv_layer>,
                   nn::named<"flatten", nn::flatten>, nn::named<"fc", nn::fully_connected_layer>,
                   nn::named<"out", nn::fully_connected_layer>>;

using image_discriminator =
    nn::sequential<nn::named<"fromrgb", nn::conv_layer>, nn::named<"blocks", nn::repeat<discriminator_block, "b">>,
                   nn::named<"epilogue", discriminator_epilogue>>;

inline constexpr double discriminator_conv_clamp = 256.0;

inline image_discriminator make_image_discriminator(const discriminator_config& c) {
    const discriminator_schedule s = make_discriminator_schedule(c);
    const double half = std::sqrt(0.5);
    const auto lrelu = ops::activation::lrelu, linear = ops::activation::linear;
    const nn::conv_layer fromrgb{c.in_channels, s.blocks.front().in_channels, 1, true, lrelu, 1.0, discriminator_conv_clamp, 1};
    std::vector<discriminator_block> blocks;
    for (const auto& b : s.blocks) {
        const nn::conv_layer conv0{b.in_channels, b.in_channels, 3, true, lrelu, 1.0, discriminator_conv_clamp, 1};
        const nn::conv_layer conv1{b.in_channels, b.out_channels, 3, true, lrelu, half, discriminator_conv_clamp, 2};
        const nn::conv_layer skip{b.in_channels, b.out_channels, 1, false, linear, half, std::nullopt, 2};
        blocks.emplace_back(discriminator_block_main(conv0, conv1), skip);
    }
    const core::index_t ch = s.epilogue_channels;
    nn::minibatch_std_layer mbstd;
    mbstd.params.group_size = c.mbstd_group;
    mbstd.params.num_channels = c.mbstd_channels;
    const nn::conv_layer conv{ch + c.mbstd_channels, ch, 3, true, lrelu, 1.0, discriminator_conv_clamp, 1};
    nn::fully_connected_layer fc{ch * 16, ch, {}, true, 0.0, false};
    fc.params.act = lrelu;
    nn::fully_connected_layer out{ch, 1, {}, true, 0.0, false};
    return image_discriminator(fromrgb, nn::repeat<discriminator_block, "b">(std::move(blocks)),
                               discriminator_epilogue(mbstd, conv, nn::flatten{}, fc, out));
}

}  // namespace imbdef::models
