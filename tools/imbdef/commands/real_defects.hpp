#pragma once
// How the commands read real defects with masks. train-defect, copy-paste, evaluate and
// export-reals all go through open_real_defects, so a defect is framed the same way wherever it is
// read: a square crop that follows the defect (data::preprocess_options::focus), resized to the
// model's resolution, with the model's channels. Unusable files are either errors naming the file
// or, with --skip-bad-files, reported on stderr one line each.

#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <imbdef/data/defect_set.hpp>

namespace imbdef_cli {

inline void print_skipped(const imbdef::data::skipped_file& f) { std::fprintf(stderr, "skipped %s: %s\n", f.path.c_str(), f.reason.c_str()); }

// "A,B,C" -> {"A", "B", "C"}
inline std::vector<std::string> split_names(const std::string& list) {
    std::vector<std::string> names;
    std::stringstream in(list);
    for (std::string name; std::getline(in, name, ',');) names.push_back(name);
    return names;
}

// channels 0: as the data. With a patch, each defect is checked at the patch's scale instead
// (data::defect_set_options::patch).
inline imbdef::data::defect_set open_real_defects(const std::filesystem::path& root, int resolution, int channels, bool skip_bad_files,
                                                  std::optional<imbdef::data::patch_options> patch = std::nullopt) {
    namespace data = imbdef::data;
    data::defect_set_options dopt;
    dopt.preprocess.resolution = resolution;
    dopt.preprocess.channels = channels;
    // Square crops of each image centred on its defect: the framing of stage 1's centre-cropped
    // backgrounds, with no padded frame for the discriminators to tell reals by.
    dopt.preprocess.square = data::square_mode::center_crop;
    dopt.skip_bad_files = skip_bad_files;
    dopt.on_skip = print_skipped;
    dopt.patch = patch;
    return data::open_defect_set(root, dopt);
}

// `classes`: "all" or empty keeps every class; otherwise the named ones, in the dataset's order
// (an unknown name is an error naming it and `where`).
inline imbdef::data::defect_set choose_classes(imbdef::data::defect_set set, const std::string& classes, const std::string& where) {
    if (classes.empty() || classes == "all") return set;
    return imbdef::data::select_classes(set, split_names(classes), where);
}

}  // namespace imbdef_cli
