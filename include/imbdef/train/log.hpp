#pragma once
// The JSON-lines log of a training run: losses, metrics and events, one JSON object per line.
//
// The log is opened for appending, so a resumed run continues the same file; each record is one
// line, written and flushed at once, so a crash loses at most the line being written (a torn last
// line is closed with a newline when the file is opened again, and read_json_lines skips it).
// nlohmann::json writes NaN and infinities as null.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"

namespace imbdef::train {

// Appends JSON objects to a file, one per line, flushed per line.
class json_lines_log {
public:
    explicit json_lines_log(std::filesystem::path path) : path_(std::move(path)) {
        file_.reset(std::fopen(path_.c_str(), "ab+"));
        IMBDEF_REQUIRE(file_ != nullptr, "log " + path_.string(), "a file that can be opened for appending",
                       std::strerror(errno));
        // A run that died mid-line left a torn record: start the next one on a line of its own.
        if (std::fseek(file_.get(), -1, SEEK_END) == 0) {
            const int last = std::fgetc(file_.get());
            std::fseek(file_.get(), 0, SEEK_END);
            if (last != '\n' && last != EOF) put("\n");
        }
    }

    // Writes `record` (a JSON object) as one line and flushes it to the operating system.
    void write(const nlohmann::json& record) {
        IMBDEF_REQUIRE(record.is_object(), "log " + path_.string(), "a JSON object per record",
                       std::string(record.type_name()));
        std::string line;
        try {
            line = record.dump();
        } catch (const nlohmann::json::exception& ex) {
            throw imbdef::error("log " + path_.string(), "a record of valid UTF-8 text", ex.what());
        }
        line += '\n';
        put(line);
    }

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    struct closer {
        void operator()(std::FILE* f) const noexcept { std::fclose(f); }
    };

    void put(std::string_view text) {
        const bool ok = std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size() &&
                        std::fflush(file_.get()) == 0;
        IMBDEF_REQUIRE(ok, "log " + path_.string(), "the record to be written", std::strerror(errno));
    }

    std::filesystem::path path_;
    std::unique_ptr<std::FILE, closer> file_;
};

struct json_lines {
    std::vector<nlohmann::json> records;
    std::size_t skipped = 0;  // lines that were not JSON objects (a record torn by a crash)
};

// Reads a JSON-lines file back, for example to redraw a report's curves when a run resumes.
inline json_lines read_json_lines(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    IMBDEF_REQUIRE(in.is_open(), "log " + path.string(), "a readable JSON-lines file", std::strerror(errno));
    json_lines out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object())
            out.records.push_back(std::move(j));
        else
            ++out.skipped;
    }
    return out;
}

// Cuts a run's log back to its checkpoint, which had `steps_done` steps, before a resumed run
// appends what comes after. Step (and stop) records carry the index of their step; metrics and
// snapshot records the number of steps done when they were taken. So records of steps from
// steps_done on go, and the checkpoint's own measurement and snapshot stay: the resumed report
// keeps its grid and its metrics. Records without a step (run headers) stay. Rewritten atomically.
inline void cut_log_at_checkpoint(const std::filesystem::path& path, std::int64_t steps_done) {
    if (!std::filesystem::exists(path)) return;
    std::string kept;
    for (const auto& rec : read_json_lines(path).records) {
        const std::string type = rec.value("type", "");
        const bool state_record = type == "metrics" || type == "snapshot";
        if (!rec.contains("step") || rec["step"].get<std::int64_t>() < steps_done + (state_record ? 1 : 0)) kept += rec.dump() + "\n";
    }
    core::write_file_atomically(path, std::as_bytes(std::span(kept)));
}

}  // namespace imbdef::train
