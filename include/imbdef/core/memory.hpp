#pragma once
// Raw storage per device, and counters of what was allocated. Every owning allocation in imbdef
// goes through device_memory<Device>, so the counters are a faithful record: tests use them to
// prove that a steady-state computation allocates nothing.

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "device.hpp"
#include "error.hpp"
#include "macros.hpp"

namespace imbdef::core {

// Live and cumulative allocation counts for one device, process-wide.
template <device_tag Device>
struct memory_stats {
    static inline std::atomic<std::size_t> allocations{0};
    static inline std::atomic<std::size_t> bytes_in_use{0};
    static inline std::atomic<std::size_t> peak_bytes{0};

    static void on_allocate(std::size_t bytes) noexcept {
        allocations.fetch_add(1, std::memory_order_relaxed);
        const std::size_t now = bytes_in_use.fetch_add(bytes, std::memory_order_relaxed) + bytes;
        std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
        while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
        }
    }
    static void on_deallocate(std::size_t bytes) noexcept {
        bytes_in_use.fetch_sub(bytes, std::memory_order_relaxed);
    }
};

// Rounds a byte count up to the library's alignment; the unit every allocator hands out.
constexpr std::size_t align_up(std::size_t bytes, std::size_t to = alignment) noexcept {
    return (bytes + to - 1) / to * to;
}

// Primary template: reached only for a device whose backend header was not included.
template <device_tag Device>
struct device_memory {
    static_assert(sizeof(Device) == 0,
                  "imbdef: storage on this device needs its backend; for core::cuda include "
                  "<imbdef/cuda.hpp> in a translation unit compiled by nvcc");
};

template <>
struct device_memory<cpu> {
    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        const std::size_t rounded = align_up(bytes);
        void* p = ::operator new(rounded, std::align_val_t{alignment}, std::nothrow);
        IMBDEF_REQUIRE(p != nullptr, "device_memory<cpu>::allocate",
                       "an allocation of " + std::to_string(rounded) + " bytes to succeed", "out of memory");
        memory_stats<cpu>::on_allocate(rounded);
        return p;
    }
    static void deallocate(void* p, std::size_t bytes) noexcept {
        if (p == nullptr) return;
        ::operator delete(p, std::align_val_t{alignment});
        memory_stats<cpu>::on_deallocate(align_up(bytes));
    }
    static void zero(void* p, std::size_t bytes) {
        if (bytes) std::memset(p, 0, bytes);
    }
};

// Copy of `bytes` from a buffer on device From to one on device To. cpu->cpu here; the pairs that
// involve cuda are specialised in <imbdef/cuda/memory.cuh>.
template <device_tag To, device_tag From>
struct device_copy {
    static_assert(sizeof(To) == 0,
                  "imbdef: copies involving core::cuda need <imbdef/cuda.hpp> in a translation unit "
                  "compiled by nvcc");
};

template <>
struct device_copy<cpu, cpu> {
    static void run(void* dst, const void* src, std::size_t bytes) {
        if (bytes) std::memmove(dst, src, bytes);
    }
};

}  // namespace imbdef::core
