#pragma once
// The phases of one GAN training iteration, in StyleGAN's order (reference/stylegan3.md sections
// 5 and 6), shared by both stages:
//
//   G main    the generator's adversarial step
//   D main    the discriminators' adversarial step
//   D reg     the discriminators' regulariser (R1), on the steps the schedule runs it
//
// then the end of the iteration (EMA, augmentation tuning, counters). A stage supplies each phase;
// this fixes their order and the lazy regularisation that goes with the schedule.

#include <concepts>
#include <cstdint>
#include <utility>

#include "../policies/regularization_schedule.hpp"
#include "adam.hpp"

namespace imbdef::train {

template <policies::regularization_schedule Schedule>
struct gan_iteration {
    Schedule regularization;

    // The discriminators' optimiser for this schedule: lazy regularisation adds an optimiser step
    // every interval, so lr and betas are adjusted to keep the per-minibatch behaviour (adam.hpp).
    adam_options discriminator_optimizer(const adam_options& base) const {
        if constexpr (std::same_as<Schedule, policies::lazy>)
            return lazy_regularization(base, static_cast<int>(regularization.interval));
        else
            return base;
    }
    // The regulariser's weight on the steps it runs (gamma * interval for lazy R1).
    double penalty_weight(double gamma) const { return gamma * regularization.weight(); }
    // A penalty computed with penalty_weight(), reported without the lazy factor, as StyleGAN logs it.
    double reported_penalty(double weighted) const { return weighted / regularization.weight(); }

    // Runs the phases of step `step` in order.
    template <class GMain, class DMain, class DReg, class End>
    void run(std::int64_t step, GMain&& g_main, DMain&& d_main, DReg&& d_reg, End&& end) const {
        std::forward<GMain>(g_main)();
        std::forward<DMain>(d_main)();
        if (regularization.runs(static_cast<std::uint64_t>(step))) std::forward<DReg>(d_reg)();
        std::forward<End>(end)();
    }
};

}  // namespace imbdef::train
