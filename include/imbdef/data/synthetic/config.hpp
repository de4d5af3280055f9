#pragma once
// What the built-in synthetic dataset contains: scene and defect kinds, the configuration of an
// imbalanced dataset, and how its sample indices map onto the MVTec AD splits.

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace imbdef::data {

// Textures (the valid region is the whole frame) and parts on a backdrop (the valid region is the
// part's silhouette).
enum class scene_kind { brushed_metal, woven_fabric, wood, speckled_ceramic, disc, plate };
enum class defect_kind { scratch, crack, hole, stain, fray };

inline constexpr std::array<scene_kind, 6> all_scene_kinds{scene_kind::brushed_metal, scene_kind::woven_fabric,
                                                           scene_kind::wood,          scene_kind::speckled_ceramic,
                                                           scene_kind::disc,          scene_kind::plate};
inline constexpr std::array<defect_kind, 5> all_defect_kinds{defect_kind::scratch, defect_kind::crack, defect_kind::hole,
                                                             defect_kind::stain, defect_kind::fray};

inline constexpr std::string_view to_string(scene_kind k) noexcept {
    constexpr std::array<std::string_view, 6> names{"brushed_metal", "woven_fabric", "wood", "speckled_ceramic", "disc", "plate"};
    return names[static_cast<std::size_t>(k)];
}
inline constexpr std::string_view to_string(defect_kind k) noexcept {
    constexpr std::array<std::string_view, 5> names{"scratch", "crack", "hole", "stain", "fray"};
    return names[static_cast<std::size_t>(k)];
}

namespace synthetic_detail {
template <class Kind, std::size_t N>
Kind parse_kind(std::string_view name, const std::array<Kind, N>& all, const char* what) {
    std::string valid;
    for (Kind k : all) {
        if (to_string(k) == name) return k;
        valid += (valid.empty() ? "" : ", ") + std::string(to_string(k));
    }
    throw error(std::string("parse ") + what, "one of " + valid, "'" + std::string(name) + "'");
}
}  // namespace synthetic_detail

inline scene_kind parse_scene_kind(std::string_view name) {
    return synthetic_detail::parse_kind(name, all_scene_kinds, "synthetic scene kind");
}
inline defect_kind parse_defect_kind(std::string_view name) {
    return synthetic_detail::parse_kind(name, all_defect_kinds, "synthetic defect kind");
}

// Parts have a silhouette; textures fill the frame.
inline constexpr bool is_part(scene_kind k) noexcept { return k == scene_kind::disc || k == scene_kind::plate; }

// Which defects a scene can show: fraying only on fabric; scratches and cracks on everything
// but fabric; holes and stains everywhere.
inline constexpr bool defect_applies(defect_kind d, scene_kind s) noexcept {
    const bool fabric = s == scene_kind::woven_fabric;
    switch (d) {
        case defect_kind::fray: return fabric;
        case defect_kind::scratch:
        case defect_kind::crack: return !fabric;
        default: return true;
    }
}

// The MVTec AD splits, in the order their samples are indexed.
enum class synthetic_split { train_good, test_good, test_defective };

struct synthetic_config {
    std::uint64_t seed = 0;
    int resolution = 128;  // square images, 32..1024
    int channels = 3;      // 1 (grey) or 3 (RGB)
    int good_count = 500;  // train/good
    int test_good_count = 20;  // test/good
    int defect_count = 20;     // test/<defect>, each with its ground-truth mask
    std::vector<scene_kind> scenes{scene_kind::disc};
    std::vector<defect_kind> defects{all_defect_kinds.begin(), all_defect_kinds.end()};
    int max_defects_per_image = 3;  // a defective image carries 1..max defects
    // Share of the defective images whose defects are of several kinds (MVTec's "combined").
    double combined_fraction = 0.0;
    // The dataset's folder name under the output directory; empty: the scene's name, or "mixed".
    std::string category;

    core::index_t size() const noexcept {
        return static_cast<core::index_t>(good_count) + test_good_count + defect_count;
    }

    std::string category_name() const {
        if (!category.empty()) return category;
        return scenes.size() == 1 ? std::string(to_string(scenes.front())) : std::string("mixed");
    }

    // The defect kinds of this configuration that scene `s` can show, in configuration order.
    std::vector<defect_kind> defects_for(scene_kind s) const {
        std::vector<defect_kind> out;
        for (defect_kind d : defects)
            if (defect_applies(d, s) && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
        return out;
    }

    // Throws imbdef::error naming the first field out of range.
    void validate() const {
        const auto where = std::string("synthetic_config");
        IMBDEF_REQUIRE(resolution >= 32 && resolution <= 1024, where + ".resolution", "an integer in [32, 1024]",
                       std::to_string(resolution));
        IMBDEF_REQUIRE(channels == 1 || channels == 3, where + ".channels", "1 or 3", std::to_string(channels));
        IMBDEF_REQUIRE(good_count >= 0, where + ".good_count", "a count >= 0", std::to_string(good_count));
        IMBDEF_REQUIRE(test_good_count >= 0, where + ".test_good_count", "a count >= 0", std::to_string(test_good_count));
        IMBDEF_REQUIRE(defect_count >= 0, where + ".defect_count", "a count >= 0", std::to_string(defect_count));
        IMBDEF_REQUIRE(max_defects_per_image >= 1 && max_defects_per_image <= 8, where + ".max_defects_per_image",
                       "an integer in [1, 8]", std::to_string(max_defects_per_image));
        IMBDEF_REQUIRE(combined_fraction >= 0.0 && combined_fraction <= 1.0, where + ".combined_fraction",
                       "a fraction in [0, 1]", std::to_string(combined_fraction));
        IMBDEF_REQUIRE(!scenes.empty(), where + ".scenes", "at least one scene kind", "none");
        IMBDEF_REQUIRE(defect_count == 0 || !defects.empty(), where + ".defects",
                       "at least one defect kind when defect_count > 0", "none");
        if (defect_count > 0)
            for (scene_kind s : scenes)
                IMBDEF_REQUIRE(!defects_for(s).empty(), where + ".defects",
                               "a defect kind that applies to scene '" + std::string(to_string(s)) + "'",
                               "none of the configured kinds does (fray is fabric only; scratch and crack are not on fabric)");
        const std::string cat = category_name();
        IMBDEF_REQUIRE(!cat.empty() && cat != "." && cat != ".." && cat.find_first_of("/\\") == std::string::npos,
                       where + ".category", "a plain folder name", "'" + cat + "'");
    }
};

inline void to_json(nlohmann::json& j, const synthetic_config& c) {
    std::vector<std::string> scenes, defects;
    for (scene_kind s : c.scenes) scenes.emplace_back(to_string(s));
    for (defect_kind d : c.defects) defects.emplace_back(to_string(d));
    j = nlohmann::json{{"seed", c.seed},
                       {"resolution", c.resolution},
                       {"channels", c.channels},
                       {"good_count", c.good_count},
                       {"test_good_count", c.test_good_count},
                       {"defect_count", c.defect_count},
                       {"scenes", scenes},
                       {"defects", defects},
                       {"max_defects_per_image", c.max_defects_per_image},
                       {"combined_fraction", c.combined_fraction},
                       {"category", c.category_name()}};
}

// Reads the fields present in `j` over the defaults. An unknown field (a misspelt name), a value of
// the wrong type and an unknown kind name throw imbdef::error.
inline void from_json(const nlohmann::json& j, synthetic_config& c) {
    static constexpr std::string_view fields[] = {"seed",         "resolution", "channels",
                                                  "good_count",   "test_good_count", "defect_count",
                                                  "scenes",       "defects",    "max_defects_per_image",
                                                  "combined_fraction", "category"};
    IMBDEF_REQUIRE(j.is_object(), "synthetic_config from JSON", "an object", j.type_name());
    for (const auto& item : j.items())
        IMBDEF_REQUIRE(std::find(std::begin(fields), std::end(fields), item.key()) != std::end(fields),
                       "synthetic_config from JSON", "only the fields of synthetic_config", "unknown field '" + item.key() + "'");
    try {
        if (j.contains("seed")) c.seed = j.at("seed").get<std::uint64_t>();
        if (j.contains("resolution")) c.resolution = j.at("resolution").get<int>();
        if (j.contains("channels")) c.channels = j.at("channels").get<int>();
        if (j.contains("good_count")) c.good_count = j.at("good_count").get<int>();
        if (j.contains("test_good_count")) c.test_good_count = j.at("test_good_count").get<int>();
        if (j.contains("defect_count")) c.defect_count = j.at("defect_count").get<int>();
        if (j.contains("max_defects_per_image")) c.max_defects_per_image = j.at("max_defects_per_image").get<int>();
        if (j.contains("combined_fraction")) c.combined_fraction = j.at("combined_fraction").get<double>();
        if (j.contains("category")) c.category = j.at("category").get<std::string>();
        if (j.contains("scenes")) {
            c.scenes.clear();
            for (const auto& s : j.at("scenes")) c.scenes.push_back(parse_scene_kind(s.get<std::string>()));
        }
        if (j.contains("defects")) {
            c.defects.clear();
            for (const auto& d : j.at("defects")) c.defects.push_back(parse_defect_kind(d.get<std::string>()));
        }
    } catch (const nlohmann::json::exception& e) {
        throw error("synthetic_config from JSON", "fields of the documented types", e.what());
    }
}

// Sample i of a configuration: the train/good samples first, then test/good, then the defective
// ones. A sample's content depends on (seed, split, index within the split) only, so changing
// the good count does not change the defective samples.
struct synthetic_slot {
    synthetic_split split = synthetic_split::train_good;
    core::index_t index = 0;  // within the split
};

inline synthetic_slot slot_of(const synthetic_config& c, core::index_t i) {
    IMBDEF_REQUIRE(i >= 0 && i < c.size(), "synthetic sample index", "an index in [0, " + std::to_string(c.size()) + ")",
                   std::to_string(i));
    if (i < c.good_count) return {synthetic_split::train_good, i};
    i -= c.good_count;
    if (i < c.test_good_count) return {synthetic_split::test_good, i};
    return {synthetic_split::test_defective, i - c.test_good_count};
}

}  // namespace imbdef::data
