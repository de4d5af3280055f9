#pragma once
// The CUDA backend of ops::leaky_relu: the per-element rules of ops/def/leaky_relu.hpp, the same
// functions the CPU backend runs, in grid-stride kernels. Arguments are checked by the front end.

#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../ops/backend.hpp"
#include "../ops/def/leaky_relu.hpp"
#include "../ops/leaky_relu.hpp"
#include "check.cuh"
#include "launch.cuh"

namespace imbdef::cuda::detail {

template <class T>
__global__ void leaky_relu_forward_kernel(core::const_view<T, core::cuda> x, core::view<T, core::cuda> y, T slope,
                                          T gain) {
    grid_stride(x.numel(), [&](core::index_t i) { y[i] = ops::leaky_relu_op::forward(x[i], slope, gain); });
}

template <class T>
__global__ void leaky_relu_backward_kernel(core::const_view<T, core::cuda> x, core::const_view<T, core::cuda> dy,
                                           core::view<T, core::cuda> dx, core::grad_mode mode, T slope, T gain) {
    grid_stride(x.numel(), [&](core::index_t i) {
        core::store_grad(dx[i], ops::leaky_relu_op::backward(x[i], dy[i], slope, gain), mode);
    });
}

}  // namespace imbdef::cuda::detail

namespace imbdef::ops {

template <>
struct backend<leaky_relu_op, core::cuda> {
    template <class T>
    static void forward(core::const_view<T, core::cuda> x, core::view<T, core::cuda> y, T slope, T gain) {
        cuda::detail::leaky_relu_forward_kernel<T>
            <<<cuda::blocks_for(x.numel()), cuda::threads_per_block>>>(x, y, slope, gain);
        IMBDEF_CUDA_CHECK_LAUNCH(leaky_relu_forward_kernel);
    }

    template <class T>
    static void backward(core::const_view<T, core::cuda> x, core::const_view<T, core::cuda> dy,
                         core::view<T, core::cuda> dx, core::grad_mode mode, T slope, T gain) {
        cuda::detail::leaky_relu_backward_kernel<T>
            <<<cuda::blocks_for(x.numel()), cuda::threads_per_block>>>(x, dy, dx, mode, slope, gain);
        IMBDEF_CUDA_CHECK_LAUNCH(leaky_relu_backward_kernel);
    }
};

}  // namespace imbdef::ops
