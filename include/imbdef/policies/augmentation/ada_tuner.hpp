#pragma once
// ada_tuner: ADA's adjustment of p (reference/stylegan3.md section 6). The trainer reports the
// image discriminator's logits on real images of every D pass (accumulate), and ends each training
// step with end_step(ada, batch). At steps 0, interval, 2 interval, ... (counted from 0, the step
// just ended) it moves p by
//   sign(mean sign(D(real)) - target) * batch * interval / (speed_kimg * 1000),   then p = max(p, 0)
// (no upper clamp: the reference has none) and starts a new accumulation. A step that ends an
// interval with nothing accumulated leaves p alone. sign(0) = 0, and a NaN logit counts as 0.
//
// The whole state is plain numbers (ada_state: p and the three counters), integers where they are
// sums, so a checkpoint restores it exactly and the run continues bit for bit.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "ada.hpp"

namespace imbdef::policies {

struct ada_state {
    double p = 0.0;
    std::int64_t sign_sum = 0;    // sum of sign(D(real)) since the last adjustment
    std::int64_t sign_count = 0;  // logits in that sum
    std::int64_t steps = 0;       // training steps ended so far
};

class ada_tuner {
public:
    // Adds sign(l) of every real logit l of one D pass.
    template <class T>
    void accumulate(core::const_view<T> real_logits) {
        for (core::index_t i = 0; i < real_logits.numel(); ++i) {
            const T l = real_logits[i];
            sign_sum_ += (l > T(0)) - (l < T(0));
        }
        sign_count_ += real_logits.numel();
    }

    // Ends a training step of `batch` images; adjusts a.p when the step closes an interval and
    // returns whether it did.
    bool end_step(ada& a, core::index_t batch) {
        const ada_options& o = a.options;
        const std::string where = "policies::ada_tuner::end_step";
        IMBDEF_REQUIRE(batch >= 1, where, "batch >= 1", "batch " + std::to_string(batch));
        IMBDEF_REQUIRE(o.interval >= 1, where, "options.interval >= 1", "interval " + std::to_string(o.interval));
        IMBDEF_REQUIRE(o.speed_kimg > 0 && std::isfinite(o.speed_kimg), where, "options.speed_kimg > 0",
                       "speed_kimg " + std::to_string(o.speed_kimg));
        const bool adjust = steps_ % o.interval == 0 && sign_count_ > 0;
        ++steps_;
        if (!adjust) return false;
        const double mean = static_cast<double>(sign_sum_) / static_cast<double>(sign_count_);
        const double direction = (mean > o.target) - (mean < o.target);
        a.p = std::max(0.0, a.p + direction * step_size(o, batch));
        sign_sum_ = 0;
        sign_count_ = 0;
        return true;
    }

    // How far one adjustment moves p: batch * interval / (speed_kimg * 1000).
    static double step_size(const ada_options& o, core::index_t batch) noexcept {
        return static_cast<double>(batch) * static_cast<double>(o.interval) / (o.speed_kimg * 1000.0);
    }

    ada_state state(const ada& a) const noexcept { return {a.p, sign_sum_, sign_count_, steps_}; }

    void restore(const ada_state& s, ada& a) {
        const std::string where = "policies::ada_tuner::restore";
        IMBDEF_REQUIRE(std::isfinite(s.p) && s.p >= 0, where, "p >= 0 and finite", "p " + std::to_string(s.p));
        IMBDEF_REQUIRE(s.sign_count >= 0 && s.steps >= 0 && (s.sign_sum < 0 ? -s.sign_sum : s.sign_sum) <= s.sign_count,
                       where, "sign_count >= 0, steps >= 0 and |sign_sum| <= sign_count",
                       "sign_sum " + std::to_string(s.sign_sum) + ", sign_count " + std::to_string(s.sign_count) +
                           ", steps " + std::to_string(s.steps));
        a.p = s.p;
        sign_sum_ = s.sign_sum;
        sign_count_ = s.sign_count;
        steps_ = s.steps;
    }

private:
    std::int64_t sign_sum_ = 0;
    std::int64_t sign_count_ = 0;
    std::int64_t steps_ = 0;
};

}  // namespace imbdef::policies
