#pragma once
// Portability macros shared by host and device code. Kept free of includes so that a .cuh can use
// them without pulling in host-only headers.

#if defined(__CUDACC__)
// Functions usable from both sides: the CPU backend tests the very code a CUDA kernel runs.
#define IMBDEF_HD __host__ __device__
#define IMBDEF_DEVICE __device__
#else
#define IMBDEF_HD
#define IMBDEF_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define IMBDEF_FORCEINLINE inline __attribute__((always_inline))
#define IMBDEF_RESTRICT __restrict__
#define IMBDEF_LIKELY(x) __builtin_expect(!!(x), 1)
#define IMBDEF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define IMBDEF_FORCEINLINE inline
#define IMBDEF_RESTRICT
#define IMBDEF_LIKELY(x) (x)
#define IMBDEF_UNLIKELY(x) (x)
#endif

namespace imbdef::core {
// Alignment of every owning allocation: one cache line, and the widest AVX-512 load.
inline constexpr unsigned alignment = 64;
}  // namespace imbdef::core
