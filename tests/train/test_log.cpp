// The JSON-lines log: one object per line, flushed per line, appended across runs.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>

#include <unistd.h>

#include <imbdef/train/log.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

using namespace imbdef::train;
namespace fs = std::filesystem;

namespace {
std::string contents(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("records are single lines, flushed at once, and a resumed run appends") {
    temp_dir dir;
    const fs::path file = dir.path / "log.jsonl";
    {
        json_lines_log log(file);
        log.write({{"kimg", 0.5}, {"loss", {{"G", 0.69}, {"D", 1.38}}}});
        CHECK(contents(file) == "{\"kimg\":0.5,\"loss\":{\"D\":1.38,\"G\":0.69}}\n");  // visible before closing
        log.write({{"event", "checkpoint"}, {"file", "ckpt-000001.safetensors"}});
    }
    {
        json_lines_log resumed(file);
        resumed.write({{"kimg", 1.0}, {"note", "line\nbreak"}});
    }
    CHECK(contents(file) ==
          "{\"kimg\":0.5,\"loss\":{\"D\":1.38,\"G\":0.69}}\n"
          "{\"event\":\"checkpoint\",\"file\":\"ckpt-000001.safetensors\"}\n"
          "{\"kimg\":1.0,\"note\":\"line\\nbreak\"}\n");
    const auto back = read_json_lines(file);
    CHECK(back.records.size() == 3);
    CHECK(back.skipped == 0);
    CHECK(back.records[2]["note"] == "line\nbreak");
}

TEST_CASE("a record torn by a crash is closed off and skipped when read back") {
    temp_dir dir;
    const fs::path file = dir.path / "log.jsonl";
    std::ofstream(file) << "{\"kimg\":1}\n{\"kimg\":2,\"lo";
    {
        json_lines_log log(file);
        log.write({{"kimg", 3}});
    }
    CHECK(contents(file) == "{\"kimg\":1}\n{\"kimg\":2,\"lo\n{\"kimg\":3}\n");
    const auto back = read_json_lines(file);
    REQUIRE(back.records.size() == 2);
    CHECK(back.records[1]["kimg"] == 3);
    CHECK(back.skipped == 1);
}

TEST_CASE("non-finite numbers become null; non-objects and unwritable places are refused") {
    temp_dir dir;
    const fs::path file = dir.path / "log.jsonl";
    json_lines_log log(file);
    log.write({{"loss", std::numeric_limits<double>::quiet_NaN()}});
    CHECK(contents(file) == "{\"loss\":null}\n");
    CHECK_THROWS_WITH_AS(log.write(nlohmann::json::array({1, 2})),
                         doctest::Contains("expected a JSON object per record, found array"), imbdef::error);
    CHECK_THROWS_WITH_AS(log.write({{"bad", std::string("\xff")}}), doctest::Contains("valid UTF-8"), imbdef::error);
    CHECK(contents(file) == "{\"loss\":null}\n");
    CHECK_THROWS_WITH_AS(json_lines_log(dir.path / "missing" / "log.jsonl"),
                         doctest::Contains("missing/log.jsonl: expected a file that can be opened for appending"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(read_json_lines(dir.path / "none.jsonl"), doctest::Contains("expected a readable JSON-lines file"),
                         imbdef::error);
}

TEST_CASE("cut_log_at_checkpoint keeps what the checkpoint had seen, its own snapshot and measurement included") {
    temp_dir dir;
    const auto path = dir / "log.jsonl";
    {
        json_lines_log log(path);
        log.write({{"type", "run"}});
        for (int s = 0; s < 6; ++s) {
            log.write({{"type", "step"}, {"step", s}});
            // After step s, s + 1 steps are done: the snapshot and metrics records carry that.
            if (s % 2 == 1) {
                log.write({{"type", "metrics"}, {"step", s + 1}});
                log.write({{"type", "snapshot"}, {"step", s + 1}});
            }
        }
    }
    cut_log_at_checkpoint(path, 4);  // the checkpoint written after step 3
    std::vector<std::string> kept;
    for (const auto& r : read_json_lines(path).records)
        kept.push_back(r["type"].get<std::string>() + (r.contains("step") ? std::to_string(r["step"].get<int>()) : ""));
    CHECK(kept == std::vector<std::string>{"run", "step0", "step1", "metrics2", "snapshot2", "step2", "step3", "metrics4", "snapshot4"});
}
