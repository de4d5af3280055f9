#pragma once
// tensor<T, Device>: owning, contiguous, row-major, 64-byte aligned storage.
// view<T, Device> / const_view<T, Device>: non-owning, trivially copyable windows on such storage
// that can be passed by value to a CUDA kernel.
//
// A default-constructed (or moved-from) tensor or view has shape [0]: empty, no storage.
// The element type is a parameter so that every gradient can be checked in double. Device is a
// tag from device.hpp; storage comes from device_memory<Device>, so on core::cuda a tensor needs
// <imbdef/cuda.hpp>. Host code must not dereference a cuda view: copy() it to the CPU first.

#include <cassert>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "device.hpp"
#include "error.hpp"
#include "memory.hpp"
#include "shape.hpp"

namespace imbdef::core {

template <class T, device_tag Device = cpu>
class view {
public:
    using value_type = std::remove_const_t<T>;
    using element_type = T;
    using device_type = Device;

    constexpr view() noexcept = default;
    IMBDEF_HD constexpr view(T* data, const core::shape& s) noexcept : data_(data), shape_(s) {}

    // A mutable view converts to a const one, never the reverse.
    template <class U>
        requires(std::is_const_v<T> && std::same_as<U, std::remove_const_t<T>>)
    IMBDEF_HD constexpr view(const view<U, Device>& other) noexcept : data_(other.data()), shape_(other.shape()) {}

    IMBDEF_HD constexpr T* data() const noexcept { return data_; }
    IMBDEF_HD constexpr const core::shape& shape() const noexcept { return shape_; }
    IMBDEF_HD constexpr int rank() const noexcept { return shape_.rank(); }
    IMBDEF_HD constexpr index_t numel() const noexcept { return shape_.numel(); }
    IMBDEF_HD constexpr index_t size(int axis) const noexcept { return shape_[axis]; }
    IMBDEF_HD constexpr bool empty() const noexcept { return shape_.numel() == 0; }
    constexpr std::size_t bytes() const noexcept { return static_cast<std::size_t>(numel()) * sizeof(T); }

    // Element by linear (row-major) index.
    IMBDEF_HD constexpr T& operator[](index_t i) const noexcept { return data_[i]; }

    // Element by multi-index; the number of indices must equal the rank.
    template <std::integral... I>
    IMBDEF_HD constexpr T& operator()(I... idx) const noexcept {
        assert(static_cast<int>(sizeof...(I)) == shape_.rank());
        index_t flat = 0;
        int axis = 0;
        ((flat = flat * shape_[axis++] + static_cast<index_t>(idx)), ...);
        return data_[flat];
    }

    // The same elements under another shape with the same element count.
    view reshaped(const core::shape& s) const {
        IMBDEF_REQUIRE(s.numel() == numel(), "view::reshaped",
                       "a shape with " + std::to_string(numel()) + " elements like " + shape_.to_string(),
                       s.to_string() + " with " + std::to_string(s.numel()) + " elements");
        return view(data_, s);
    }

    // The i-th slice along the first axis (for example one sample of a batch), rank reduced by one.
    view slice(index_t i) const {
        IMBDEF_REQUIRE(shape_.rank() >= 1 && i >= 0 && i < shape_[0], "view::slice",
                       "an index in [0, " + std::to_string(shape_.rank() ? shape_[0] : 0) + ") of the first axis",
                       std::to_string(i) + " for shape " + shape_.to_string());
        index_t dims[core::shape::max_rank];
        for (int a = 1; a < shape_.rank(); ++a) dims[a - 1] = shape_[a];
        const core::shape inner(std::span<const index_t>(dims, static_cast<std::size_t>(shape_.rank() - 1)));
        return view(data_ + i * inner.numel(), inner);
    }

    // Host iteration (CPU views only).
    T* begin() const noexcept requires std::same_as<Device, cpu> { return data_; }
    T* end() const noexcept requires std::same_as<Device, cpu> { return data_ + numel(); }
    std::span<T> span() const noexcept requires std::same_as<Device, cpu> {
        return {data_, static_cast<std::size_t>(numel())};
    }

private:
    T* data_ = nullptr;
    core::shape shape_ = core::shape::none();
};

template <class T, device_tag Device = cpu>
using const_view = view<const T, Device>;

// Marks a constructor that skips zero-filling, for buffers the caller overwrites at once.
struct uninitialized_t {
    explicit constexpr uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

template <class T, device_tag Device = cpu>
class tensor {
    static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                  "imbdef::core::tensor holds trivially copyable, non-const elements");

public:
    using value_type = T;
    using device_type = Device;

    tensor() noexcept = default;

    // Zero-filled.
    explicit tensor(const core::shape& s) : tensor(s, uninitialized) {
        device_memory<Device>::zero(data_, bytes());
    }

    tensor(const core::shape& s, uninitialized_t) : shape_(s) {
        data_ = static_cast<T*>(device_memory<Device>::allocate(bytes()));
    }

    // A CPU tensor filled with `value`.
    tensor(const core::shape& s, T value) requires std::same_as<Device, cpu> : tensor(s, uninitialized) {
        for (index_t i = 0; i < numel(); ++i) data_[i] = value;
    }

    // A CPU tensor with the given elements in row-major order.
    tensor(const core::shape& s, std::initializer_list<T> values) requires std::same_as<Device, cpu>
        : tensor(s, uninitialized) {
        IMBDEF_REQUIRE(static_cast<index_t>(values.size()) == numel(), "tensor(shape, values)",
                       std::to_string(numel()) + " values for shape " + s.to_string(),
                       std::to_string(values.size()) + " values");
        index_t i = 0;
        for (const T& v : values) data_[i++] = v;
    }

    tensor(const tensor&) = delete;
    tensor& operator=(const tensor&) = delete;
    tensor(tensor&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), shape_(std::exchange(other.shape_, core::shape::none())) {}
    tensor& operator=(tensor&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            shape_ = std::exchange(other.shape_, core::shape::none());
        }
        return *this;
    }
    ~tensor() { release(); }

    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    const core::shape& shape() const noexcept { return shape_; }
    int rank() const noexcept { return shape_.rank(); }
    index_t numel() const noexcept { return shape_.numel(); }
    index_t size(int axis) const noexcept { return shape_[axis]; }
    bool empty() const noexcept { return numel() == 0; }
    std::size_t bytes() const noexcept { return static_cast<std::size_t>(numel()) * sizeof(T); }

    core::view<T, Device> view() noexcept { return {data_, shape_}; }
    core::const_view<T, Device> view() const noexcept { return {data_, shape_}; }
    core::const_view<T, Device> cview() const noexcept { return {data_, shape_}; }
    operator core::view<T, Device>() noexcept { return view(); }
    operator core::const_view<T, Device>() const noexcept { return cview(); }

    T& operator[](index_t i) noexcept requires std::same_as<Device, cpu> { return data_[i]; }
    const T& operator[](index_t i) const noexcept requires std::same_as<Device, cpu> { return data_[i]; }
    template <std::integral... I>
    T& operator()(I... idx) noexcept requires std::same_as<Device, cpu> { return view()(idx...); }
    template <std::integral... I>
    const T& operator()(I... idx) const noexcept requires std::same_as<Device, cpu> { return cview()(idx...); }

    T* begin() noexcept requires std::same_as<Device, cpu> { return data_; }
    T* end() noexcept requires std::same_as<Device, cpu> { return data_ + numel(); }
    const T* begin() const noexcept requires std::same_as<Device, cpu> { return data_; }
    const T* end() const noexcept requires std::same_as<Device, cpu> { return data_ + numel(); }

    // Changes the shape in place; the element count must stay the same.
    void reshape(const core::shape& s) {
        IMBDEF_REQUIRE(s.numel() == numel(), "tensor::reshape",
                       "a shape with " + std::to_string(numel()) + " elements like " + shape_.to_string(),
                       s.to_string() + " with " + std::to_string(s.numel()) + " elements");
        shape_ = s;
    }

    void fill(T value) requires std::same_as<Device, cpu> {
        for (index_t i = 0; i < numel(); ++i) data_[i] = value;
    }

    // An independent copy on the same device.
    tensor clone() const {
        tensor out(shape_, uninitialized);
        device_copy<Device, Device>::run(out.data_, data_, bytes());
        return out;
    }

    // A copy on another device (or the same one).
    template <device_tag To>
    tensor<T, To> to() const {
        tensor<T, To> out(shape_, uninitialized);
        device_copy<To, Device>::run(out.data(), data_, bytes());
        return out;
    }

private:
    void release() noexcept {
        device_memory<Device>::deallocate(data_, bytes());
        data_ = nullptr;
    }

    T* data_ = nullptr;
    core::shape shape_ = core::shape::none();
};

// Copies src into dst, across devices if they differ; shapes must match exactly.
template <class T, device_tag To, device_tag From>
void copy(const_view<T, From> src, view<T, To> dst) {
    require_same_shape(dst.shape(), src.shape(), std::string("copy from ") + std::string(From::name) +
                                                     " to " + std::string(To::name) + " (destination vs source)");
    device_copy<To, From>::run(dst.data(), src.data(), src.bytes());
}

template <class T, device_tag To, device_tag From>
void copy(view<T, From> src, view<T, To> dst) {
    copy(const_view<T, From>(src), dst);
}

// An owning copy of a view's elements, on the same device.
template <class T, device_tag Device>
tensor<std::remove_const_t<T>, Device> to_tensor(view<T, Device> v) {
    tensor<std::remove_const_t<T>, Device> out(v.shape(), uninitialized);
    device_copy<Device, Device>::run(out.data(), v.data(), v.bytes());
    return out;
}

}  // namespace imbdef::core
