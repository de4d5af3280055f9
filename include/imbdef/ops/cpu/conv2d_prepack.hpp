#pragma once
// The A operand of the convolution's GEMMs, packed into scratch once per call (prepack), and the
// packer of a strided matrix such as W as stored or transposed (strided_pack): shared by the paths
// of the CPU convolution (conv2d.hpp).

#include <algorithm>

#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// A strided matrix as A (pack_a_strided), for prepack_a.
template <class T>
struct strided_pack {
    const T* a;
    index_t rs;
    index_t cs;
    void operator()(index_t m0, index_t mc, index_t k0, index_t kc, T* dst, index_t panel_stride) const {
        gemm::pack_a_strided(a, rs, cs, T(1), m0, mc, k0, kc, dst, panel_stride);
    }
};

template <class T, class Pack>
gemm::prepacked_a<T> prepack(core::scratch_scope<>& scope, index_t m, index_t k, const Pack& pack) {
    T* buf = scope.allocate<T>(core::shape{std::max<index_t>(1, gemm::prepacked_size<T>(m, k))}).data();
    return gemm::prepack_a<T>(m, k, pack, buf);
}

}  // namespace detail

}  // namespace imbdef::ops
