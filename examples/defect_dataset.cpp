// From a stage-2 checkpoint to a labelled, detector-ready dataset: generate defects from seeds,
// keep only those whose own measurements say they worked (counting the others by reason), and
// write YOLO labels, COCO JSON and an Ultralytics data.yaml.
//   defect_dataset CHECKPOINT OUT [COUNT]
// Run without a checkpoint (as the tests do), it first writes an untrained tiny one to OUT/model,
// to show the calls; its samples are noise and most are rejected, as they should be.
#include <cstdio>
#include <filesystem>
#include <string>

#include <imbdef/imbdef.hpp>

namespace fs = std::filesystem;
using namespace imbdef;

fs::path untrained_checkpoint(const fs::path& dir);  // below: what a stage-2 trainer writes

int main(int argc, char** argv) {
    const fs::path out = argc > 2 ? argv[2] : "defect_dataset_out";
    const fs::path checkpoint = argc > 1 && std::string(argv[1]) != "-" ? fs::path(argv[1]) : untrained_checkpoint(out / "model");
    const int count = argc > 3 ? std::stoi(argv[3]) : 16;

    auto sampler = train::defect_sampler::load(checkpoint);
    auto batch = sampler.make_batch(8);
    data::dataset_writer writer(out / "dataset", {.class_names = sampler.class_names(), .overwrite = true});
    metrics::rejection_counts counts;
    const auto areas = sampler.class_area();
    for (int first = 0; first < count; first += 8) {
        sampler.generate(/*seed=*/1, static_cast<std::uint64_t>(first), sampler.all_classes(), batch);
        const core::index_t c = sampler.image_channels(), r = sampler.resolution();
        for (core::index_t i = 0; i < batch.size(); ++i) {
            const core::const_view<float> image(batch.image.data() + i * c * r * r, {c, r, r}),
                background(batch.background.data() + i * c * r * r, {c, r, r}), mask(batch.mask.data() + i * r * r, {r, r}),
                valid(batch.valid_region.data() + i * r * r, {r, r});
            const int cls = batch.classes[static_cast<std::size_t>(i)];
            const auto m = metrics::judge_defect_sample(image, background, mask, valid,
                                                        areas.empty() ? std::nullopt : std::optional(areas[static_cast<std::size_t>(cls)]));
            counts.add(m.reason);
            if (!m.accepted()) continue;
            writer.add({.name = "sample_" + std::to_string(first + i), .image = data::image_u8_from_chw(image),
                        .mask = data::mask_u8_from(mask), .class_id = cls, .background = data::image_u8_from_chw(background),
                        .valid_region = data::mask_u8_from(valid), .metadata = {{"seed", 1}, {"index", first + i}}});
        }
    }
    data::export_metadata meta{.run = {{"checkpoint", checkpoint.string()}}};
    for (const auto reason : metrics::rejection_reasons) meta.rejected[std::string(metrics::to_string(reason))] = counts.of(reason);
    writer.finish(meta);
    std::printf("%llu kept, %llu rejected; dataset in %s\n", static_cast<unsigned long long>(counts.accepted()),
                static_cast<unsigned long long>(counts.rejected()), (out / "dataset").c_str());
    return 0;
}

// An untrained tiny stage-2 checkpoint with two classes: the defect generator's layout in G and
// G_ema, and the metadata the sampler reads.
fs::path untrained_checkpoint(const fs::path& dir) {
    fs::create_directories(dir);
    train::defect_sampler s("tiny", 3, {"scratch", "stain"});
    s.parameters().initialize(3);
    s.generator().initialize_from_background(s.parameters().views());
    train::checkpoint_writer w;
    w.add_group("G", s.parameters());
    w.add_group("G_ema", s.parameters());
    w.set_json_metadata({{"kind", "imbdef.defect"},
                         {"config", {{"preset", "tiny"}, {"image_channels", 3}, {"classes", s.class_names()}, {"start_layer", -1}}}});
    w.write(dir / "untrained.safetensors");
    return dir / "untrained.safetensors";
}
