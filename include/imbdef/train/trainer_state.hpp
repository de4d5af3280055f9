#pragma once
// The counters every trainer keeps, and what follows from them: the step, the images seen, the
// run's progress (PGDI's input and any progress-dependent schedule), and the Philox stream of each
// (step, purpose). A trainer's own enum names its purposes; since a stream depends only on
// (seed, step, purpose), no draw depends on how many came before it, which is what makes a resumed
// run continue bit for bit.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "../core/random.hpp"
#include "../core/tensor.hpp"

namespace imbdef::train {

// A trainer's names for its random draws: an enum whose values are small (below 256) and fixed,
// since they are part of every stream and so of a checkpoint's future.
template <class P>
concept draw_purpose = std::is_enum_v<P>;

struct trainer_state {
    std::uint64_t seed = 0;
    double total_kimg = 1;         // the run's length: progress = images seen / total
    std::int64_t step = 0;         // steps done (the next step's 0-based index)
    std::int64_t images_seen = 0;

    double progress() const noexcept {
        return std::min(1.0, static_cast<double>(images_seen) / (total_kimg * 1000.0));
    }

    // One stream per (step, purpose), for the step about to run.
    template <draw_purpose P>
    core::philox_stream stream(P purpose) const noexcept {
        return {.seed = seed,
                .stream = (static_cast<std::uint64_t>(step) << 8) | static_cast<std::uint64_t>(purpose)};
    }

    // Called once at the end of every step.
    void end_step(core::index_t batch) noexcept {
        images_seen += batch;
        ++step;
    }

    // The counters as a checkpoint's metadata holds them ("step", "images_seen").
    void save(nlohmann::json& metadata) const {
        metadata["step"] = step;
        metadata["images_seen"] = images_seen;
    }
    // This state with the counters of a checkpoint's metadata (seed and length stay this run's).
    trainer_state restored(const nlohmann::json& metadata) const {
        trainer_state s = *this;
        s.step = metadata.at("step").get<std::int64_t>();
        s.images_seen = metadata.at("images_seen").get<std::int64_t>();
        return s;
    }
};

}  // namespace imbdef::train
