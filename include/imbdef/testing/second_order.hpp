#pragma once
// check_second_order: verifies the forward-over-reverse tangent rules that exact R1 needs
// (DESIGN.md, "Second order") against central differences, in double.
//
// An op provides, besides forward and backward (gradient_check.hpp):
// - forward_tangent(x, x_dot) -> y_dot, the directional derivative of forward at x along x_dot;
// - backward_tangent(x, x_dot, dy, dy_dot, dx, dx_dot), which writes into dx the gradient that
//   backward(x, dy) gives and into dx_dot its directional derivative along (x_dot, dy_dot). Both
//   buffers follow assign: the checker fills them with NaN first, so an unwritten entry shows.
//
//   testing::second_order_problem p;
//   p.add_data("x", ...).add_parameter("w", ...);
//   p.forward = ...; p.backward = ...; p.forward_tangent = ...; p.backward_tangent = ...;
//   auto r = testing::check_second_order(p);
//   CHECK_MESSAGE(r.ok, r.to_string());
//
// With random tangents x_dot and random dy, dy_dot (Philox) and h = step * max(1, max |x|):
// - y_dot is compared with (forward(x + h x_dot) - forward(x - h x_dot)) / 2h;
// - dx_dot[k] with (backward(x + h x_dot, dy + h dy_dot) - backward(x - h x_dot, dy - h dy_dot))[k] / 2h,
//   where backward is the problem's first-order backward under (assign, assign), the oracle that
//   check_gradients verifies separately;
// - dx[k] from backward_tangent with backward(x, dy)[k], within the same tolerance.
// Each element passes when it agrees with at least one step. With perturb_parameters = false the
// parameters get zero tangents, as in R1, which perturbs only the input image.
//
// A second_order_problem is a gradient_problem, so check_gradients(p) checks its first order.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
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
#include "gradient_check.hpp"

namespace imbdef::testing {

using forward_tangent_fn = std::function<core::tensor<double>(input_views x, input_views x_dot)>;
using backward_tangent_fn =
    std::function<void(input_views x, input_views x_dot, core::const_view<double> dy, core::const_view<double> dy_dot,
                       grad_views dx, grad_views dx_dot)>;

struct second_order_problem : gradient_problem {
    forward_tangent_fn forward_tangent;
    backward_tangent_fn backward_tangent;

    second_order_problem& add_data(std::string name, core::tensor<double> value) {
        gradient_problem::add_data(std::move(name), std::move(value));
        return *this;
    }
    second_order_problem& add_parameter(std::string name, core::tensor<double> value) {
        gradient_problem::add_parameter(std::move(name), std::move(value));
        return *this;
    }
};

struct second_order_options {
    std::uint64_t seed = 0x5EED'0002;
    // Relative step sizes: the absolute step is step * max(1, largest |x_i| over all inputs).
    std::vector<double> steps{1e-2, 1e-3, 1e-4, 1e-5};
    tolerance tol{};
    // False gives every parameter a zero tangent (R1's case); data inputs always get random ones.
    bool perturb_parameters = true;
};

namespace detail {

class second_order_checker {
public:
    second_order_checker(const second_order_problem& p, const second_order_options& o) : p_(p), o_(o) {
        validate_inputs(p.inputs, where_);
        IMBDEF_REQUIRE(static_cast<bool>(p.forward), where_, "a forward function", "none");
        IMBDEF_REQUIRE(static_cast<bool>(p.backward), where_, "a backward function", "none");
        IMBDEF_REQUIRE(static_cast<bool>(p.forward_tangent), where_, "a forward_tangent function", "none");
        IMBDEF_REQUIRE(static_cast<bool>(p.backward_tangent), where_, "a backward_tangent function", "none");
        validate_steps(o.steps, o.tol, where_);
        report_.check = "second-order check";
        report_.tol = o.tol;
        x_ = clone_values(p.inputs);
        xv_ = const_views(x_);
    }

    check_report run() {
        const core::tensor<double> y = p_.forward(input_views(xv_));
        y_shape_ = y.shape();
        draw_directions();
        double x_max = 0.0;
        for (const auto& t : x_) x_max = std::max(x_max, max_abs(t.cview()));
        for (double s : o_.steps) steps_.push_back(s * std::max(1.0, x_max));
        check_forward_tangent();
        check_backward_tangent();
        finish(report_);
        return std::move(report_);
    }

private:
    static constexpr const char* where_ = "testing::check_second_order";

    void draw_directions() {
        const core::philox_stream tangents{o_.seed, stream_x_dot};
        std::uint64_t offset = 0;
        for (std::size_t k = 0; k < x_.size(); ++k) {
            core::tensor<double> t(x_[k].shape());
            if (p_.inputs[k].kind == input_kind::data || o_.perturb_parameters)
                offset = core::fill_normal<double>(t.view(), tangents, offset);
            x_dot_.push_back(std::move(t));
        }
        x_dot_v_ = const_views(x_dot_);
        dy_ = core::tensor<double>(y_shape_, core::uninitialized);
        dy_dot_ = core::tensor<double>(y_shape_, core::uninitialized);
        core::fill_normal<double>(dy_.view(), core::philox_stream{o_.seed, stream_output_weights});
        core::fill_normal<double>(dy_dot_.view(), core::philox_stream{o_.seed, stream_dy_dot});
    }

    // x + sign * h * x_dot, input by input.
    std::vector<core::tensor<double>> shifted_inputs(double sign_h) const {
        std::vector<core::tensor<double>> out;
        out.reserve(x_.size());
        for (std::size_t k = 0; k < x_.size(); ++k) {
            core::tensor<double> t(x_[k].shape(), core::uninitialized);
            for (core::index_t i = 0; i < t.numel(); ++i) t[i] = x_[k][i] + sign_h * x_dot_[k][i];
            out.push_back(std::move(t));
        }
        return out;
    }

    core::tensor<double> forward_at(double sign_h) const {
        const auto xs = shifted_inputs(sign_h);
        const auto xv = const_views(xs);
        core::tensor<double> y = p_.forward(input_views(xv));
        IMBDEF_REQUIRE(y.shape() == y_shape_, std::string(where_) + ": forward",
                       "the output shape " + y_shape_.to_string() + " of the first call", y.shape().to_string());
        return y;
    }

    // backward(x + sign_h x_dot, dy + sign_h dy_dot) under (assign, assign).
    std::vector<core::tensor<double>> backward_at(double sign_h) const {
        const auto xs = shifted_inputs(sign_h);
        const auto xv = const_views(xs);
        core::tensor<double> dy(y_shape_, core::uninitialized);
        for (core::index_t i = 0; i < dy.numel(); ++i) dy[i] = dy_[i] + sign_h * dy_dot_[i];
        auto dx = zeros_like(p_.inputs);
        auto dxv = views(dx);
        p_.backward(input_views(xv), dy.cview(), grad_views(dxv), core::grad_mode::assign, core::grad_mode::assign);
        return dx;
    }

    void check_forward_tangent() {
        const core::tensor<double> y_dot = p_.forward_tangent(input_views(xv_), input_views(x_dot_v_));
        IMBDEF_REQUIRE(y_dot.shape() == y_shape_, std::string(where_) + ": forward_tangent",
                       "y_dot with the output's shape " + y_shape_.to_string(), y_dot.shape().to_string());
        std::vector<core::tensor<double>> central;
        for (double h : steps_) {
            const core::tensor<double> yp = forward_at(h);
            const core::tensor<double> ym = forward_at(-h);
            core::tensor<double> d(y_shape_, core::uninitialized);
            for (core::index_t i = 0; i < d.numel(); ++i) d[i] = (yp[i] - ym[i]) / (2.0 * h);
            central.push_back(std::move(d));
        }
        std::vector<double> numeric(steps_.size());
        for (core::index_t i = 0; i < y_dot.numel(); ++i) {
            for (std::size_t s = 0; s < steps_.size(); ++s) numeric[s] = central[s][i];
            record_element(report_, "y_dot", "output", y_shape_, i, y_dot[i], steps_, numeric);
        }
    }

    void check_backward_tangent() {
        const std::size_t n = x_.size();
        std::vector<core::tensor<double>> dx;
        std::vector<core::tensor<double>> dx_dot;
        for (std::size_t k = 0; k < n; ++k) {
            dx.emplace_back(x_[k].shape(), std::numeric_limits<double>::quiet_NaN());
            dx_dot.emplace_back(x_[k].shape(), std::numeric_limits<double>::quiet_NaN());
        }
        {
            auto dxv = views(dx);
            auto dx_dot_v = views(dx_dot);
            p_.backward_tangent(input_views(xv_), input_views(x_dot_v_), dy_.cview(), dy_dot_.cview(), grad_views(dxv),
                                grad_views(dx_dot_v));
        }
        const std::vector<core::tensor<double>> dx_ref = backward_at(0.0);
        for (std::size_t k = 0; k < n; ++k) {
            const std::string& name = p_.inputs[k].name;
            const core::shape& s = x_[k].shape();
            for (core::index_t i = 0; i < s.numel(); ++i) {
                if (std::isnan(dx[k][i])) {
                    record_violation(report_, make_violation(name, s, i,
                                                             "backward_tangent left an entry of dx unwritten (its "
                                                             "buffers are filled with NaN and must be assigned)",
                                                             dx_ref[k][i], dx[k][i]));
                    break;
                }
                if (!(report_.tol.score(dx[k][i], dx_ref[k][i]) <= 1.0)) {
                    record_violation(report_, make_violation(name, s, i,
                                                             "the dx written by backward_tangent differs from the one "
                                                             "backward writes",
                                                             dx_ref[k][i], dx[k][i]));
                    break;
                }
            }
            const core::index_t unwritten = first_nan(dx_dot[k].cview());
            if (unwritten >= 0)
                record_violation(report_, make_violation(name, s, unwritten,
                                                         "backward_tangent left an entry of dx_dot unwritten (its "
                                                         "buffers are filled with NaN and must be assigned)",
                                                         std::numeric_limits<double>::quiet_NaN(),
                                                         dx_dot[k][unwritten]));
        }

        std::vector<std::vector<core::tensor<double>>> central;
        for (double h : steps_) {
            const auto bp = backward_at(h);
            const auto bm = backward_at(-h);
            std::vector<core::tensor<double>> d;
            for (std::size_t k = 0; k < n; ++k) {
                core::tensor<double> t(x_[k].shape(), core::uninitialized);
                for (core::index_t i = 0; i < t.numel(); ++i) t[i] = (bp[k][i] - bm[k][i]) / (2.0 * h);
                d.push_back(std::move(t));
            }
            central.push_back(std::move(d));
        }
        std::vector<double> numeric(steps_.size());
        for (std::size_t k = 0; k < n; ++k) {
            for (core::index_t i = 0; i < x_[k].numel(); ++i) {
                for (std::size_t s = 0; s < steps_.size(); ++s) numeric[s] = central[s][k][i];
                record_element(report_, "dx_dot", p_.inputs[k].name, x_[k].shape(), i, dx_dot[k][i], steps_, numeric);
            }
        }
    }

    static core::index_t first_nan(core::const_view<double> v) {
        for (core::index_t i = 0; i < v.numel(); ++i)
            if (std::isnan(v[i])) return i;
        return -1;
    }

    const second_order_problem& p_;
    const second_order_options& o_;
    check_report report_;
    std::vector<core::tensor<double>> x_;
    std::vector<core::const_view<double>> xv_;
    std::vector<core::tensor<double>> x_dot_;
    std::vector<core::const_view<double>> x_dot_v_;
    core::shape y_shape_;
    core::tensor<double> dy_;
    core::tensor<double> dy_dot_;
    std::vector<double> steps_;
};

}  // namespace detail

// Runs the checks described at the top of this header. Throws imbdef::error on a malformed problem
// (no inputs, a missing function, duplicate names, bad steps or tolerances, an output or y_dot
// whose shape differs from the first forward's); everything wrong with the rules goes into the report.
inline check_report check_second_order(const second_order_problem& problem, const second_order_options& options = {}) {
    return detail::second_order_checker(problem, options).run();
}

}  // namespace imbdef::testing
