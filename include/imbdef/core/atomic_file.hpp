#pragma once
// Writing a file so that readers see either the old file or the complete new one, never a part:
// the bytes go to a temporary file in the same directory, are flushed to the disk (fsync), the
// temporary is renamed over the destination (atomic on POSIX file systems), and the directory is
// flushed so the rename itself survives a power loss. The temporary's name is unique per process
// and call, so threads writing at once never share one. On any failure the temporary is removed
// and imbdef::error names the path and the reason.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.hpp"

namespace imbdef::core {

inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    const std::string where = "write " + path.string();
    static std::atomic<unsigned long> counter{0};
    const std::filesystem::path tmp =
        path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    IMBDEF_REQUIRE(fd >= 0, where, "a writable location", std::strerror(errno));
    auto fail = [&](const char* step) {
        const std::string reason = std::string(step) + ": " + std::strerror(errno);
        ::close(fd);
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw imbdef::error(where, "the file to be written completely", reason);
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write");
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) fail("fsync");
    if (::close(fd) != 0) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw imbdef::error(where, "the file to be written completely", std::string("close: ") + std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw imbdef::error(where, "the new file to replace the old one", "rename failed: " + ec.message());
    }
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);  // best effort: some file systems refuse fsync on directories
        ::close(dfd);
    }
}

// Removes the temporaries that write_file_atomically left in `folder` when its process was killed
// mid-write (`<file>.tmp-<pid>-<n>`; only those for destination file name `of`, when given), so
// that a kill leaves nothing half-written behind once the file is written again. A temporary is
// abandoned when no process `pid` exists (kill(pid, 0) fails with ESRCH); one whose pid is alive,
// this process's own included, may still be in the middle of its write and is kept. Returns how
// many were removed. Errors reading the folder are ignored: this is housekeeping.
inline int remove_abandoned_temporaries(const std::filesystem::path& folder, const std::string& of = {}) {
    int removed = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(folder, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const auto mark = name.rfind(".tmp-");
        if (mark == std::string::npos || (!of.empty() && name.compare(0, mark, of) != 0) || (!of.empty() && mark != of.size())) continue;
        const std::string rest = name.substr(mark + 5);  // <pid>-<n>
        const auto dash = rest.find('-');
        if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789-") != std::string::npos) continue;
        const long pid = std::stol(rest.substr(0, dash));
        if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
        std::error_code rm;
        if (std::filesystem::remove(it->path(), rm)) ++removed;
    }
    return removed;
}

}  // namespace imbdef::core
