#pragma once
// CUDA runtime errors as imbdef::error, and whether a usable GPU is present.

#include <cuda_runtime.h>

#include <string>

#include "../core/error.hpp"

namespace imbdef::cuda {

// Throws imbdef::error unless `status` is cudaSuccess. The message names the call, where it was
// made and the runtime's own description, e.g.
//   cudaMalloc(&p, n) at memory.cuh:31: expected cudaSuccess, found cudaErrorMemoryAllocation (out of memory)
inline void check(cudaError_t status, const char* call, const char* file, int line) {
    if (IMBDEF_LIKELY(status == cudaSuccess)) return;
    (void)cudaGetLastError();  // a non-sticky error must not be reported again by the next check
    throw ::imbdef::error(std::string(call) + " at " + file + ":" + std::to_string(line), "cudaSuccess",
                          std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")");
}

// Devices the runtime can use; 0 when there is none, no driver, or the driver is too old.
inline int device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

inline bool device_available() noexcept { return device_count() > 0; }

}  // namespace imbdef::cuda

// Checks the cudaError_t returned by `call`, which is evaluated once.
#define IMBDEF_CUDA_CHECK(call) ::imbdef::cuda::check((call), #call, __FILE__, __LINE__)

// Checks a kernel launch just made. A bad launch configuration is reported here; a fault inside
// the kernel surfaces at the next synchronising call (a copy to the CPU, for instance).
#define IMBDEF_CUDA_CHECK_LAUNCH(kernel) \
    ::imbdef::cuda::check(cudaGetLastError(), "launch of " #kernel, __FILE__, __LINE__)
