// The stage-2 trainer on a tiny stage-1 run: steps run with every term finite, the frozen
// background never changes, a resumed run continues bit for bit, a checkpoint made on another
// stage-1 file is refused, and the defect sampler loads what it writes.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include <imbdef/train/background_trainer.hpp>
#include <imbdef/train/defect_sampler.hpp>
#include <imbdef/train/defect_trainer.hpp>

#include "../support/temp_dir.hpp"

using namespace imbdef;

namespace {

// Real defects with a known answer: a bright rectangle (the defect) on a grey gradient; class 1's
// rectangles are wide, class 0's tall. Deterministic in the number of batches served.
struct rectangle_defects {
    std::uint64_t served = 0;
    void next(core::view<float> images, core::view<float> masks, std::span<int> classes) {
        const core::index_t n = images.size(0), c = images.size(1), r = images.size(2);
        for (core::index_t i = 0; i < n; ++i) {
            const core::philox_stream rng{.seed = 99, .stream = served * 64 + static_cast<std::uint64_t>(i)};
            const int cls = static_cast<int>(rng.bits(0) % 2);
            classes[static_cast<std::size_t>(i)] = cls;
            const core::index_t h = cls ? 4 : 10, w = cls ? 10 : 4;
            const core::index_t y0 = 4 + static_cast<core::index_t>(rng.bits(1) % static_cast<std::uint32_t>(r - h - 8));
            const core::index_t x0 = 4 + static_cast<core::index_t>(rng.bits(2) % static_cast<std::uint32_t>(r - w - 8));
            for (core::index_t y = 0; y < r; ++y)
                for (core::index_t x = 0; x < r; ++x) {
                    const bool in = y >= y0 && y < y0 + h && x >= x0 && x < x0 + w;
                    masks(i, 0, y, x) = in ? 1.0f : -1.0f;
                    for (core::index_t k = 0; k < c; ++k) images(i, k, y, x) = in ? 0.9f : -0.5f + 0.02f * static_cast<float>(x);
                }
        }
        ++served;
    }
};

// A stage-1 checkpoint from the real stage-1 trainer (two steps: what matters is its format).
struct stage1_background {
    std::uint64_t served = 0;
    void next(core::view<float> images, core::view<float> masks) {
        core::fill_uniform(images, core::philox_stream{.seed = 5, .stream = served++}, 0, -1.0f, 1.0f);
        for (float& v : masks) v = 1.0f;
    }
};
void write_stage1(const std::filesystem::path& path, std::uint64_t seed) {
    train::background_training_options o;
    o.preset = "tiny";
    o.batch = 4;
    o.seed = seed;
    o.total_kimg = 1;
    train::background_trainer t(o);
    stage1_background reals;
    t.step(reals);
    t.step(reals);
    t.save(path);
}

train::defect_training_options options(const std::filesystem::path& stage1) {
    train::defect_training_options o;
    o.background_checkpoint = stage1;
    o.class_names = {"tall", "wide"};
    o.batch = 4;
    o.total_kimg = 1;
    o.r1_interval = 2;
    return o;
}

std::vector<float> values(const nn::parameter_store<float>& s) {
    std::vector<float> v(s.parameters().begin(), s.parameters().end());
    v.insert(v.end(), s.buffers().begin(), s.buffers().end());
    return v;
}

}  // namespace

TEST_CASE("stage 2 trains on a frozen stage 1: every term finite, the frozen background never changes") {
    test_support::temp_dir dir;
    write_stage1(dir / "stage1.safetensors", 1);
    train::defect_trainer t(options(dir / "stage1.safetensors"));
    const std::vector<float> frozen(t.generator_parameters().buffers().begin(), t.generator_parameters().buffers().end());
    rectangle_defects reals;
    for (int i = 0; i < 4; ++i) {
        const auto s = t.step(reals);
        CAPTURE(i);
        for (double v : {s.loss_g, s.loss_g_img, s.loss_g_match, s.loss_esl, s.loss_rcl, s.loss_d_img, s.loss_d_match, s.loss_d_shuffled})
            CHECK(std::isfinite(v));
        CHECK(s.loss_esl > 0);
        CHECK(s.r1_img.has_value() == (i % 2 == 0));
    }
    // Every buffer is frozen except the branch's own magnitude EMAs, which nothing updates either.
    CHECK(std::equal(frozen.begin(), frozen.end(), t.generator_parameters().buffers().begin()));
    CHECK(t.images_seen() == 16);
}

TEST_CASE("a resumed stage-2 run continues bit for bit; another stage-1 file is refused") {
    test_support::temp_dir dir;
    write_stage1(dir / "stage1.safetensors", 1);
    rectangle_defects straight_reals;
    train::defect_trainer straight(options(dir / "stage1.safetensors"));
    for (int i = 0; i < 3; ++i) straight.step(straight_reals);
    straight.save(dir / "mid.safetensors");
    for (int i = 0; i < 2; ++i) straight.step(straight_reals);

    train::defect_trainer resumed(options(dir / "stage1.safetensors"));
    resumed.load(dir / "mid.safetensors");
    rectangle_defects resumed_reals{.served = 3};
    for (int i = 0; i < 2; ++i) resumed.step(resumed_reals);
    CHECK(values(resumed.generator_parameters()) == values(straight.generator_parameters()));
    CHECK(values(resumed.generator_ema()) == values(straight.generator_ema()));
    CHECK(values(resumed.matching_discriminator_parameters()) == values(straight.matching_discriminator_parameters()));
    CHECK(values(resumed.image_discriminator_parameters()) == values(straight.image_discriminator_parameters()));

    write_stage1(dir / "other_stage1.safetensors", 2);
    train::defect_trainer other(options(dir / "other_stage1.safetensors"));
    CHECK_THROWS_WITH_AS(other.load(dir / "mid.safetensors"), doctest::Contains("background_checkpoint_hash"), imbdef::error);

    // The defect sampler reads what the trainer writes.
    auto sampler = train::defect_sampler::load(dir / "mid.safetensors");
    CHECK(sampler.class_names() == std::vector<std::string>{"tall", "wide"});
    auto batch = sampler.make_batch(2);
    sampler.generate(1, 0, sampler.all_classes(), batch);
    for (float v : batch.image) REQUIRE(std::isfinite(v));
}

TEST_CASE("initial_mask_area: the to-mask bias starts where the masks cover that share of the image, deterministically") {
    test_support::temp_dir dir;
    write_stage1(dir / "stage1.safetensors", 1);
    auto o = options(dir / "stage1.safetensors");
    train::defect_trainer plain(o);  // METHOD.md's zero bias
    const double plain_area = plain.mask_area_now();
    for (const double want : {0.02, 0.08}) {
        CAPTURE(want);
        o.initial_mask_area = want;
        train::defect_trainer t(o);
        const double area = t.mask_area_now();
        CHECK(area > want / 2);
        CHECK(area < want * 2);
        CHECK(std::abs(area - want) < std::abs(plain_area - want));
        // The calibrated bias is G's and G_ema's start, and the same on every construction.
        CHECK(values(t.generator_parameters()) == values(t.generator_ema()));
        train::defect_trainer again(o);
        CHECK(values(again.generator_parameters()) == values(t.generator_parameters()));
        rectangle_defects reals;
        const auto s = t.step(reals);
        CHECK(std::isfinite(s.loss_g));
    }
    o.initial_mask_area = 1.0;
    CHECK_THROWS_WITH_AS(train::defect_trainer{o}, doctest::Contains("initial_mask_area"), imbdef::error);
}

TEST_CASE("bad stage-2 options are named") {
    test_support::temp_dir dir;
    write_stage1(dir / "stage1.safetensors", 1);
    auto o = options(dir / "stage1.safetensors");
    o.batch = 3;
    CHECK_THROWS_WITH_AS(train::defect_trainer{o}, doctest::Contains("even batch"), imbdef::error);
    o = options(dir / "missing.safetensors");
    CHECK_THROWS_AS(train::defect_trainer{o}, imbdef::error);
}
