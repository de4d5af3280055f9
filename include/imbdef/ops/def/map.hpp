#pragma once
// map_op: the elementwise map of a functor over tensors of one shape, the single backend entry
// that every elementwise front end (arithmetic.hpp, softplus.hpp) reduces to.
//
//   backend<map_op, Device>::map(fn, y, in...)             y[i] = fn(in[i]...)
//   backend<map_op, Device>::map_grad(fn, g, mode, in...)  g[i] = fn(in[i]...) under mode
//
// fn is a trivially copyable functor (namespace ops::map_fn, in def/arithmetic.hpp and
// def/softplus.hpp) whose call operator is IMBDEF_HD, so a CUDA kernel can run the very rule the
// CPU loop runs. Each output element depends only on the inputs at the same index, so an output
// may alias any input.

#include <string_view>

namespace imbdef::ops {

struct map_op {
    static constexpr std::string_view name = "ops::map";
};

}  // namespace imbdef::ops
