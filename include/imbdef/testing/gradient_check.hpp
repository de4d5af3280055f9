#pragma once
// check_gradients: verifies the backward of an op or module against central finite differences of
// its forward, in double, and verifies the gradient contract of core/grad_mode.hpp.
//
//   testing::gradient_problem p;
//   p.add_data("x", testing::random_tensor({4, 3}, 1)).add_parameter("w", testing::random_tensor({3}, 2));
//   p.forward = [](testing::input_views x) -> core::tensor<double> { ... };
//   p.backward = [](testing::input_views x, core::const_view<double> dy, testing::grad_views dx,
//                   core::grad_mode data_mode, core::grad_mode param_mode) { ... };
//   auto r = testing::check_gradients(p);
//   CHECK_MESSAGE(r.ok, r.to_string());
//
// The problem's contract:
// - forward(x) returns the output for the inputs x (one view per input, in declaration order). Its
//   shape is taken from the first call and must not change. It must be deterministic.
// - backward(x, dy, dx, data_mode, param_mode) writes the gradient of sum(dy * forward(x)) with
//   respect to input k into dx[k], under data_mode for data inputs and param_mode for parameters.
//   A module that keeps forward state in a context rebuilds it here by running its forward on x.
//
// What is checked, in order:
// 1. Two forward calls on the same inputs give bit-identical outputs, all finite.
// 2. With Philox weights r, L = sum(r * y) and dy = r. backward(assign, assign) on zero-filled
//    buffers gives the analytic gradient G, which must be finite.
// 3. The contract: backward(assign, assign) on NaN-filled buffers must give G (an entry still NaN
//    was left unwritten or read); then, for every pair of modes, on buffers pre-filled with random
//    non-zero values P, assign must give G, accumulate P + G (up to rounding), and none must leave
//    P bit-identical. Finally the none buffers are passed empty, which the contract allows.
// 4. Central differences of L along every element (or a random subset) of every input, at each
//    step h = step * max(1, |x_i|). An element passes when G agrees with at least one step within
//    |G - n| <= atol + rtol * max(|G|, |n|).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/philox.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "check_input.hpp"
#include "check_report.hpp"

namespace imbdef::testing {

using forward_fn = std::function<core::tensor<double>(input_views x)>;
using backward_fn = std::function<void(input_views x, core::const_view<double> dy, grad_views dx,
                                       core::grad_mode data_mode, core::grad_mode param_mode)>;

struct gradient_problem {
    std::vector<check_input> inputs;
    forward_fn forward;
    backward_fn backward;

    gradient_problem& add_data(std::string name, core::tensor<double> value) {
        inputs.push_back({std::move(name), std::move(value), input_kind::data});
        return *this;
    }
    gradient_problem& add_parameter(std::string name, core::tensor<double> value) {
        inputs.push_back({std::move(name), std::move(value), input_kind::parameter});
        return *this;
    }
};

struct gradient_check_options {
    std::uint64_t seed = 0x5EED'0001;
    // Relative step sizes: the absolute step for element x_i is step * max(1, |x_i|).
    std::vector<double> steps{1e-2, 1e-3, 1e-4, 1e-5};
    tolerance tol{};
    // When positive, at most this many elements of each input (a Philox-chosen subset) are
    // checked against finite differences; the contract is always checked on every element.
    core::index_t max_elements_per_input = 0;
    // Assign and accumulate results must equal G and P + G within contract_rtol * (|P_i| + 1 + max|G|):
    // exact up to the rounding of an op that accumulates in several pieces.
    double contract_rtol = 1e-12;
    bool check_contract = true;
    // Passes empty views (numel 0, null data) as the buffers under mode none, as the contract
    // allows. Done only after none buffers were seen to stay untouched.
    bool check_empty_none_buffers = true;
};

namespace detail {

// Philox streams of the checkers, so that no two draws overlap.
inline constexpr std::uint64_t stream_output_weights = 1;
inline constexpr std::uint64_t stream_prefill = 2;
inline constexpr std::uint64_t stream_subset = 3;
inline constexpr std::uint64_t stream_x_dot = 4;
inline constexpr std::uint64_t stream_dy_dot = 5;

// Values of magnitude in [scale / 2, 3 * scale / 2) with random signs: never zero, so that
// assign, accumulate and none give three distinguishable results.
inline std::uint64_t fill_nonzero(core::view<double> out, core::philox_stream rng, std::uint64_t offset, double scale) {
    offset = core::fill_uniform<double>(out, rng, offset, -1.0, 1.0);
    for (double& v : out) v = scale * (v >= 0.0 ? v + 0.5 : v - 0.5);
    return offset;
}

// Sum with Neumaier's compensation: the finite differences subtract two such sums.
inline double compensated_dot(core::const_view<double> a, core::const_view<double> b) {
    double sum = 0.0;
    double c = 0.0;
    for (core::index_t i = 0; i < a.numel(); ++i) {
        const double t = a[i] * b[i];
        const double s = sum + t;
        c += std::abs(sum) >= std::abs(t) ? (sum - s) + t : (t - s) + sum;
        sum = s;
    }
    return sum + c;
}

// `count` distinct indices of [0, n) chosen by a partial Fisher-Yates shuffle, sorted.
inline std::vector<core::index_t> choose_subset(core::index_t n, core::index_t count, core::philox_stream rng,
                                                std::uint64_t offset) {
    std::vector<core::index_t> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), core::index_t{0});
    if (count <= 0 || count >= n) return all;
    for (core::index_t i = 0; i < count; ++i) {
        const std::uint64_t bits = (static_cast<std::uint64_t>(rng.bits(offset)) << 32) | rng.bits(offset + 1);
        offset += 2;
        const auto j = i + static_cast<core::index_t>(bits % static_cast<std::uint64_t>(n - i));
        std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
    }
    all.resize(static_cast<std::size_t>(count));
    std::sort(all.begin(), all.end());
    return all;
}

inline double max_abs(core::const_view<double> v) {
    double m = 0.0;
    for (core::index_t i = 0; i < v.numel(); ++i)
        if (std::isfinite(v[i])) m = std::max(m, std::abs(v[i]));
    return m;
}

inline core::index_t first_bit_difference(core::const_view<double> a, core::const_view<double> b) {
    for (core::index_t i = 0; i < a.numel(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return i;
    return -1;
}

inline core::index_t first_non_finite(core::const_view<double> v) {
    for (core::index_t i = 0; i < v.numel(); ++i)
        if (!std::isfinite(v[i])) return i;
    return -1;
}

inline std::string modes_label(core::grad_mode data_mode, core::grad_mode param_mode) {
    return "under data=" + std::string(core::to_string(data_mode)) +
           ", parameters=" + std::string(core::to_string(param_mode));
}

class gradient_checker {
public:
    gradient_checker(const gradient_problem& p, const gradient_check_options& o) : p_(p), o_(o) {
        validate_inputs(p.inputs, where_);
        IMBDEF_REQUIRE(static_cast<bool>(p.forward), where_, "a forward function", "none");
        IMBDEF_REQUIRE(static_cast<bool>(p.backward), where_, "a backward function", "none");
        validate_steps(o.steps, o.tol, where_);
        IMBDEF_REQUIRE(o.contract_rtol >= 0.0, where_, "a non-negative contract_rtol",
                       format_number(o.contract_rtol));
        report_.check = "gradient check";
        report_.tol = o.tol;
        x_ = clone_values(p.inputs);
        xv_ = const_views(x_);
    }

    check_report run() {
        y0_ = call_forward();
        check_forward();
        dy_ = core::tensor<double>(y0_.shape(), core::uninitialized);
        core::fill_normal<double>(dy_.view(), core::philox_stream{o_.seed, stream_output_weights});
        compute_reference();
        if (o_.check_contract) check_contract();
        check_numeric();
        finish(report_);
        return std::move(report_);
    }

private:
    static constexpr const char* where_ = "testing::check_gradients";
    static constexpr double unknown = std::numeric_limits<double>::quiet_NaN();
    static constexpr core::grad_mode all_modes_[3] = {core::grad_mode::assign, core::grad_mode::accumulate,
                                                      core::grad_mode::none};

    core::tensor<double> call_forward() {
        core::tensor<double> y = p_.forward(input_views(xv_));
        if (first_call_done_)
            IMBDEF_REQUIRE(y.shape() == y0_.shape(), std::string(where_) + ": forward",
                           "the output shape " + y0_.shape().to_string() + " of the first call",
                           y.shape().to_string());
        first_call_done_ = true;
        return y;
    }

    double loss() {
        const core::tensor<double> y = call_forward();
        return compensated_dot(y.cview(), dy_.cview());
    }

    core::grad_mode mode_of(std::size_t k, core::grad_mode data_mode, core::grad_mode param_mode) const {
        return p_.inputs[k].kind == input_kind::data ? data_mode : param_mode;
    }

    void call_backward(std::vector<core::view<double>>& dx, core::grad_mode data_mode, core::grad_mode param_mode) {
        p_.backward(input_views(xv_), dy_.cview(), grad_views(dx), data_mode, param_mode);
    }

    void check_forward() {
        const core::tensor<double> y1 = call_forward();
        const core::index_t diff = first_bit_difference(y0_.cview(), y1.cview());
        if (diff >= 0)
            record_violation(report_, make_violation("output", y0_.shape(), diff,
                                                     "forward is not deterministic: two calls on the same inputs differ",
                                                     y0_[diff], y1[diff]));
        const core::index_t bad = first_non_finite(y0_.cview());
        if (bad >= 0)
            record_violation(report_, make_violation("output", y0_.shape(), bad, "forward produced a non-finite output",
                                                     unknown, y0_[bad]));
    }

    void compute_reference() {
        g_ = zeros_like(p_.inputs);
        auto dx = views(g_);
        call_backward(dx, core::grad_mode::assign, core::grad_mode::assign);
        for (std::size_t k = 0; k < g_.size(); ++k) {
            const core::index_t bad = first_non_finite(g_[k].cview());
            if (bad >= 0)
                record_violation(report_, make_violation(p_.inputs[k].name, g_[k].shape(), bad,
                                                         "backward produced a non-finite gradient", unknown, g_[k][bad]));
        }
    }

    enum class prefill { nan, random };

    // One backward call under (data_mode, param_mode) on pre-filled buffers, each compared with
    // what its mode requires. With empty_none, buffers under none are passed empty instead.
    // Returns whether a buffer under none was written.
    bool run_pass(core::grad_mode data_mode, core::grad_mode param_mode, prefill fill, bool empty_none) {
        const std::size_t n = p_.inputs.size();
        std::vector<core::tensor<double>> before;
        std::vector<core::tensor<double>> bufs;
        std::vector<core::view<double>> dx;
        before.reserve(n);
        bufs.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            core::tensor<double> b(g_[k].shape(), core::uninitialized);
            if (fill == prefill::nan)
                b.fill(std::numeric_limits<double>::quiet_NaN());
            else
                prefill_offset_ = fill_nonzero(b.view(), core::philox_stream{o_.seed, stream_prefill}, prefill_offset_,
                                               1.0 + max_abs(g_[k].cview()));
            before.push_back(b.clone());
            bufs.push_back(std::move(b));
        }
        for (std::size_t k = 0; k < n; ++k) {
            if (empty_none && mode_of(k, data_mode, param_mode) == core::grad_mode::none)
                dx.emplace_back(nullptr, core::shape::none());
            else
                dx.push_back(bufs[k].view());
        }

        const std::string label = modes_label(data_mode, param_mode) +
                                  (fill == prefill::nan ? " (buffers filled with NaN)" : "");
        if (empty_none) {
            try {
                call_backward(dx, data_mode, param_mode);
            } catch (const std::exception& e) {
                std::string none_inputs;
                for (std::size_t k = 0; k < n; ++k)
                    if (mode_of(k, data_mode, param_mode) == core::grad_mode::none)
                        none_inputs += (none_inputs.empty() ? "" : ", ") + p_.inputs[k].name;
                contract_violation v;
                v.input = none_inputs;
                v.what = label + ": backward threw when the buffers under none were empty, which the contract "
                                 "allows: " + e.what();
                record_violation(report_, std::move(v));
                return false;
            }
        } else {
            call_backward(dx, data_mode, param_mode);
        }

        bool none_written = false;
        for (std::size_t k = 0; k < n; ++k) {
            const core::grad_mode m = mode_of(k, data_mode, param_mode);
            if (dx[k].empty() && bufs[k].numel() != 0) continue;
            if (m == core::grad_mode::none)
                none_written |= !check_none(k, before[k], bufs[k], label);
            else
                check_written(k, m, before[k], bufs[k], fill, label);
        }
        return none_written;
    }

    bool check_none(std::size_t k, const core::tensor<double>& before, const core::tensor<double>& after,
                    const std::string& label) {
        const core::index_t i = first_bit_difference(before.cview(), after.cview());
        if (i < 0) return true;
        record_violation(report_, make_violation(p_.inputs[k].name, after.shape(), i,
                                                 label + ": none must leave the buffer untouched, but backward wrote it",
                                                 before[i], after[i]));
        return false;
    }

    void check_written(std::size_t k, core::grad_mode m, const core::tensor<double>& before,
                       const core::tensor<double>& after, prefill fill, const std::string& label) {
        const core::tensor<double>& g = g_[k];
        const double scale = 1.0 + max_abs(g.cview());
        const auto close = [&](double a, double b, double p) {
            return std::abs(a - b) <= o_.contract_rtol * (std::abs(p) + scale);
        };
        for (core::index_t i = 0; i < g.numel(); ++i) {
            if (!std::isfinite(g[i])) continue;  // already reported as a non-finite gradient
            const double p = fill == prefill::nan ? 0.0 : before[i];
            const double got = after[i];
            std::string what;
            double expected = g[i];
            if (m == core::grad_mode::assign) {
                if (close(got, g[i], p)) continue;
                if (std::isnan(got))
                    what = "entry left unwritten (or read before written) under assign, which must overwrite every "
                           "entry without reading it";
                else if (fill == prefill::random && std::memcmp(&got, &before[i], sizeof(double)) == 0)
                    what = "entry left unwritten under assign";
                else if (fill == prefill::random && close(got, p + g[i], p))
                    what = "assign added the gradient onto the buffer instead of overwriting it";
                else
                    what = "assign gave a result that depends on the buffer's previous contents";
            } else {
                expected = p + g[i];
                if (close(got, expected, p)) continue;
                if (close(got, g[i], p))
                    what = "accumulate overwrote the buffer instead of adding the gradient to it";
                else if (std::memcmp(&got, &before[i], sizeof(double)) == 0)
                    what = "entry left untouched under accumulate";
                else
                    what = "accumulate must add the gradient onto the buffer's previous contents";
            }
            record_violation(report_, make_violation(p_.inputs[k].name, g.shape(), i, label + ": " + what, expected, got));
            return;  // one violation per buffer and pass
        }
    }

    void check_contract() {
        run_pass(core::grad_mode::assign, core::grad_mode::assign, prefill::nan, false);
        bool none_written = false;
        for (core::grad_mode dm : all_modes_)
            for (core::grad_mode pm : all_modes_) none_written |= run_pass(dm, pm, prefill::random, false);
        if (!o_.check_empty_none_buffers || none_written) return;
        for (core::grad_mode dm : all_modes_)
            for (core::grad_mode pm : all_modes_)
                if (dm == core::grad_mode::none || pm == core::grad_mode::none)
                    run_pass(dm, pm, prefill::random, true);
    }

    void check_numeric() {
        std::vector<double> steps(o_.steps.size());
        std::vector<double> numeric(o_.steps.size());
        std::uint64_t subset_offset = 0;
        for (std::size_t k = 0; k < x_.size(); ++k) {
            core::tensor<double>& x = x_[k];
            const std::vector<core::index_t> picked =
                choose_subset(x.numel(), o_.max_elements_per_input, core::philox_stream{o_.seed, stream_subset},
                              subset_offset);
            subset_offset += 2 * static_cast<std::uint64_t>(x.numel());
            for (core::index_t i : picked) {
                const double orig = x[i];
                const double scale = std::max(1.0, std::abs(orig));
                for (std::size_t s = 0; s < o_.steps.size(); ++s) {
                    const double h = o_.steps[s] * scale;
                    const double xp = orig + h;
                    const double xm = orig - h;
                    x[i] = xp;
                    const double lp = loss();
                    x[i] = xm;
                    const double lm = loss();
                    x[i] = orig;
                    steps[s] = h;
                    numeric[s] = (lp - lm) / (xp - xm);  // the representable step, not the nominal one
                }
                record_element(report_, "gradient", p_.inputs[k].name, x.shape(), i, g_[k][i], steps, numeric);
            }
        }
    }

    const gradient_problem& p_;
    const gradient_check_options& o_;
    check_report report_;
    std::vector<core::tensor<double>> x_;
    std::vector<core::const_view<double>> xv_;
    core::tensor<double> y0_;
    bool first_call_done_ = false;
    core::tensor<double> dy_;
    std::vector<core::tensor<double>> g_;
    std::uint64_t prefill_offset_ = 0;
};

}  // namespace detail

// Runs every check described at the top of this header. Throws imbdef::error on a malformed
// problem (no inputs, a missing function, duplicate names, bad steps or tolerances, an output
// whose shape changes between calls); everything wrong with the op itself goes into the report.
inline check_report check_gradients(const gradient_problem& problem, const gradient_check_options& options = {}) {
    return detail::gradient_checker(problem, options).run();
}

}  // namespace imbdef::testing
