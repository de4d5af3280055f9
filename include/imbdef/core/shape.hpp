#pragma once
// shape: the extents of a dense, contiguous, row-major array of rank 0 to max_rank.
// Trivially copyable and usable in device code, so views carrying a shape can be kernel arguments.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include "error.hpp"
#include "macros.hpp"

namespace imbdef::core {

using index_t = std::int64_t;

class shape {
public:
    static constexpr int max_rank = 6;

    constexpr shape() noexcept = default;

    shape(std::initializer_list<index_t> dims) { assign(std::span<const index_t>(dims.begin(), dims.size())); }
    explicit shape(std::span<const index_t> dims) { assign(dims); }

    // [0]: rank 1, no elements. The shape of a default-constructed tensor or view, so that
    // "nothing" is empty() rather than a rank-0 scalar with a null pointer.
    IMBDEF_HD static constexpr shape none() noexcept {
        shape s;
        s.rank_ = 1;
        s.dims_[0] = 0;
        return s;
    }

    IMBDEF_HD constexpr int rank() const noexcept { return rank_; }
    IMBDEF_HD constexpr index_t operator[](int axis) const noexcept { return dims_[axis]; }
    IMBDEF_HD constexpr index_t& operator[](int axis) noexcept { return dims_[axis]; }

    // Extent of `axis`, where a negative axis counts from the end (-1 is the last). Checked.
    index_t dim(int axis) const {
        const int a = axis < 0 ? axis + rank_ : axis;
        IMBDEF_REQUIRE(a >= 0 && a < rank_, "shape::dim", "an axis in [" + std::to_string(-rank_) + ", " +
                       std::to_string(rank_) + ")", std::to_string(axis) + " for shape " + to_string());
        return dims_[a];
    }

    IMBDEF_HD constexpr index_t numel() const noexcept {
        index_t n = 1;
        for (int i = 0; i < rank_; ++i) n *= dims_[i];
        return n;
    }

    // Row-major stride of `axis` in elements.
    IMBDEF_HD constexpr index_t stride(int axis) const noexcept {
        index_t s = 1;
        for (int i = rank_ - 1; i > axis; --i) s *= dims_[i];
        return s;
    }

    std::span<const index_t> dims() const noexcept { return {dims_, static_cast<std::size_t>(rank_)}; }

    friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
        if (a.rank_ != b.rank_) return false;
        for (int i = 0; i < a.rank_; ++i)
            if (a.dims_[i] != b.dims_[i]) return false;
        return true;
    }

    std::string to_string() const {
        std::string s = "[";
        for (int i = 0; i < rank_; ++i) {
            if (i) s += ", ";
            s += std::to_string(dims_[i]);
        }
        return s + "]";
    }

private:
    void assign(std::span<const index_t> dims) {
        IMBDEF_REQUIRE(dims.size() <= static_cast<std::size_t>(max_rank), "shape",
                       "rank at most " + std::to_string(max_rank), "rank " + std::to_string(dims.size()));
        rank_ = static_cast<int>(dims.size());
        for (int i = 0; i < rank_; ++i) {
            IMBDEF_REQUIRE(dims[i] >= 0, "shape", "non-negative extents",
                           "extent " + std::to_string(dims[i]) + " on axis " + std::to_string(i));
            dims_[i] = dims[i];
        }
    }

    index_t dims_[max_rank] = {};
    int rank_ = 0;
};

// Throws an error naming both shapes unless they are equal; `what` names the op and operands.
inline void require_same_shape(const shape& a, const shape& b, const std::string& what) {
    IMBDEF_REQUIRE(a == b, what, "shape " + a.to_string(), "shape " + b.to_string());
}

}  // namespace imbdef::core
