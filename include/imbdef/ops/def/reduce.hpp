#pragma once
// Sums and means over axes (ops/reduce.hpp): the op tag, the axis list, and the plan that both
// backends run.
//
//   sum:   y[o] = sum_{r} x[o, r]          dx[o, r] = dy[o]
//   mean:  y[o] = (1/R) sum_{r} x[o, r]    dx[o, r] = dy[o] / R
// where o runs over the kept axes, r over the R combinations of the reduced axes. Both are
// linear, so their tangent rules are the ops themselves on the tangents.
//
// The plan merges x's axes into at most max_rank alternating runs of kept and reduced axes
// (axes of extent 1 dropped), so that the innermost run is contiguous in memory.

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct reduce_op {
    static constexpr std::string_view name = "ops::reduce";
};

// The axes to reduce; negative axes count from the end (-1 is the last).
class reduce_axes {
public:
    reduce_axes() = default;
    reduce_axes(std::initializer_list<int> axes) : reduce_axes(std::span<const int>(axes.begin(), axes.size())) {}
    explicit reduce_axes(std::span<const int> axes) {
        IMBDEF_REQUIRE(axes.size() <= static_cast<std::size_t>(core::shape::max_rank), "ops::reduce_axes",
                       "at most " + std::to_string(core::shape::max_rank) + " axes",
                       std::to_string(axes.size()) + " axes");
        for (int a : axes) axes_[count_++] = a;
    }

    int size() const noexcept { return count_; }
    int operator[](int i) const noexcept { return axes_[i]; }

private:
    int axes_[core::shape::max_rank] = {};
    int count_ = 0;
};

// x's axes as alternating runs: run k has extent ext[k] and is reduced when red[k]. Trivially
// copyable, so a kernel can take it by value.
struct reduce_plan {
    int runs = 0;
    core::index_t ext[core::shape::max_rank] = {};
    bool red[core::shape::max_rank] = {};
    core::index_t kept = 1;     // number of outputs
    core::index_t reduced = 1;  // R: elements summed into each output

    IMBDEF_HD core::index_t inner() const noexcept { return ext[runs - 1]; }
    IMBDEF_HD bool inner_reduced() const noexcept { return red[runs - 1]; }

    // The output index of x's row `row` (the index over every run but the innermost): the kept
    // runs' indices in row-major order, times the inner extent when the inner run is kept.
    IMBDEF_HD core::index_t output_of_row(core::index_t row) const noexcept {
        core::index_t out = 0, scale = inner_reduced() ? 1 : inner();
        for (int k = runs - 2; k >= 0; --k) {
            const core::index_t i = row % ext[k];
            row /= ext[k];
            if (!red[k]) {
                out += i * scale;
                scale *= ext[k];
            }
        }
        return out;
    }

    // The offset in x of the innermost run's first element for outer output index o_outer (over
    // the kept runs but the innermost) and outer reduced index r_outer (over the reduced runs but
    // the innermost).
    IMBDEF_HD core::index_t x_offset(core::index_t o_outer, core::index_t r_outer) const noexcept {
        core::index_t off = 0, stride = inner();
        for (int k = runs - 2; k >= 0; --k) {
            core::index_t& from = red[k] ? r_outer : o_outer;
            off += (from % ext[k]) * stride;
            from /= ext[k];
            stride *= ext[k];
        }
        return off;
    }
};

// Builds the plan for x and `axes` (validated: in range, no repeats). `where` names the op.
inline reduce_plan make_reduce_plan(std::string_view where, const core::shape& x, const reduce_axes& axes) {
    bool reduce[core::shape::max_rank] = {};
    for (int i = 0; i < axes.size(); ++i) {
        const int a = axes[i] < 0 ? axes[i] + x.rank() : axes[i];
        IMBDEF_REQUIRE(a >= 0 && a < x.rank(), std::string(where),
                       "axes in [" + std::to_string(-x.rank()) + ", " + std::to_string(x.rank()) + ") for x of shape " +
                           x.to_string(),
                       "axis " + std::to_string(axes[i]));
        IMBDEF_REQUIRE(!reduce[a], std::string(where), "each axis at most once",
                       "axis " + std::to_string(axes[i]) + " repeated");
        reduce[a] = true;
    }
    reduce_plan p;
    for (int a = 0; a < x.rank(); ++a) {
        if (reduce[a])
            p.reduced *= x[a];
        else
            p.kept *= x[a];
        if (x[a] == 1) continue;
        if (p.runs > 0 && p.red[p.runs - 1] == reduce[a]) {
            p.ext[p.runs - 1] *= x[a];
        } else {
            p.ext[p.runs] = x[a];
            p.red[p.runs] = reduce[a];
            ++p.runs;
        }
    }
    if (p.runs == 0) {  // a single element: one kept run of extent 1
        p.ext[0] = 1;
        p.red[0] = false;
        p.runs = 1;
    }
    return p;
}

// x's shape without the reduced axes, or with them set to 1 when keepdim.
inline core::shape reduced_shape(const core::shape& x, const reduce_axes& axes, bool keepdim = false) {
    bool reduce[core::shape::max_rank] = {};
    for (int i = 0; i < axes.size(); ++i) {
        const int a = axes[i] < 0 ? axes[i] + x.rank() : axes[i];
        if (a >= 0 && a < x.rank()) reduce[a] = true;
    }
    core::index_t dims[core::shape::max_rank];
    std::size_t n = 0;
    for (int a = 0; a < x.rank(); ++a) {
        if (!reduce[a])
            dims[n++] = x[a];
        else if (keepdim)
            dims[n++] = 1;
    }
    return core::shape(std::span<const core::index_t>(dims, n));
}

}  // namespace imbdef::ops
