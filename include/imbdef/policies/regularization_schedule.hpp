#pragma once
// Regularisation schedules: which steps run a regulariser (R1) and with what weight. Lazy
// regularisation (StyleGAN2) runs it every k steps with weight k and adjusts the optimiser of the
// network by the ratio k / (k + 1) (lr * ratio, beta ^ ratio), reference/stylegan3.md section 6.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace imbdef::policies {

template <class S>
concept regularization_schedule = requires(const S s, std::uint64_t step) {
    { s.runs(step) } -> std::same_as<bool>;
    { s.weight() } -> std::convertible_to<double>;
    { s.optimizer_ratio() } -> std::convertible_to<double>;
    { S::name } -> std::convertible_to<std::string_view>;
};

struct every_step {
    static constexpr std::string_view name = "every_step";
    bool runs(std::uint64_t) const noexcept { return true; }
    double weight() const noexcept { return 1.0; }
    double optimizer_ratio() const noexcept { return 1.0; }
};

struct lazy {
    static constexpr std::string_view name = "lazy";
    std::uint64_t interval = 16;

    explicit lazy(std::uint64_t k = 16) : interval(k) {
        IMBDEF_REQUIRE(k >= 1, "policies::lazy", "an interval of at least 1", std::to_string(k));
    }
    bool runs(std::uint64_t step) const noexcept { return step % interval == 0; }
    double weight() const noexcept { return static_cast<double>(interval); }
    double optimizer_ratio() const noexcept {
        return static_cast<double>(interval) / static_cast<double>(interval + 1);
    }
};

static_assert(regularization_schedule<every_step> && regularization_schedule<lazy>);

}  // namespace imbdef::policies
