#pragma once
// Device tags. A tensor's device is part of its type, so mixing devices is a compile error and
// every copy between them is written out by the caller.

#include <concepts>
#include <string_view>

namespace imbdef::core {

struct cpu {
    static constexpr std::string_view name = "cpu";
};

struct cuda {
    static constexpr std::string_view name = "cuda";
};

template <class D>
concept device_tag = std::same_as<D, cpu> || std::same_as<D, cuda>;

}  // namespace imbdef::core
