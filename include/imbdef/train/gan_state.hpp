#pragma once
// What every imbdef GAN stage trains and saves: a generator with its EMA copy, the image
// discriminator D_img and the matching discriminator D_match, with the counters and the
// augmentation's state. Both stages' checkpoints are written and restored by these two
// functions (training_checkpoint.hpp's schema):
//   G, G_ema, D_img, D_match, their Adam moments, step, images seen, the augmentation.

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "../nn/parameters.hpp"
#include "optimized_network.hpp"
#include "trainer_state.hpp"
#include "training_checkpoint.hpp"
#include "tuned_augmentation.hpp"

namespace imbdef::train {

// Writes the checkpoint atomically: `description` is the trainer's {kind, format, config}.
template <class Augmentation>
void save_gan_checkpoint(const std::filesystem::path& path, const nlohmann::json& description, const nlohmann::json& extra,
                         const optimized_network& g, const nn::parameter_store<float>& g_ema, const optimized_network& d_img,
                         const optimized_network& d_match, const trainer_state& counters,
                         const tuned_augmentation<Augmentation>& augment) {
    training_checkpoint_writer w(description);
    w.add_network("G", g);
    w.add_copy("G_ema", g_ema);
    w.add_network("D_img", d_img);
    w.add_network("D_match", d_match);
    counters.save(w.metadata());
    augment.save(w.metadata());
    w.write(path, extra);
}

// Restores a checkpoint written by save_gan_checkpoint for `description` (config keys in
// `may_differ` excepted). Everything is read into copies first, so a damaged or foreign file
// changes nothing.
template <class Augmentation>
void load_gan_checkpoint(const std::filesystem::path& path, const nlohmann::json& description, const std::string& expected_kind,
                         std::initializer_list<std::string_view> may_differ, optimized_network& g,
                         nn::parameter_store<float>& g_ema, optimized_network& d_img, optimized_network& d_match,
                         trainer_state& counters, tuned_augmentation<Augmentation>& augment) {
    training_checkpoint_reader r(path, description, expected_kind, may_differ);
    const nn::parameter_store<float> gp = r.parameters("G", g.layout()), ge = r.parameters("G_ema", g.layout()),
                                     di = r.parameters("D_img", d_img.layout()), dm = r.parameters("D_match", d_match.layout());
    const optimizer_snapshot go = r.optimizer("G", g.layout()), dio = r.optimizer("D_img", d_img.layout()),
                             dmo = r.optimizer("D_match", d_match.layout());
    tuned_augmentation<Augmentation> aug = augment.restored(r.metadata());
    const trainer_state restored = counters.restored(r.metadata());
    // Nothing failed: commit.
    g.restore(gp, go);
    nn::copy_values<float>(ge.views(), g_ema.views());
    d_img.restore(di, dio);
    d_match.restore(dm, dmo);
    augment = std::move(aug);
    counters = restored;
}

}  // namespace imbdef::train
