#pragma once
// imbdef generate --checkpoint CKPT --count N --seed S --out DIR: background images and their
// valid-region masks from a trained background stage, as PNG, with a manifest.
//
//   DIR/images/<seed>-<index>.png   the image (grey or RGB, as trained)
//   DIR/masks/<seed>-<index>.png    its valid-region mask (255 inside)
//   DIR/manifest.json               checkpoint, seed, truncation, and per sample its files
// Sample i of seed S is the same whatever --count or --batch (train/background_sampler.hpp).

#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include <imbdef/core/atomic_file.hpp>
#include <imbdef/data/export/sample.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/train/background_sampler.hpp>

namespace imbdef_cli {

struct generate_options {
    std::string checkpoint;
    std::string out;
    std::string group = "G_ema";
    long long count = 16;
    std::uint64_t seed = 0;
    double truncation = 1.0;
    int batch = 8;
};

inline void run_generate(const generate_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    auto sampler = imbdef::train::background_sampler::load(o.checkpoint, o.group);
    const fs::path out = o.out;
    std::error_code ec;
    fs::create_directories(out / "images", ec);
    if (!ec) fs::create_directories(out / "masks", ec);
    IMBDEF_REQUIRE(!ec, "imbdef generate --out " + out.string(), "a folder that can be created", ec.message());
    const core::index_t c = sampler.image_channels(), r = sampler.resolution();
    nlohmann::json manifest = {{"checkpoint", fs::absolute(o.checkpoint).string()},
                               {"weights", o.group},
                               {"seed", o.seed},
                               {"truncation_psi", o.truncation},
                               {"resolution", r},
                               {"image_channels", c},
                               {"config", sampler.metadata().at("config")},
                               {"samples", nlohmann::json::array()}};
    core::tensor<float> images({o.batch, c, r, r}), masks({o.batch, 1, r, r});
    for (long long first = 0; first < o.count; first += o.batch) {
        const core::index_t n = std::min<long long>(o.batch, o.count - first);
        const core::view<float> iv(images.data(), {n, c, r, r}), mv(masks.data(), {n, 1, r, r});
        sampler.generate(o.seed, static_cast<std::uint64_t>(first), iv, mv, o.truncation);
        for (core::index_t i = 0; i < n; ++i) {
            char stem[64];
            std::snprintf(stem, sizeof stem, "%llu-%06lld", static_cast<unsigned long long>(o.seed), first + i);
            const auto img = imbdef::data::image_u8_from_chw(core::const_view<float>(iv.data() + i * c * r * r, {c, r, r}));
            const auto mask = imbdef::data::mask_u8_from(core::const_view<float>(mv.data() + i * r * r, {r, r}));
            const std::string image_file = std::string("images/") + stem + ".png", mask_file = std::string("masks/") + stem + ".png";
            imbdef::data::write_png(out / image_file, img);
            imbdef::data::write_png_mask(out / mask_file, mask);
            manifest["samples"].push_back({{"index", first + i}, {"image", image_file}, {"valid_region", mask_file}});
        }
    }
    const std::string text = manifest.dump(2) + "\n";
    imbdef::core::write_file_atomically(out / "manifest.json", std::as_bytes(std::span(text)));
    std::printf("%lld background images and valid-region masks in %s (manifest: %s)\n", o.count, (out / "images").c_str(),
                (out / "manifest.json").c_str());
}

// imbdef info CKPT: what a checkpoint holds: its kind, configuration, progress and tensors.
inline void print_checkpoint_info(const std::string& path) {
    imbdef::train::checkpoint_reader r(path);
    const nlohmann::json meta = r.json_metadata();
    std::printf("checkpoint %s\n", path.c_str());
    std::printf("  kind            %s\n", meta.value("kind", std::string("unknown")).c_str());
    if (meta.contains("contents"))
        std::printf("  contents        %s (no run resumes from it; made by imbdef slim from %s)\n", meta["contents"].dump().c_str(),
                    meta.value("source_hash", std::string("?")).c_str());
    if (meta.contains("step")) std::printf("  steps           %lld\n", meta["step"].get<long long>());
    if (meta.contains("images_seen"))
        std::printf("  images seen     %lld (%.3f kimg)\n", meta["images_seen"].get<long long>(),
                    meta["images_seen"].get<double>() / 1000.0);
    if (meta.contains("augmentation")) std::printf("  augmentation    %s\n", meta["augmentation"].dump().c_str());
    if (meta.contains("config")) {
        std::printf("  config\n");
        for (const auto& [k, v] : meta["config"].items()) std::printf("    %-22s %s\n", k.c_str(), v.dump().c_str());
    }
    // Tensor groups: the text before the first dot.
    std::vector<std::pair<std::string, std::pair<long long, long long>>> groups;
    for (const auto& t : r.tensors()) {
        const std::string g = t.name.substr(0, t.name.find('.'));
        long long n = 1;
        for (auto d : t.shape) n *= static_cast<long long>(d);
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& e) { return e.first == g; });
        if (it == groups.end()) groups.push_back({g, {1, n}});
        else {
            it->second.first += 1;
            it->second.second += n;
        }
    }
    std::printf("  %-16s %8s %14s\n", "group", "tensors", "elements");
    for (const auto& [g, c] : groups) std::printf("  %-16s %8lld %14lld\n", g.c_str(), c.first, c.second);
}

}  // namespace imbdef_cli
