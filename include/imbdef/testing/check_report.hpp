#pragma once
// What a check returns: whether it passed, how many elements it compared, the worst element (the
// one farthest outside, or least inside, the tolerance) and the first broken contract. Printable,
// so a doctest assertion can show it: CHECK_MESSAGE(r.ok, r.to_string()).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <ostream>
#include <sstream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"

namespace imbdef::testing {

// An analytic value a agrees with a numeric value n when |a - n| <= atol + rtol * max(|a|, |n|).
struct tolerance {
    double atol = 1e-6;
    double rtol = 1e-5;

    double bound(double a, double n) const noexcept { return atol + rtol * std::max(std::abs(a), std::abs(n)); }

    // |a - n| in units of the bound: at most 1 passes. Infinite when either value is not finite.
    double score(double a, double n) const noexcept {
        if (!std::isfinite(a) || !std::isfinite(n)) return std::numeric_limits<double>::infinity();
        const double diff = std::abs(a - n);
        if (diff == 0.0) return 0.0;
        const double b = bound(a, n);
        return b > 0.0 ? diff / b : std::numeric_limits<double>::infinity();
    }
};

// One compared element: the analytic value against central differences at each step size.
struct element_report {
    std::string quantity;                  // "gradient", "y_dot", "dx_dot"
    std::string input;                     // the input's name, or "output"
    core::index_t flat_index = 0;          // row-major
    std::vector<core::index_t> index;      // the same position as one index per axis
    double analytic = 0.0;
    std::vector<double> steps;             // the absolute step h of each numeric value
    std::vector<double> numeric;
    std::size_t best_step = 0;             // the step that agrees best; the errors below are for it
    double abs_error = 0.0;
    double rel_error = 0.0;                // abs_error / max(|analytic|, |numeric|)
    double score = 0.0;                    // abs_error in units of the tolerance; at most 1 passes
};

// A broken rule other than a wrong value: a gradient-mode contract, an unwritten entry, a
// nondeterministic forward. flat_index is -1 when the violation is not about one element;
// expected is NaN when no expected value is known.
struct contract_violation {
    std::string input;
    core::index_t flat_index = -1;
    std::vector<core::index_t> index;
    std::string what;
    double expected = std::numeric_limits<double>::quiet_NaN();
    double found = std::numeric_limits<double>::quiet_NaN();
};

struct check_report {
    std::string check;                     // which checker produced it
    bool ok = true;
    core::index_t checked = 0;             // elements compared against finite differences
    core::index_t failed = 0;              // of those, how many were outside the tolerance
    tolerance tol{};
    std::optional<element_report> worst;
    core::index_t violations = 0;
    std::optional<contract_violation> violation;  // the first one found

    std::string to_string() const;
};

namespace detail {

inline std::vector<core::index_t> unravel(const core::shape& s, core::index_t flat) {
    std::vector<core::index_t> idx(static_cast<std::size_t>(s.rank()));
    for (int a = s.rank() - 1; a >= 0; --a) {
        const core::index_t d = s[a] > 0 ? s[a] : 1;
        idx[static_cast<std::size_t>(a)] = flat % d;
        flat /= d;
    }
    return idx;
}

inline std::string format_number(double v) {
    std::ostringstream os;
    os.precision(12);
    os << v;
    return os.str();
}

inline std::string format_position(core::index_t flat, const std::vector<core::index_t>& idx) {
    std::string s = "[" + std::to_string(flat) + "] = (";
    for (std::size_t i = 0; i < idx.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(idx[i]);
    }
    return s + ")";
}

// Throws unless the step sizes and tolerance are usable.
inline void validate_steps(std::span<const double> steps, const tolerance& tol, const std::string& where) {
    IMBDEF_REQUIRE(!steps.empty(), where, "at least one finite-difference step", "none");
    for (double h : steps)
        IMBDEF_REQUIRE(std::isfinite(h) && h > 0.0, where, "positive, finite steps", "step " + format_number(h));
    IMBDEF_REQUIRE(tol.atol >= 0.0 && tol.rtol >= 0.0, where, "a non-negative atol and rtol",
                   "atol " + format_number(tol.atol) + ", rtol " + format_number(tol.rtol));
}

// Compares one analytic value with its numeric estimates (one per step) and folds the result into
// the report: counts it, counts a failure, and keeps it if it is the worst so far.
inline void record_element(check_report& r, std::string_view quantity, std::string_view input, const core::shape& s,
                           core::index_t flat, double analytic, std::span<const double> steps,
                           std::span<const double> numeric) {
    std::size_t best = 0;
    double best_score = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < numeric.size(); ++k) {
        const double sc = r.tol.score(analytic, numeric[k]);
        if (sc < best_score) {
            best_score = sc;
            best = k;
        }
    }
    ++r.checked;
    if (!(best_score <= 1.0)) ++r.failed;
    if (r.worst && !(best_score > r.worst->score)) return;

    element_report e;
    e.quantity = quantity;
    e.input = input;
    e.flat_index = flat;
    e.index = unravel(s, flat);
    e.analytic = analytic;
    e.steps.assign(steps.begin(), steps.end());
    e.numeric.assign(numeric.begin(), numeric.end());
    e.best_step = best;
    e.abs_error = std::abs(analytic - numeric[best]);
    const double mag = std::max(std::abs(analytic), std::abs(numeric[best]));
    e.rel_error = mag > 0.0 ? e.abs_error / mag : 0.0;
    if (!std::isfinite(e.abs_error)) e.rel_error = e.abs_error;
    e.score = best_score;
    r.worst = std::move(e);
}

inline void record_violation(check_report& r, contract_violation v) {
    ++r.violations;
    if (!r.violation) r.violation = std::move(v);
}

inline contract_violation make_violation(std::string input, const core::shape& s, core::index_t flat, std::string what,
                                         double expected, double found) {
    return {std::move(input), flat, unravel(s, flat), std::move(what), expected, found};
}

inline void finish(check_report& r) { r.ok = r.failed == 0 && r.violations == 0; }

}  // namespace detail

inline std::string to_string(const element_report& e) {
    std::string s = e.quantity + " of '" + e.input + "' " + detail::format_position(e.flat_index, e.index) +
                    ": analytic " + detail::format_number(e.analytic) + ", numeric";
    for (std::size_t k = 0; k < e.numeric.size(); ++k) {
        s += (k ? ", " : " ") + detail::format_number(e.numeric[k]) + " (h " + detail::format_number(e.steps[k]) + ")";
    }
    if (!e.numeric.empty())
        s += "; at h " + detail::format_number(e.steps[e.best_step]) + ": abs error " +
             detail::format_number(e.abs_error) + ", rel error " + detail::format_number(e.rel_error) + ", " +
             detail::format_number(e.score) + " x tolerance";
    return s;
}

inline std::string to_string(const contract_violation& v) {
    std::string s = "'" + v.input + "'";
    if (v.flat_index >= 0) s += " " + detail::format_position(v.flat_index, v.index);
    s += ": " + v.what;
    if (v.flat_index >= 0) {
        s += " (";
        if (!std::isnan(v.expected)) s += "expected " + detail::format_number(v.expected) + ", ";
        s += "found " + detail::format_number(v.found) + ")";
    }
    return s;
}

inline std::string check_report::to_string() const {
    std::string s = check + (ok ? " passed: " : " FAILED: ") + std::to_string(checked) + " elements checked";
    if (failed) s += ", " + std::to_string(failed) + " outside tolerance";
    s += " (atol " + detail::format_number(tol.atol) + ", rtol " + detail::format_number(tol.rtol) + ")";
    if (violations) s += ", " + std::to_string(violations) + " contract violation" + (violations > 1 ? "s" : "");
    if (worst) s += "\n  worst element: " + testing::to_string(*worst);
    if (violation) s += "\n  first contract violation: " + testing::to_string(*violation);
    return s;
}

inline std::ostream& operator<<(std::ostream& os, const element_report& e) { return os << to_string(e); }
inline std::ostream& operator<<(std::ostream& os, const contract_violation& v) { return os << to_string(v); }
inline std::ostream& operator<<(std::ostream& os, const check_report& r) { return os << r.to_string(); }

}  // namespace imbdef::testing
