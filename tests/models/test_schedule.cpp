// The synthesis schedule against the reference tables (reference/stylegan3.md sections 3.1, 8, 11).
#include <doctest/doctest.h>

#include <vector>

#include <imbdef/models/cost.hpp>
#include <imbdef/models/discriminator_schedule.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/models/synthesis_schedule.hpp>

using namespace imbdef::models;

namespace {
// Parameters of StyleGAN3's generator from the schedule: mapping (depth 2), input, layers.
long long generator_parameters(const synthesis_schedule& s, int z_dim, int w_dim) {
    long long total = (static_cast<long long>(z_dim) * w_dim + w_dim) + (static_cast<long long>(w_dim) * w_dim + w_dim);
    total += 4LL * w_dim + 4 + static_cast<long long>(s.input.channels) * s.input.channels;
    for (const auto& L : s.layers) total += L.parameter_count(w_dim);
    return total;
}
}  // namespace

TEST_CASE("T-256: sizes, sampling rates, channels, factors, paddings of every layer") {
    const auto s = make_synthesis_schedule({});
    REQUIRE(s.layers.size() == 15);
    CHECK(s.input.size == 36);
    CHECK(s.input.sampling_rate == 16);
    CHECK(s.input.bandwidth == 2);
    const std::vector<int> out_size = {36, 36, 36, 52, 52, 84, 84, 148, 148, 148, 276, 276, 276, 256, 256};
    const std::vector<int> out_rate = {16, 16, 16, 32, 32, 64, 64, 128, 128, 128, 256, 256, 256, 256, 256};
    const std::vector<int> out_ch = {512, 512, 512, 512, 512, 512, 512, 512, 512, 362, 256, 181, 128, 128, 3};
    const std::vector<int> up_size = {82, 82, 82, 114, 114, 178, 178, 306, 306, 306, 562, 562, 562, 522, 256};
    for (int i = 0; i <= 14; ++i) {
        const auto& L = s.layers[static_cast<std::size_t>(i)];
        INFO("layer " << i);
        CHECK(L.out_size == out_size[static_cast<std::size_t>(i)]);
        CHECK(L.out_sampling_rate == out_rate[static_cast<std::size_t>(i)]);
        CHECK(L.out_channels == out_ch[static_cast<std::size_t>(i)]);
        CHECK(L.up_size == up_size[static_cast<std::size_t>(i)]);
    }
    const auto& L3 = s.layers[3];
    CHECK(L3.up == 4);
    CHECK(L3.down == 2);
    CHECK(L3.up_taps == 24);
    CHECK(L3.pad_lo == -6);
    CHECK(L3.pad_hi == -9);
    CHECK(s.layers[0].pad_lo == 9);
    CHECK(s.layers[0].pad_hi == 8);
    CHECK(s.layers[13].pad_lo == -11);  // floor division: Python's -11, not C++'s -10
    CHECK(s.layers[13].pad_hi == -12);
    CHECK(s.layers[14].is_torgb);
    CHECK(s.layers[14].kernel == 1);
    CHECK(s.layers[14].up_taps == 1);
    CHECK(s.layers[12].is_critically_sampled);
    CHECK_FALSE(s.layers[11].is_critically_sampled);
    CHECK(s.layers[9].out_stopband == doctest::Approx(64.0));  // the 2^7 = 128 sampling-rate pitfall
    CHECK(s.layers[1].out_cutoff == doctest::Approx(2.828).epsilon(1e-3));
    CHECK(s.layers[5].out_half_width == doctest::Approx(20.686).epsilon(1e-4));
    CHECK(generator_parameters(s, 512, 512) == 28472133);
}

TEST_CASE("lite variants and imbdef's presets reproduce the official parameter counts") {
    synthesis_config lite64;
    lite64.resolution = 64;
    lite64.channel_base = 8192;
    lite64.channel_max = 256;
    lite64.num_layers = 8;
    const auto s64 = make_synthesis_schedule(lite64);
    CHECK(generator_parameters(s64, 512, 512) == 5416605);
    CHECK(generator_parameters(s64, 256, 256) == 4511133);
    CHECK(s64.layers[5].out_channels == 203);
    CHECK(s64.layers[7].pad_lo == -11);

    synthesis_config lite128 = lite64;
    lite128.resolution = 128;
    CHECK(generator_parameters(make_synthesis_schedule(lite128), 256, 256) == 3780951);

    synthesis_config cpu64;
    cpu64.resolution = 64;
    cpu64.channel_base = 4096;
    cpu64.channel_max = 128;
    cpu64.num_layers = 6;
    const auto sc = make_synthesis_schedule(cpu64);
    CHECK(generator_parameters(sc, 256, 256) == 1047623);
    const std::vector<int> out_size = {36, 36, 52, 84, 84, 64, 64};
    for (std::size_t i = 0; i < out_size.size(); ++i) CHECK(sc.layers[i].out_size == out_size[i]);
    CHECK(sc.layers[2].up == 4);
    CHECK(sc.layers[4].out_channels == 64);

    synthesis_config tiny;
    tiny.resolution = 32;
    tiny.channel_base = 1024;
    tiny.channel_max = 32;
    tiny.num_layers = 4;
    CHECK(generator_parameters(make_synthesis_schedule(tiny), 64, 64) == 57095);

    synthesis_config paper256;
    paper256.channel_base = 16384;
    paper256.num_layers = 10;
    CHECK(generator_parameters(make_synthesis_schedule(paper256), 512, 512) == 16706325);
}

TEST_CASE("the mask channel is one more output channel of the last layer") {
    synthesis_config c;
    c.resolution = 32;
    c.channel_base = 1024;
    c.channel_max = 32;
    c.num_layers = 4;
    c.image_channels = 1;
    c.mask_channels = 1;
    CHECK(make_synthesis_schedule(c).layers.back().out_channels == 2);
}

TEST_CASE("bad configurations name what is wrong") {
    synthesis_config c;
    c.resolution = 100;
    CHECK_THROWS_WITH_AS(make_synthesis_schedule(c), doctest::Contains("power-of-two resolution"), imbdef::error);
    c.resolution = 64;
    c.num_critical = 14;
    CHECK_THROWS_WITH_AS(make_synthesis_schedule(c), doctest::Contains("num_critical"), imbdef::error);
}

TEST_CASE("discriminator blocks and parameter counts match the official networks") {
    const auto t256 = make_discriminator_schedule({});
    REQUIRE(t256.blocks.size() == 6);  // 256 .. 8
    CHECK(t256.blocks[0].in_channels == 128);
    CHECK(t256.blocks[0].out_channels == 256);
    CHECK(t256.blocks[0].parameter_count(3) == 476032);
    CHECK(t256.epilogue_parameter_count(1) == 6559745);
    CHECK(t256.parameter_count(3, 1) == 28864129);

    struct row {
        int res, cbase, cmax;
        long long params;
    };
    for (const row r : {row{256, 16384, 512, 24001089}, row{64, 8192, 256, 5854593}, row{128, 8192, 256, 5973313},
                        row{64, 4096, 128, 1465025}, row{32, 1024, 32, 84673}}) {
        discriminator_config c;
        c.resolution = r.res;
        c.channel_base = r.cbase;
        c.channel_max = r.cmax;
        INFO("resolution " << r.res << ", cbase " << r.cbase);
        CHECK(make_discriminator_schedule(c).parameter_count(3, 1) == r.params);
    }
}

TEST_CASE("presets: the METHOD.md table, and a clear error for an unknown name") {
    const auto& cpu64 = preset_by_name("cpu64");
    CHECK(cpu64.resolution == 64);
    CHECK(cpu64.latent_dim == 256);
    const auto s = make_synthesis_schedule(cpu64.synthesis(3));
    CHECK(s.layers.back().out_channels == 4);  // RGB + the valid-region mask logit
    CHECK(make_discriminator_schedule(cpu64.matching_discriminator(3)).blocks[0].in_channels == 16);  // 1024 / 64
    CHECK_THROWS_WITH_AS(preset_by_name("huge"), doctest::Contains("one of tiny, cpu64, lite128, paper256"), imbdef::error);
}

TEST_CASE("per-layer costs add up to the reference totals") {
    const auto g256 = total_cost(generator_costs(make_synthesis_schedule({}), 512, 512));
    CHECK(g256.params == 28472133);
    CHECK(g256.mac_total() == doctest::Approx(238.66e9).epsilon(0.01));
    const auto d256 = total_cost(discriminator_costs(make_discriminator_schedule({}), 3));
    CHECK(d256.params == 28864129);
    CHECK(d256.mac_total() == doctest::Approx(46.84e9).epsilon(0.01));
    synthesis_config lite64;
    lite64.resolution = 64;
    lite64.channel_base = 8192;
    lite64.channel_max = 256;
    lite64.num_layers = 8;
    CHECK(total_cost(generator_costs(make_synthesis_schedule(lite64), 512, 512)).mac_total() ==
          doctest::Approx(12.89e9).epsilon(0.01));
    discriminator_config d64;
    d64.resolution = 64;
    d64.channel_base = 8192;
    d64.channel_max = 256;
    CHECK(total_cost(discriminator_costs(make_discriminator_schedule(d64), 3)).mac_total() == doctest::Approx(1.98e9).epsilon(0.01));
}
