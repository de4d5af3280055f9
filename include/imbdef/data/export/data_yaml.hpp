#pragma once
// The Ultralytics dataset file (data.yaml), so that `yolo train data=<root>/data.yaml` runs on
// an exported folder as it is:
//
//   path: "<absolute root>"
//   train: images/train
//   val: images/val
//   test: images/test        (only when there is a test split)
//   nc: <number of classes>
//   names:
//     0: "<name of class 0>"
//     ...
//
// Ultralytics finds the labels of images/<split>/x.png at labels/<split>/x.txt. It refuses a
// file without `val`, so when no validation images exist `val` names the training folder (the
// writer says so in a comment on that line). Strings are YAML double-quoted with escapes, so any
// class name or path round-trips.

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../../core/error.hpp"

namespace imbdef::data {

struct data_yaml_spec {
    std::filesystem::path root;            // the dataset folder; written absolute
    std::string train = "images/train";    // relative to root
    std::string val = "images/val";        // empty: the training folder (see above)
    std::string test;                      // empty: no test entry
    std::vector<std::string> names;        // class names, class index order; at least one
};

namespace export_detail {

inline std::string yaml_quoted(const std::string& s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

}  // namespace export_detail

inline std::string data_yaml_text(const data_yaml_spec& spec) {
    constexpr const char* where = "data::data_yaml_text";
    IMBDEF_REQUIRE(!spec.names.empty(), where, "at least one class name", "none");
    IMBDEF_REQUIRE(!spec.train.empty(), where, "a training image folder", "an empty train entry");
    std::error_code ec;
    const std::filesystem::path root = std::filesystem::absolute(spec.root, ec);
    IMBDEF_REQUIRE(!ec && !spec.root.empty(), where, "a dataset root folder",
                   spec.root.empty() ? std::string("an empty path") : ec.message());
    std::string s = "# Ultralytics dataset written by imbdef: yolo train data=<this file>\n";
    s += "path: " + export_detail::yaml_quoted(root.lexically_normal().generic_string()) + "\n";
    s += "train: " + export_detail::yaml_quoted(spec.train) + "\n";
    if (spec.val.empty())
        s += "val: " + export_detail::yaml_quoted(spec.train) + "  # no validation images: the training images\n";
    else
        s += "val: " + export_detail::yaml_quoted(spec.val) + "\n";
    if (!spec.test.empty()) s += "test: " + export_detail::yaml_quoted(spec.test) + "\n";
    s += "nc: " + std::to_string(spec.names.size()) + "\n";
    s += "names:\n";
    for (std::size_t c = 0; c < spec.names.size(); ++c)
        s += "  " + std::to_string(c) + ": " + export_detail::yaml_quoted(spec.names[c]) + "\n";
    return s;
}

}  // namespace imbdef::data
