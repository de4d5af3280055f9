#pragma once
// Compile-time names for the children of a composite: sequential<named<"fc0", fc>, ...>. The name
// becomes the child's scope in parameter names ("mapping.fc0.weight") and its key in get<"fc0">().

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace imbdef::nn {

template <std::size_t N>
struct fixed_string {
    char chars[N] = {};
    constexpr fixed_string(const char (&s)[N]) noexcept { std::copy_n(s, N, chars); }
    constexpr std::string_view view() const noexcept { return {chars, N - 1}; }
    template <std::size_t M>
    constexpr bool operator==(const fixed_string<M>& o) const noexcept { return view() == o.view(); }
};

template <fixed_string Name, class Module>
struct named {
    static constexpr auto name = Name;
    using module_type = Module;
};

namespace detail {
template <class C>
struct child_traits {
    using module_type = C;
    static std::string name(std::size_t index) { return std::to_string(index); }
    template <fixed_string Key>
    static constexpr bool has_name = false;
};
template <fixed_string Name, class M>
struct child_traits<named<Name, M>> {
    using module_type = M;
    static std::string name(std::size_t) { return std::string(Name.view()); }
    template <fixed_string Key>
    static constexpr bool has_name = Key == Name;
};
}  // namespace detail

// The module type behind a child declaration (named or not).
template <class C>
using child_module_t = typename detail::child_traits<C>::module_type;

}  // namespace imbdef::nn
