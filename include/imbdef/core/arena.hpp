#pragma once
// arena<Device>: bump allocation of scratch tensors for a computation that repeats (a training
// step, a forward pass). Within a cycle, allocate() hands out aligned views; reset() ends the cycle
// and makes every view invalid. When a cycle outgrew the arena, reset() replaces its blocks with a
// single block of the cycle's high-water size, so from the second identical cycle on the arena
// allocates nothing.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "device.hpp"
#include "memory.hpp"
#include "tensor.hpp"

namespace imbdef::core {

template <device_tag Device = cpu>
class arena {
public:
    // A position in the arena; rewind() to it frees what was allocated after it.
    struct marker {
        std::size_t block = 0;
        std::size_t offset = 0;
        std::size_t cycle_bytes = 0;
    };

    explicit arena(std::size_t initial_bytes = 0) {
        if (initial_bytes) add_block(initial_bytes);
    }
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;
    arena(arena&& other) noexcept { swap(other); }
    arena& operator=(arena&& other) noexcept {
        if (this != &other) {
            release_all();
            swap(other);
        }
        return *this;
    }
    ~arena() { release_all(); }

    // Uninitialised storage for a tensor of shape `s`, valid until the next reset() or a rewind()
    // to a marker taken before it.
    template <class T>
    view<T, Device> allocate(const shape& s) {
        const std::size_t bytes = align_up(static_cast<std::size_t>(s.numel()) * sizeof(T));
        return view<T, Device>(static_cast<T*>(allocate_bytes(bytes)), s);
    }

    marker mark() const noexcept { return {current_, offset_, cycle_bytes_}; }
    void rewind(const marker& m) noexcept {
        current_ = m.block;
        offset_ = m.offset;
        cycle_bytes_ = m.cycle_bytes;
    }

    // Ends the cycle. Keeps capacity; consolidates into one block if the cycle needed several.
    void reset() {
        if (blocks_.size() > 1) {
            const std::size_t need = std::max(high_water_, capacity());
            release_all();
            add_block(need);
        }
        current_ = 0;
        offset_ = 0;
        cycle_bytes_ = 0;
    }

    std::size_t capacity() const noexcept {
        std::size_t total = 0;
        for (const auto& b : blocks_) total += b.size;
        return total;
    }
    // Bytes handed out in the current cycle, and the most handed out in any cycle.
    std::size_t used() const noexcept { return cycle_bytes_; }
    std::size_t high_water() const noexcept { return high_water_; }
    std::size_t block_count() const noexcept { return blocks_.size(); }

private:
    struct block {
        void* data = nullptr;
        std::size_t size = 0;
    };

    void* allocate_bytes(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        while (current_ < blocks_.size() && offset_ + bytes > blocks_[current_].size) {
            ++current_;
            offset_ = 0;
        }
        if (current_ == blocks_.size()) {
            const std::size_t last = blocks_.empty() ? 0 : blocks_.back().size;
            add_block(std::max(bytes, 2 * last));
            offset_ = 0;
        }
        void* p = static_cast<char*>(blocks_[current_].data) + offset_;
        offset_ += bytes;
        cycle_bytes_ += bytes;
        high_water_ = std::max(high_water_, cycle_bytes_);
        return p;
    }

    void add_block(std::size_t bytes) {
        bytes = align_up(bytes);
        blocks_.push_back({device_memory<Device>::allocate(bytes), bytes});
    }

    void release_all() noexcept {
        for (auto& b : blocks_) device_memory<Device>::deallocate(b.data, b.size);
        blocks_.clear();
        current_ = offset_ = cycle_bytes_ = 0;
    }

    void swap(arena& o) noexcept {
        std::swap(blocks_, o.blocks_);
        std::swap(current_, o.current_);
        std::swap(offset_, o.offset_);
        std::swap(cycle_bytes_, o.cycle_bytes_);
        std::swap(high_water_, o.high_water_);
    }

    std::vector<block> blocks_;
    std::size_t current_ = 0;
    std::size_t offset_ = 0;
    std::size_t cycle_bytes_ = 0;
    std::size_t high_water_ = 0;
};

}  // namespace imbdef::core
