#pragma once
// Blends whose parameters follow training progress, and blend_at, which a generator calls to get
// the blend for the current progress.
//
// scheduled_sigmoid_blend<Schedule>: the sigmoid blend with a smoothing coefficient that goes
// from soft to sharp over training,
//   kappa(p) = kappa_start + (kappa_end - kappa_start) * schedule(p),   p in [0, 1],
// reusing the gating schedules (gating_schedule.hpp, p -> [0, max]). The default cosine ramp holds
// kappa_start until p = 0.1 and reaches kappa_end at p = 0.6; kappa(p) must stay > 0.
//
// blend_at(blend, p): the blend to use at progress p. A blend with a member
//   at_progress(double p) const -> a blend_policy
// is replaced by what that returns (scheduled_sigmoid_blend gives sigmoid_blend{kappa(p), beta});
// any other blend is returned unchanged. The defect generator calls it once per forward with its
// context's progress and runs both forward and backward of that pass with the blend it returned,
// so the two always agree. The scheduled blend's own forward/backward, for a caller that never
// asks for a progress, use p = 1 (the end of training, as at inference).

#include <concepts>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../../core/grad_mode.hpp"
#include "../../core/tensor.hpp"
#include "../gating_schedule.hpp"
#include "concept.hpp"
#include "gate_blend.hpp"

namespace imbdef::policies {

template <gating_schedule Schedule = cosine_ramp_schedule>
struct scheduled_sigmoid_blend {
    static constexpr std::string_view name = "scheduled_sigmoid_blend";
    double kappa_start = 1.0;  // soft, early in training
    double kappa_end = 10.0;   // sharp, METHOD.md's default kappa
    double beta = 1.0;
    Schedule schedule{};

    double kappa(double progress) const { return kappa_start + (kappa_end - kappa_start) * schedule(progress); }

    sigmoid_blend at_progress(double progress) const { return {.gate = {.kappa = kappa(progress)}, .beta = beta}; }

    template <class T>
    void forward(core::const_view<T> fs, core::const_view<T> fr, core::const_view<T> m, core::view<T> f) const {
        at_progress(1.0).forward(fs, fr, m, f);
    }
    template <class T>
    void backward(core::const_view<T> fr, core::const_view<T> m, core::const_view<T> df, core::view<T> dfs,
                  core::view<T> dfr, core::view<T> dm, core::grad_mode mode) const {
        at_progress(1.0).backward(fr, m, df, dfs, dfr, dm, mode);
    }
};

// A blend whose parameters depend on training progress (see blend_at).
template <class B>
concept progress_dependent_blend = blend_policy<B> && requires(const B b, double p) { b.at_progress(p); };

template <blend_policy B>
auto blend_at(const B& blend, double progress) {
    IMBDEF_REQUIRE(progress >= 0.0 && progress <= 1.0, "policies::blend_at(" + std::string(B::name) + ")",
                   "progress in [0, 1]", std::to_string(progress));
    if constexpr (progress_dependent_blend<B>) {
        static_assert(blend_policy<decltype(blend.at_progress(progress))>,
                      "at_progress(p) of a blend must return a blend_policy");
        return blend.at_progress(progress);
    } else {
        return blend;
    }
}

static_assert(blend_policy<scheduled_sigmoid_blend<>> && progress_dependent_blend<scheduled_sigmoid_blend<>>);

}  // namespace imbdef::policies
