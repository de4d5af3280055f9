#pragma once
// A fresh folder under the system's temp directory, removed with everything in it (permissions
// restored first, for tests that make it unwritable) when the object goes.
#include <filesystem>
#include <random>
#include <string>

#include <unistd.h>

namespace imbdef::test_support {

struct temp_dir {
    std::filesystem::path path;
    explicit temp_dir(const std::string& tag = "imbdef_test") {
        path = std::filesystem::temp_directory_path() /
               (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(path);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(path, ec); !ec && it != std::filesystem::recursive_directory_iterator();
             it.increment(ec))
            std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

}  // namespace imbdef::test_support
