#pragma once
// Zero-copy bridges between imbdef's CPU views and xtensor, the library's public array type for
// images and masks. Neither direction copies: the adaptor and the view share the same memory and
// the caller keeps the owner alive.

#include <cstddef>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "error.hpp"
#include "tensor.hpp"

namespace imbdef::core {

// An xtensor adaptor over the view's memory, with the view's shape.
template <class T>
auto as_xtensor(view<T, cpu> v) {
    std::vector<std::size_t> dims(v.shape().dims().begin(), v.shape().dims().end());
    return xt::adapt(v.data(), static_cast<std::size_t>(v.numel()), xt::no_ownership(), dims);
}

// A view over the memory of an xtensor container (xarray, xtensor, or an adaptor), which must be
// contiguous and row-major.
template <class E>
auto as_view(E& e) {
    using value = std::remove_reference_t<decltype(*e.data())>;
    IMBDEF_REQUIRE(e.layout() == xt::layout_type::row_major, "as_view(xtensor container)",
                   "a row-major container", "another layout");
    std::vector<index_t> dims(e.shape().begin(), e.shape().end());
    return view<value, cpu>(e.data(), shape(std::span<const index_t>(dims)));
}

}  // namespace imbdef::core
