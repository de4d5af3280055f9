#pragma once
// Per-thread scratch memory for ops. An op takes a scratch_scope on its thread's arena, allocates
// what it needs, and the scope hands it back when the op returns. The arena keeps its blocks, so an
// op called again with the same shapes allocates nothing; when the outermost scope on a thread
// closes, the arena is reset and consolidates into one block of the high-water size.

#include "arena.hpp"
#include "device.hpp"

namespace imbdef::core {

// The calling thread's scratch arena for Device.
template <device_tag Device = cpu>
arena<Device>& thread_scratch() {
    thread_local arena<Device> a;
    return a;
}

// RAII: everything allocated from the arena while the scope is alive is released when it closes.
template <device_tag Device = cpu>
class scratch_scope {
public:
    explicit scratch_scope(arena<Device>& a = thread_scratch<Device>()) : arena_(a), mark_(a.mark()) {}
    scratch_scope(const scratch_scope&) = delete;
    scratch_scope& operator=(const scratch_scope&) = delete;
    ~scratch_scope() {
        if (mark_.block == 0 && mark_.offset == 0)
            arena_.reset();
        else
            arena_.rewind(mark_);
    }

    template <class T>
    view<T, Device> allocate(const shape& s) {
        return arena_.template allocate<T>(s);
    }

private:
    arena<Device>& arena_;
    typename arena<Device>::marker mark_;
};

}  // namespace imbdef::core
