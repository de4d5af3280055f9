// Loading a stage-1 checkpoint, frozen, into the defect generator: the values land under
// "background.", the branch's buffers start from the backbone's, and anything that is not a
// matching stage-1 checkpoint is refused by name with the parameters left untouched.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include <imbdef/models/defect_generator.hpp>
#include <imbdef/train/checkpoint.hpp>
#include <imbdef/train/frozen_background.hpp>

#include "../support/temp_dir.hpp"

using namespace imbdef;

namespace {

// A stage-1 checkpoint as the background trainer writes it: G and G_ema groups and the metadata
// the loader reads (kind, preset, image channels).
void write_stage1(const std::filesystem::path& path, const std::string& preset, int channels, std::uint64_t seed,
                  const std::string& kind = "imbdef.background") {
    models::background_generator g(models::background_generator_config_for(models::preset_by_name(preset), channels));
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<float> w(layout), ema(layout);
    w.initialize(seed);
    ema.initialize(seed + 1);
    for (float& v : ema.buffers()) v += 0.25f;  // magnitude EMAs away from their initial 1
    train::checkpoint_writer cw;
    cw.add_group("G", w);
    cw.add_group("G_ema", ema);
    cw.set_json_metadata({{"kind", kind}, {"config", {{"preset", preset}, {"image_channels", channels}}}});
    cw.write(path);
}

struct defect_network {
    models::defect_generator g;
    nn::parameter_layout layout;
    std::unique_ptr<nn::parameter_store<float>> store;
    explicit defect_network(const std::string& preset, int channels)
        : g(models::defect_generator_config_for(models::preset_by_name(preset), channels, 2)) {
        g.declare(nn::registry(layout));
        store = std::make_unique<nn::parameter_store<float>>(layout);
        store->initialize(7);
    }
    std::vector<float> buffers() const { return {store->buffers().begin(), store->buffers().end()}; }
};

}  // namespace

TEST_CASE("a stage-1 checkpoint loads, frozen, under 'background.', and the branch's buffers start from it") {
    test_support::temp_dir dir;
    write_stage1(dir / "stage1.safetensors", "tiny", 3, 11);
    defect_network net("tiny", 3);
    train::load_frozen_background(net.g, net.store->views(), dir / "stage1.safetensors");

    models::background_generator g(models::background_generator_config_for(models::preset_by_name("tiny"), 3));
    nn::parameter_layout layout;
    g.declare(nn::registry(layout));
    nn::parameter_store<float> ema(layout);
    train::checkpoint_reader(dir / "stage1.safetensors").load_group("G_ema", ema);
    const auto mine = std::as_const(*net.store).views();
    for (const auto& e : layout.entries()) {
        const auto a = std::as_const(ema).views()[e.name];
        const auto b = mine["background." + e.name];
        REQUIRE(a.numel() == b.numel());
        CHECK_MESSAGE(std::equal(a.begin(), a.end(), b.begin()), e.name);
    }
    const int s = net.g.start_layer();
    for (int j = s; j < 4; ++j) {
        const std::string L = "L" + std::to_string(j);
        CHECK(mine["branch." + L + ".magnitude_ema"][0] == mine["background.synthesis." + L + ".magnitude_ema"][0]);
    }
    CHECK(mine["to_mask.magnitude_ema"][0] == mine["background.synthesis.L" + std::to_string(s + 1) + ".magnitude_ema"][0]);
}

TEST_CASE("what is not a matching stage-1 checkpoint is refused by name, and nothing is written") {
    test_support::temp_dir dir;
    write_stage1(dir / "other_kind.safetensors", "tiny", 3, 1, "imbdef.defect");
    write_stage1(dir / "other_preset.safetensors", "cpu64", 3, 1);
    write_stage1(dir / "other_channels.safetensors", "tiny", 1, 1);
    defect_network net("tiny", 3);
    const std::vector<float> before = net.buffers();
    CHECK_THROWS_WITH_AS(train::load_frozen_background(net.g, net.store->views(), dir / "other_kind.safetensors"),
                         doctest::Contains("found kind \"imbdef.defect\""), imbdef::error);
    CHECK_THROWS_WITH_AS(train::load_frozen_background(net.g, net.store->views(), dir / "other_preset.safetensors"),
                         doctest::Contains("found preset cpu64"), imbdef::error);
    CHECK_THROWS_WITH_AS(train::load_frozen_background(net.g, net.store->views(), dir / "other_channels.safetensors"),
                         doctest::Contains("1 image channel(s)"), imbdef::error);
    CHECK_THROWS_AS(train::load_frozen_background(net.g, net.store->views(), dir / "missing.safetensors"), imbdef::error);
    CHECK(net.buffers() == before);
}
