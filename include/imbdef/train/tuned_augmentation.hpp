#pragma once
// The augmentation of a GAN trainer's discriminator inputs, with ADA's tuning of p where the
// policy is policies::ada: the policy, whether it is on, and the tuner that moves p from the signs
// of D_img's real logits (policies/augmentation/ada_tuner.hpp). Off, it passes batches through
// unchanged and p reads 0; other policies have no p and nothing to tune or save.

#include <algorithm>
#include <concepts>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../policies/augmentation.hpp"

namespace imbdef::train {

template <policies::augmentation_policy Augmentation>
class tuned_augmentation {
public:
    static constexpr bool tunes_p = std::same_as<Augmentation, policies::ada>;
    template <class T>
    using context = typename Augmentation::template context<T>;

    // Off: p = 0 (an exact copy) and the tuner never runs.
    tuned_augmentation(bool enabled, [[maybe_unused]] const policies::ada_options& ada, [[maybe_unused]] double initial_p)
        : enabled_(enabled) {
        if constexpr (tunes_p) {
            policy_.options = ada;
            policy_.p = enabled ? initial_p : 0.0;
        }
    }

    bool enabled() const noexcept { return enabled_; }
    const Augmentation& policy() const noexcept { return policy_; }
    // ADA's current p (0 without augmentation, and for policies without p).
    double probability() const noexcept {
        if constexpr (tunes_p) return enabled_ ? policy_.p : 0.0;
        return 0.0;
    }

    // out = A(in) with one draw from `rng`; a copy when off.
    void forward(const core::tensor<float>& in, core::index_t color_channels, core::tensor<float>& out, context<float>& ctx,
                 core::philox_stream rng) const {
        if (!enabled_) {
            std::copy_n(in.data(), in.numel(), out.data());
            return;
        }
        policy_.template forward<float>(in.cview(), color_channels, out.view(), ctx, rng, 0);
    }
    // d_in from d_out through the last forward() with `ctx` (assigned); a copy when off.
    void backward(const context<float>& ctx, const core::tensor<float>& d_out, core::tensor<float>& d_in) const {
        if (enabled_)
            policy_.template backward<float>(ctx, d_out.cview(), d_in.view(), core::grad_mode::assign);
        else
            std::copy_n(d_out.data(), d_out.numel(), d_in.data());
    }

    // The tuner's input: D_img's logits on a batch of reals (main and R1 passes alike).
    void observe_real_logits(core::const_view<float> logits) {
        if constexpr (tunes_p)
            if (enabled_) tuner_.accumulate(logits);
    }
    // Called once at the end of every step, with the step's batch size.
    void end_step(core::index_t batch) {
        if constexpr (tunes_p)
            if (enabled_) tuner_.end_step(policy_, batch);
    }

    // The state a checkpoint's metadata holds under "augmentation": p and the tuner's integer
    // counters (nothing for policies without p).
    void save(nlohmann::json& metadata) const {
        if constexpr (tunes_p) {
            const policies::ada_state a = tuner_.state(policy_);
            metadata["augmentation"] = {{"p", a.p}, {"sign_sum", a.sign_sum}, {"sign_count", a.sign_count}, {"steps", a.steps}};
        }
    }
    // A copy of this augmentation with the state of a checkpoint's metadata; throws, changing
    // nothing, when that state is missing or invalid.
    tuned_augmentation restored(const nlohmann::json& metadata) const {
        tuned_augmentation t = *this;
        if constexpr (tunes_p) {
            const auto& a = metadata.at("augmentation");
            t.tuner_.restore({a.at("p").get<double>(), a.at("sign_sum").get<std::int64_t>(), a.at("sign_count").get<std::int64_t>(),
                              a.at("steps").get<std::int64_t>()},
                             t.policy_);
        }
        return t;
    }

private:
    Augmentation policy_{};
    bool enabled_ = true;
    policies::ada_tuner tuner_;
};

}  // namespace imbdef::train
