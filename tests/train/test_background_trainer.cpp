// The stage-1 trainer: bit-exact resume, refusal of foreign or damaged checkpoints, the
// non-finite guard, the sampler, and that training on the synthetic data makes samples more
// realistic by SWD (the judged test of issue 5).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <imbdef/core/parallel.hpp>
#include <imbdef/data/background_loader.hpp>
#include <imbdef/data/synthetic.hpp>
#include <imbdef/metrics/swd.hpp>
#include <imbdef/train/background_sampler.hpp>
#include <imbdef/train/background_trainer.hpp>

#include "../support/temp_dir.hpp"

using namespace imbdef;
namespace fs = std::filesystem;

namespace {

// Real batches from memory: batch k holds samples (k N + i) mod M; smooth blobs on a backdrop
// with a disc-shaped valid region, so that there is structure to learn.
struct memory_source {
    core::tensor<float> images, masks;  // [M, C, R, R], [M, 1, R, R]
    std::uint64_t served = 0;
    bool poison = false;

    memory_source(core::index_t m, core::index_t c, core::index_t r) : images({m, c, r, r}), masks({m, 1, r, r}) {
        for (core::index_t s = 0; s < m; ++s)
            for (core::index_t y = 0; y < r; ++y)
                for (core::index_t x = 0; x < r; ++x) {
                    const double dx = (static_cast<double>(x) + 0.5) / static_cast<double>(r) - 0.5,
                                 dy = (static_cast<double>(y) + 0.5) / static_cast<double>(r) - 0.5;
                    const bool inside = dx * dx + dy * dy < 0.16;
                    masks(s, 0, y, x) = inside ? 1.0f : -1.0f;
                    for (core::index_t k = 0; k < c; ++k)
                        images(s, k, y, x) = static_cast<float>(
                            inside ? 0.5 * std::sin(6.0 * dx + 0.7 * static_cast<double>(s) + static_cast<double>(k)) *
                                         std::cos(5.0 * dy - 0.3 * static_cast<double>(s))
                                   : -0.8);
                }
    }
    void next(core::view<float> img, core::view<float> msk) {
        const core::index_t n = img.size(0), m = images.size(0), per = images.numel() / m, mper = masks.numel() / m;
        for (core::index_t i = 0; i < n; ++i) {
            const core::index_t s = static_cast<core::index_t>((served * static_cast<std::uint64_t>(n) + i) % m);
            std::copy_n(images.data() + s * per, per, img.data() + i * per);
            std::copy_n(masks.data() + s * mper, mper, msk.data() + i * mper);
        }
        if (poison) img[0] = std::nanf("");
        ++served;
    }
    void seek(std::uint64_t k) { served = k; }
};

train::background_training_options tiny_options(std::uint64_t seed = 3) {
    train::background_training_options o;
    o.preset = "tiny";
    o.image_channels = 1;
    o.batch = 4;
    o.total_kimg = 0.1;
    o.seed = seed;
    o.r1_interval = 2;  // R1 steps inside a short run
    o.ada_initial_p = 0.4;  // exercise the augmentation from the first step
    return o;
}

bool same_bits(const nn::parameter_store<float>& a, const nn::parameter_store<float>& b) {
    for (auto role : {nn::tensor_role::parameter, nn::tensor_role::buffer}) {
        const auto x = a.views().flat(role), y = b.views().flat(role);
        if (x.numel() != y.numel()) return false;
        if (x.numel() > 0 && std::memcmp(x.data(), y.data(), static_cast<std::size_t>(x.bytes())) != 0) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("resume: N steps straight equal N/2, save, load into a new trainer, N/2 (bit for bit)") {
    test_support::temp_dir dir("imbdef_test_trainer");
    const int n = 6;
    train::background_trainer straight(tiny_options());
    memory_source src_a(12, 1, 32);
    std::vector<train::background_step_stats> stats_a;
    for (int i = 0; i < n; ++i) stats_a.push_back(straight.step(src_a));

    train::background_trainer first(tiny_options());
    memory_source src_b(12, 1, 32);
    for (int i = 0; i < n / 2; ++i) first.step(src_b);
    first.save(dir / "half.safetensors");

    train::background_trainer resumed(tiny_options());
    resumed.load(dir / "half.safetensors");
    CHECK(resumed.steps_done() == n / 2);
    CHECK(resumed.images_seen() == first.images_seen());
    memory_source src_c(12, 1, 32);
    src_c.seek(static_cast<std::uint64_t>(resumed.steps_done()));
    train::background_step_stats last{};
    for (int i = n / 2; i < n; ++i) last = resumed.step(src_c);

    CHECK(last.loss_g == stats_a.back().loss_g);
    CHECK(last.loss_d_img == stats_a.back().loss_d_img);
    CHECK(last.ada_p == stats_a.back().ada_p);
    CHECK(same_bits(straight.generator_parameters(), resumed.generator_parameters()));
    CHECK(same_bits(straight.generator_ema(), resumed.generator_ema()));
    CHECK(same_bits(straight.image_discriminator_parameters(), resumed.image_discriminator_parameters()));
    CHECK(same_bits(straight.matching_discriminator_parameters(), resumed.matching_discriminator_parameters()));
    // The run did something: R1 ran, the losses are finite, the parameters moved.
    CHECK(stats_a[0].r1_img.has_value());
    CHECK(!stats_a[1].r1_img.has_value());
    train::background_trainer fresh(tiny_options());
    CHECK(!same_bits(fresh.generator_parameters(), straight.generator_parameters()));
}

TEST_CASE("the trainer's steps do not depend on the thread count") {
    const int saved = core::num_threads();
    core::set_num_threads(1);
    train::background_trainer a(tiny_options());
    memory_source sa(8, 1, 32);
    for (int i = 0; i < 3; ++i) a.step(sa);
    core::set_num_threads(2);
    train::background_trainer b(tiny_options());
    memory_source sb(8, 1, 32);
    for (int i = 0; i < 3; ++i) b.step(sb);
    core::set_num_threads(saved);
    CHECK(same_bits(a.generator_parameters(), b.generator_parameters()));
    CHECK(same_bits(a.image_discriminator_parameters(), b.image_discriminator_parameters()));
}

TEST_CASE("a checkpoint of another configuration, or a damaged one, is refused and changes nothing") {
    test_support::temp_dir dir("imbdef_test_trainer");
    train::background_trainer t(tiny_options());
    memory_source src(8, 1, 32);
    t.step(src);
    t.save(dir / "a.safetensors");

    auto other = tiny_options();
    other.image_channels = 3;
    train::background_trainer rgb(other);
    try {
        rgb.load(dir / "a.safetensors");
        FAIL("a grey checkpoint was loaded into an RGB trainer");
    } catch (const imbdef::error& e) {
        CHECK(std::string(e.what()).find("config.image_channels") != std::string::npos);
    }
    auto seeded = tiny_options(99);
    train::background_trainer s(seeded);
    CHECK_THROWS_WITH_AS(s.load(dir / "a.safetensors"), doctest::Contains("config.seed"), imbdef::error);

    // Truncated: the reader refuses it and the trainer is as it was.
    {
        std::ifstream in(dir / "a.safetensors", std::ios::binary);
        std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        bytes.resize(bytes.size() / 2);
        std::ofstream out(dir / "cut.safetensors", std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    train::background_trainer u(tiny_options());
    train::background_trainer reference(tiny_options());
    CHECK_THROWS_AS(u.load(dir / "cut.safetensors"), imbdef::error);
    CHECK(u.steps_done() == 0);
    CHECK(same_bits(u.generator_parameters(), reference.generator_parameters()));
    CHECK_THROWS_AS(u.load(dir / "missing.safetensors"), imbdef::error);
}

TEST_CASE("the non-finite guard stops at the first bad value and names it") {
    train::background_trainer t(tiny_options());
    memory_source src(8, 1, 32);
    t.step(src);
    src.poison = true;
    const nn::parameter_store<float>& g = t.generator_parameters();
    const std::vector<float> before(g.views().flat(nn::tensor_role::parameter).data(),
                                    g.views().flat(nn::tensor_role::parameter).data() + g.views().flat(nn::tensor_role::parameter).numel());
    try {
        t.step(src);
        FAIL("a NaN image did not stop training");
    } catch (const train::non_finite_error& e) {
        CHECK(e.step() == 1);
        CHECK(std::string(e.what()).find("real images") != std::string::npos);
        CHECK(std::string(e.what()).find("sample 0") != std::string::npos);
    }
    // Nothing was updated by the bad step.
    CHECK(std::memcmp(before.data(), g.views().flat(nn::tensor_role::parameter).data(), before.size() * sizeof(float)) == 0);
    CHECK(t.steps_done() == 1);

    // Gradients are searched by tensor name.
    nn::parameter_layout layout;
    const nn::registry r(layout);
    r.parameter("a", {3}, nn::initializer::zeros());
    r.scope("b").parameter("weight", {2, 2}, nn::initializer::zeros());
    nn::parameter_store<float> grads(layout);
    grads.initialize(0);
    CHECK(!train::first_non_finite(layout, nn::tensor_role::parameter, std::as_const(grads).views().flat(nn::tensor_role::parameter)));
    grads.views()["b.weight"][3] = std::numeric_limits<float>::infinity();
    const auto bad = train::first_non_finite(layout, nn::tensor_role::parameter, std::as_const(grads).views().flat(nn::tensor_role::parameter));
    REQUIRE(bad.has_value());
    CHECK(bad->name == "b.weight");
    CHECK(bad->element == 3);
    CHECK(bad->value > 0);
}

TEST_CASE("bad options are refused with the option named") {
    auto o = tiny_options();
    o.preset = "huge";
    CHECK_THROWS_WITH_AS(train::background_trainer{o}, doctest::Contains("preset"), imbdef::error);
    o = tiny_options();
    o.image_channels = 2;
    CHECK_THROWS_WITH_AS(train::background_trainer{o}, doctest::Contains("image_channels"), imbdef::error);
    o = tiny_options();
    o.batch = 0;
    CHECK_THROWS_WITH_AS(train::background_trainer{o}, doctest::Contains("batch"), imbdef::error);
}

TEST_CASE("the sampler loads the EMA generator and regenerates any sample alone") {
    test_support::temp_dir dir("imbdef_test_trainer");
    train::background_trainer t(tiny_options());
    memory_source src(8, 1, 32);
    for (int i = 0; i < 2; ++i) t.step(src);
    t.save(dir / "c.safetensors");
    auto s = train::background_sampler::load(dir / "c.safetensors");
    CHECK(s.image_channels() == 1);
    CHECK(s.resolution() == 32);
    core::tensor<float> four({4, 1, 32, 32}), masks({4, 1, 32, 32}), one({1, 1, 32, 32});
    s.generate(7, 0, four.view(), masks.view());
    s.generate(7, 2, one.view(), core::view<float>{});
    CHECK(std::memcmp(one.data(), four.data() + 2 * 32 * 32, 32 * 32 * sizeof(float)) == 0);
    for (float m : masks) CHECK((m == 0.0f || m == 1.0f));
    CHECK_THROWS_AS(s.generate(7, 0, core::tensor<float>({2, 3, 32, 32}).view(), core::view<float>{}), imbdef::error);
}

// The judged test: on the tiny preset and the built-in synthetic data (through the real loader),
// 300 steps of batch 8 lower the SWD between EMA samples and the training images well below its
// value at initialisation. Margin: at least 30% lower, for each of two seeds. R1 gamma is 2: the
// default rule (0.5 (R/128)^2, about 0.03 at 32 px) is StyleGAN's for batch 32 and lets this
// small-batch run oscillate (SWD falls, then climbs back); a stronger R1 keeps it falling.
TEST_CASE("training on the synthetic data lowers SWD to the real images (two seeds)") {
    test_support::temp_dir dir("imbdef_test_trainer");
    data::synthetic_config sc;
    sc.resolution = 32;
    sc.channels = 1;
    sc.good_count = 64;
    sc.test_good_count = 0;
    sc.defect_count = 0;
    const fs::path root = data::ensure_synthetic_dataset(sc, dir.path);
    data::background_options dopt;
    dopt.preprocess.resolution = 32;
    dopt.preprocess.channels = 1;
    const data::background_set reals = data::load_background_set(data::background_sources(root), dopt);
    REQUIRE(reals.images.size(0) == 64);

    for (std::uint64_t seed : {1u, 2u}) {
        auto o = tiny_options(seed);
        o.batch = 8;
        o.r1_interval = 16;
        o.r1_gamma = 2.0;
        o.ada = {};
        o.ada_initial_p = 0;  // StyleGAN's start: the tuner raises p when D overfits
        o.total_kimg = 2.4;
        train::background_trainer t(o);
        data::loader_options lo;
        lo.batch_size = 8;
        lo.seed = seed;
        data::background_loader loader(data::background_sources(root), dopt, lo);
        train::background_sampler sampler("tiny", 1);
        core::tensor<float> fakes({64, 1, 32, 32});
        auto swd_now = [&] {
            sampler.set_parameters(t.generator_ema().views());
            sampler.generate(1234, 0, fakes.view(), core::view<float>{});
            return metrics::sliced_wasserstein_distance(fakes.cview(), reals.images.cview()).mean;
        };
        const double before = swd_now();
        while (t.images_seen() < 2400) t.step(loader);
        const double after = swd_now();
        MESSAGE("seed " << seed << ": SWD x1000 " << before << " -> " << after);
        CHECK(after < 0.7 * before);
    }
}

// Checkpoints written before the trainer was split into generic pieces (train/trainer_state.hpp,
// optimized_network.hpp, training_checkpoint.hpp, tuned_augmentation.hpp) must still load, and
// files written now must read the same for other tools (imbdef info, Python): the groups, their
// tensor names and the metadata keys are pinned here as stage 1 wrote them.
TEST_CASE("the checkpoint keeps stage 1's schema: groups, tensor names and metadata keys") {
    test_support::temp_dir dir("imbdef_test_trainer");
    train::background_trainer t(tiny_options());
    memory_source src(8, 1, 32);
    t.step(src);
    t.save(dir / "s.safetensors", {{"data", "somewhere"}});
    train::checkpoint_reader r(dir / "s.safetensors");

    // Every tensor is "<group>.<dotted name>", for exactly these groups, each holding the whole
    // layout of its network (the moments: the trained parameters only).
    const auto& gl = t.generator_parameters().views().layout();
    const auto& il = t.image_discriminator_parameters().views().layout();
    const auto& ml = t.matching_discriminator_parameters().views().layout();
    std::set<std::string> expected;
    auto expect = [&](const std::string& group, const nn::parameter_layout& layout, bool parameters_only) {
        for (const auto& e : layout.entries())
            if (!parameters_only || e.role == nn::tensor_role::parameter) expected.insert(group + "." + e.name);
    };
    expect("G", gl, false);
    expect("G_ema", gl, false);
    expect("D_img", il, false);
    expect("D_match", ml, false);
    for (const char* m : {".m", ".v"}) {
        expect(std::string("G_opt") + m, gl, true);
        expect(std::string("D_img_opt") + m, il, true);
        expect(std::string("D_match_opt") + m, ml, true);
    }
    std::set<std::string> found;
    for (const auto& rec : r.tensors()) found.insert(rec.name);
    CHECK(found == expected);
    CHECK(r.tensors().size() == expected.size());
    for (const char* g : {"G", "G_ema", "D_img", "D_match", "G_opt.m", "G_opt.v", "D_img_opt.m", "D_img_opt.v", "D_match_opt.m",
                          "D_match_opt.v"})
        CHECK_MESSAGE(r.has_group(g), g);
    // Stage 1 wrote the networks' parameters first, then the moments, in this order.
    REQUIRE(!r.tensors().empty());
    CHECK(r.tensors().front().name.rfind("G.", 0) == 0);
    CHECK(r.tensors().back().name.rfind("D_match_opt.v.", 0) == 0);

    // The safetensors metadata holds one entry, imbdef's JSON document, with these keys.
    CHECK(r.metadata().size() == 1);
    CHECK(r.metadata().count(std::string(train::metadata_key)) == 1);
    const nlohmann::json meta = r.json_metadata();
    auto keys = [](const nlohmann::json& j) {
        std::set<std::string> k;
        for (const auto& [key, value] : j.items()) k.insert(key);
        return k;
    };
    using names = std::set<std::string>;
    CHECK(keys(meta) == names{"augmentation", "config", "extra", "format", "images_seen", "kind", "optimizer_steps", "step"});
    CHECK(meta["kind"] == "imbdef.background");
    CHECK(meta["format"] == 1);
    CHECK(meta["step"] == 1);
    CHECK(meta["images_seen"] == 4);
    CHECK(meta["extra"] == nlohmann::json{{"data", "somewhere"}});
    CHECK(keys(meta["optimizer_steps"]) == names{"G", "D_img", "D_match"});
    CHECK(meta["optimizer_steps"]["G"] == 1);
    CHECK(meta["optimizer_steps"]["D_img"] == 2);  // D main and the R1 step
    CHECK(keys(meta["augmentation"]) == names{"p", "sign_sum", "sign_count", "steps"});
    CHECK(keys(meta["config"]) == names{"preset", "resolution", "image_channels", "latent_dim", "batch", "total_kimg", "seed",
                                        "g_lr", "d_lr", "r1_gamma", "r1_interval", "match_weight", "mask_sharpness", "augment",
                                        "augmentation_policy", "detail_injection"});
}

// A policy without p: nothing to tune, no augmentation state in the checkpoint, resume still exact.
TEST_CASE("a trainer with another augmentation policy trains, saves and resumes") {
    test_support::temp_dir dir("imbdef_test_trainer");
    using plain_trainer = train::basic_background_trainer<policies::no_augmentation>;
    plain_trainer straight(tiny_options());
    memory_source sa(8, 1, 32);
    for (int i = 0; i < 3; ++i) straight.step(sa);

    plain_trainer first(tiny_options());
    memory_source sb(8, 1, 32);
    first.step(sb);
    first.save(dir / "p.safetensors");
    CHECK(!train::checkpoint_reader(dir / "p.safetensors").json_metadata().contains("augmentation"));
    plain_trainer resumed(tiny_options());
    resumed.load(dir / "p.safetensors");
    memory_source sc(8, 1, 32);
    sc.seek(1);
    for (int i = 1; i < 3; ++i) resumed.step(sc);
    CHECK(resumed.augmentation_probability() == 0.0);
    CHECK(same_bits(straight.generator_parameters(), resumed.generator_parameters()));
    CHECK(same_bits(straight.matching_discriminator_parameters(), resumed.matching_discriminator_parameters()));
    // Its checkpoints are not ADA's: the policy is part of the configuration.
    train::background_trainer ada(tiny_options());
    CHECK_THROWS_WITH_AS(ada.load(dir / "p.safetensors"), doctest::Contains("config.augmentation_policy"), imbdef::error);
}
