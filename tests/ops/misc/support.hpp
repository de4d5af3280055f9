#pragma once
// Helpers shared by the misc op tests.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include <imbdef/core.hpp>
#include <imbdef/testing.hpp>

namespace misc_test {

using namespace imbdef;
using core::const_view;
using core::grad_mode;
using core::index_t;
using core::shape;
using core::tensor;
namespace tst = imbdef::testing;

// Normal draws from (seed 0x5eed, stream).
template <class T>
tensor<T> normal_tensor(const shape& s, std::uint64_t stream, T stddev = T(1)) {
    tensor<T> t(s, core::uninitialized);
    core::fill_normal(t.view(), core::philox_stream{0x5eed, stream}, 0, T(0), stddev);
    return t;
}

// The same values in another element type.
template <class To, class From>
tensor<To> convert(const tensor<From>& from) {
    tensor<To> out(from.shape(), core::uninitialized);
    for (index_t i = 0; i < from.numel(); ++i) out[i] = static_cast<To>(from[i]);
    return out;
}

// The message of the imbdef::error thrown by `call`, or a marker when none was thrown.
template <class Call>
std::string message_of(Call&& call) {
    try {
        call();
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "no imbdef::error";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Largest |a - b| / max(1, |b|) over all elements.
template <class T, class U>
double max_rel_diff(const tensor<T>& a, const tensor<U>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
        const double d = std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        worst = std::max(worst, d / std::max(1.0, std::abs(static_cast<double>(b[i]))));
    }
    return worst;
}

}  // namespace misc_test
