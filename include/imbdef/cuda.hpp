#pragma once
// The CUDA backend: storage and copies on core::cuda, Philox fills, and the cuda specialisations
// of the ops. The only way in to the headers under cuda/; everything else in imbdef compiles
// without nvcc, and a host-only translation unit that includes this stops with one message.

#if !defined(__CUDACC__)
static_assert(false, "imbdef: include <imbdef/cuda.hpp> only from a translation unit compiled by nvcc (a .cu file)");
#else

#include "core.hpp"

#include "cuda/check.cuh"
#include "cuda/launch.cuh"
#include "cuda/memory.cuh"
#include "cuda/random.cuh"

#include "cuda/leaky_relu.cuh"

#endif
