// Sampling a stage-2 checkpoint: it loads only what is one, every sample is reproducible from its
// seed alone, its background is stage 1's image for the same seed, and classes are painted as asked.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include <imbdef/train/background_sampler.hpp>
#include <imbdef/train/checkpoint.hpp>
#include <imbdef/train/defect_sampler.hpp>

#include "../support/temp_dir.hpp"

using namespace imbdef;

namespace {

// A stage-2 checkpoint as the defect trainer writes it: the defect generator's layout in G and
// G_ema, metadata of kind imbdef.defect.
void write_defect_checkpoint(const std::filesystem::path& path, const std::vector<std::string>& classes,
                             const std::string& kind = "imbdef.defect") {
    train::defect_sampler s("tiny", 3, classes);
    s.parameters().initialize(5);
    s.generator().initialize_from_background(s.parameters().views());
    train::checkpoint_writer w;
    w.add_group("G", s.parameters());
    w.add_group("G_ema", s.parameters());
    w.set_json_metadata({{"kind", kind},
                         {"config", {{"preset", "tiny"}, {"image_channels", 3}, {"classes", classes}, {"start_layer", -1}}},
                         {"class_area", {{0.01, 0.2}, {0.002, 0.05}}}});
    w.write(path);
}

bool same(const core::tensor<float>& a, const core::tensor<float>& b, core::index_t offset_a, core::index_t offset_b, core::index_t count) {
    return std::equal(a.data() + offset_a, a.data() + offset_a + count, b.data() + offset_b);
}

}  // namespace

TEST_CASE("a stage-2 checkpoint loads; samples are reproducible alone and in any batch") {
    test_support::temp_dir dir;
    write_defect_checkpoint(dir / "defect.safetensors", {"crack", "hole"});
    auto s = train::defect_sampler::load(dir / "defect.safetensors");
    CHECK(s.num_classes() == 2);
    CHECK(s.class_index("hole") == 1);
    CHECK(s.class_area().size() == 2);
    auto batch = s.make_batch(4, 2);
    const auto all = s.all_classes();
    s.generate(9, 10, all, batch);
    CHECK(batch.classes == std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1});
    // Sample 12 alone (index 2 of the batch).
    auto one = s.make_batch(1, 2);
    s.generate(9, 12, all, one);
    const core::index_t img = one.image.numel(), msk = one.mask.numel();
    CHECK(same(batch.image, one.image, 2 * img, 0, img));
    CHECK(same(batch.mask_logit, one.mask_logit, 2 * msk, 0, msk));
    CHECK(same(batch.background, one.background, 2 * img, 0, img));
    // A different seed gives a different sample.
    s.generate(10, 12, all, one);
    CHECK_FALSE(same(batch.image, one.image, 2 * img, 0, img));
}

TEST_CASE("the background of sample i is stage 1's image i for the same seed and weights") {
    test_support::temp_dir dir;
    write_defect_checkpoint(dir / "defect.safetensors", {"scratch"});
    auto s = train::defect_sampler::load(dir / "defect.safetensors");
    train::background_sampler stage1("tiny", 3);
    for (const auto& e : stage1.parameters().layout().entries())
        core::copy(core::const_view<float>(std::as_const(s.parameters()).views()["background." + e.name]), stage1.parameters().views()[e.name]);
    auto batch = s.make_batch(3);
    const std::vector<int> only{0};
    s.generate(4, 0, only, batch);
    core::tensor<float> images({3, 3, 32, 32}), masks({3, 1, 32, 32});
    stage1.generate(4, 0, images.view(), masks.view());
    CHECK(std::equal(images.begin(), images.end(), batch.background.begin()));
    CHECK(std::equal(masks.begin(), masks.end(), batch.valid_region.begin()));
}

TEST_CASE("what is not a stage-2 checkpoint, an unknown class, or a bad batch is refused by name") {
    test_support::temp_dir dir;
    write_defect_checkpoint(dir / "other.safetensors", {"crack"}, "imbdef.background");
    CHECK_THROWS_WITH_AS(train::defect_sampler::load(dir / "other.safetensors"), doctest::Contains("kind \"imbdef.background\""),
                         imbdef::error);
    write_defect_checkpoint(dir / "defect.safetensors", {"crack", "hole"});
    auto s = train::defect_sampler::load(dir / "defect.safetensors");
    CHECK_THROWS_WITH_AS(s.class_index("stain"), doctest::Contains("crack, hole"), imbdef::error);
    CHECK_THROWS_AS(s.make_batch(0), imbdef::error);
    CHECK_THROWS_AS(s.make_batch(2, 65), imbdef::error);
    auto b = s.make_batch(2);
    const std::vector<int> bad{2};
    CHECK_THROWS_WITH_AS(s.generate(1, 0, bad, b), doctest::Contains("classes in [0, 2)"), imbdef::error);
    CHECK_THROWS_WITH_AS(train::defect_sampler("tiny", 3, {"a", "a"}), doctest::Contains("'a' twice"), imbdef::error);
}
