#pragma once
// Storage on core::cuda and copies between it and the CPU, so that tensor<T, core::cuda>,
// tensor::to<Device>() and core::copy() work across devices.
//
// Memory comes from cudaMalloc (256-byte aligned, beyond core::alignment); every allocation is
// counted in core::memory_stats<core::cuda> like the CPU's. Copies and memsets use the default
// stream: a copy to the CPU returns when the data is there, so it also waits for queued kernels.
// cudaFree waits for the device too, so a tensor may be destroyed while kernels that use it are
// still queued; the price is a synchronisation, which is why steady-state code uses an arena.

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/memory.hpp"
#include "check.cuh"

namespace imbdef::core {

template <>
struct device_memory<cuda> {
    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        const std::size_t rounded = align_up(bytes);
        void* p = nullptr;
        const cudaError_t status = cudaMalloc(&p, rounded);
        if (status != cudaSuccess) {
            (void)cudaGetLastError();  // out of memory is not sticky; later checks must not see it
            throw ::imbdef::error("device_memory<cuda>::allocate",
                                  "an allocation of " + std::to_string(rounded) + " bytes on the GPU to succeed",
                                  std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")");
        }
        memory_stats<cuda>::on_allocate(rounded);
        return p;
    }

    // Errors are ignored: a destructor cannot report them, and at process exit the runtime may
    // already be unloading.
    static void deallocate(void* p, std::size_t bytes) noexcept {
        if (p == nullptr) return;
        (void)cudaFree(p);
        memory_stats<cuda>::on_deallocate(align_up(bytes));
    }

    static void zero(void* p, std::size_t bytes) {
        if (bytes) IMBDEF_CUDA_CHECK(cudaMemset(p, 0, bytes));
    }
};

template <>
struct device_copy<cuda, cpu> {
    static void run(void* dst, const void* src, std::size_t bytes) {
        if (bytes) IMBDEF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    }
};

template <>
struct device_copy<cpu, cuda> {
    static void run(void* dst, const void* src, std::size_t bytes) {
        if (bytes) IMBDEF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    }
};

// The two ranges must not overlap (unlike the CPU copy, which is a memmove).
template <>
struct device_copy<cuda, cuda> {
    static void run(void* dst, const void* src, std::size_t bytes) {
        if (bytes) IMBDEF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    }
};

}  // namespace imbdef::core
