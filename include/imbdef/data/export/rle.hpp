#pragma once
// COCO run-length encoding of a binary mask, plain and compressed.
//
// A COCO RLE reads the (height, width) mask in column-major order (down the first column, then
// the next) and lists the lengths of alternating runs, starting with a run of 0s (of length 0 when
// the first pixel is set); the counts sum to height * width.
//
// The compressed form is COCO's string encoding of those counts: from the fourth count on, each
// count is replaced by its difference from the count two before it (runs of the same value tend
// to be similar); each resulting integer is written as little-endian groups of 5 bits, one
// character per group holding the group in bits 0-4 and a "more follows" flag in bit 5, offset by
// 48 to stay printable. The value is signed: the last group's bit 4 is its sign, so a group is the
// last when the rest of the value is all sign (0 for positive, -1 for negative) and bit 4 agrees.
// Example: counts {0, 5, 3, 40} -> "0", "5", "3", then 40 - 5 = 35 = 3 + 1 * 32 -> 'S' '1':
// "053S1".

#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "components.hpp"

namespace imbdef::data {

struct coco_rle {
    core::index_t height = 0, width = 0;
    std::vector<core::index_t> counts;
    bool operator==(const coco_rle&) const = default;
};

namespace export_detail {

template <class Set>
coco_rle encode_rle(core::index_t h, core::index_t w, Set is_set) {
    coco_rle r{h, w, {}};
    bool value = false;
    core::index_t run = 0;
    for (core::index_t x = 0; x < w; ++x)
        for (core::index_t y = 0; y < h; ++y) {
            if (is_set(y, x) != value) {
                r.counts.push_back(run);
                run = 0;
                value = !value;
            }
            ++run;
        }
    r.counts.push_back(run);
    return r;
}

}  // namespace export_detail

// mask (height, width): set where non-zero.
inline coco_rle encode_rle(const xt::xtensor<std::uint8_t, 2>& mask) {
    const auto h = static_cast<core::index_t>(mask.shape()[0]), w = static_cast<core::index_t>(mask.shape()[1]);
    return export_detail::encode_rle(h, w, [&](core::index_t y, core::index_t x) { return mask.data()[y * w + x] != 0; });
}

// Component i of a set.
inline coco_rle encode_rle(const component_set& set, std::size_t i) {
    IMBDEF_REQUIRE(i < set.components.size(), "data::encode_rle",
                   "a component index below " + std::to_string(set.components.size()), std::to_string(i));
    return export_detail::encode_rle(set.height, set.width,
                                     [&](core::index_t y, core::index_t x) { return set.contains(i, y, x); });
}

inline std::string rle_to_string(const coco_rle& r) {
    std::string s;
    for (std::size_t k = 0; k < r.counts.size(); ++k) {
        std::int64_t v = r.counts[k];
        if (k > 2) v -= r.counts[k - 2];
        for (bool more = true; more;) {
            std::int64_t group = v & 0x1f;
            v >>= 5;  // arithmetic: a negative value tends to -1
            more = (group & 0x10) != 0 ? v != -1 : v != 0;
            if (more) group |= 0x20;
            s.push_back(static_cast<char>(group + 48));
        }
    }
    return s;
}

// The inverse of rle_to_string for a (height, width) mask. Throws on a character outside the
// encoding, a string that ends inside a count, a negative count, or counts that do not sum to
// height * width.
inline coco_rle rle_from_string(const std::string& s, core::index_t height, core::index_t width) {
    constexpr const char* where = "data::rle_from_string";
    IMBDEF_REQUIRE(height >= 0 && width >= 0, where, "a size >= 0",
                   std::to_string(height) + " x " + std::to_string(width));
    coco_rle r{height, width, {}};
    std::size_t p = 0;
    core::index_t total = 0;
    while (p < s.size()) {
        std::int64_t v = 0;
        int shift = 0;
        for (bool more = true; more; ++p, shift += 5) {
            IMBDEF_REQUIRE(p < s.size(), where, "a complete encoding", "a string that ends inside a count");
            const int c = static_cast<unsigned char>(s[p]) - 48;
            IMBDEF_REQUIRE(c >= 0 && c < 64 && shift < 60, where, "characters '0' to 'o' and counts below 2^60",
                           "character " + std::to_string(static_cast<unsigned char>(s[p])) + " at offset " +
                               std::to_string(p));
            v |= static_cast<std::int64_t>(c & 0x1f) << shift;
            more = (c & 0x20) != 0;
            if (!more && (c & 0x10) != 0) v |= -(std::int64_t{1} << (shift + 5));  // sign-extend
        }
        const std::size_t k = r.counts.size();
        if (k > 2) v += r.counts[k - 2];
        IMBDEF_REQUIRE(v >= 0, where, "counts >= 0", "count " + std::to_string(v) + " at position " + std::to_string(k));
        r.counts.push_back(v);
        total += v;
    }
    IMBDEF_REQUIRE(total == height * width, where,
                   "counts summing to " + std::to_string(height * width) + " (" + std::to_string(height) + " x " +
                       std::to_string(width) + ")",
                   "a sum of " + std::to_string(total));
    return r;
}

// The mask (height, width) of an RLE, holding 0 and 1. Throws when the counts do not sum to
// height * width.
inline xt::xtensor<std::uint8_t, 2> decode_rle(const coco_rle& r) {
    core::index_t total = 0;
    for (const core::index_t c : r.counts) {
        IMBDEF_REQUIRE(c >= 0, "data::decode_rle", "counts >= 0", "count " + std::to_string(c));
        total += c;
    }
    IMBDEF_REQUIRE(total == r.height * r.width, "data::decode_rle",
                   "counts summing to " + std::to_string(r.height * r.width), "a sum of " + std::to_string(total));
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({static_cast<std::size_t>(r.height), static_cast<std::size_t>(r.width)});
    core::index_t q = 0;
    std::uint8_t value = 0;
    for (const core::index_t c : r.counts) {
        for (core::index_t j = 0; j < c; ++j, ++q) m.data()[(q % r.height) * r.width + q / r.height] = value;
        value ^= 1;
    }
    return m;
}

}  // namespace imbdef::data
