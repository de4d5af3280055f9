// The progress display: exact text from its inputs, and when the reporter prints what.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <imbdef/train/progress.hpp>

using namespace imbdef::train;

namespace {
const named_value losses[] = {{"G", 0.693147}, {"D", 1.386294}};

progress_snapshot half_way() {
    return {.images_seen = 12500, .images_total = 25000, .elapsed_seconds = 40, .images_per_second = 312.4, .values = losses};
}

std::string read_all(std::FILE* f) {
    std::rewind(f);
    std::string s;
    for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
    return s;
}
}  // namespace

TEST_CASE("durations for people") {
    CHECK(format_duration(0) == "0s");
    CHECK(format_duration(42.4) == "42s");
    CHECK(format_duration(59.6) == "1m00s");
    CHECK(format_duration(725) == "12m05s");
    CHECK(format_duration(3 * 3600 + 7 * 60 + 10) == "3h07m");
    CHECK(format_duration(2 * 86400 + 3 * 3600 + 59) == "2d03h");
    CHECK(format_duration(-1) == "--");
    CHECK(format_duration(std::numeric_limits<double>::quiet_NaN()) == "--");
    CHECK(format_duration(std::numeric_limits<double>::infinity()) == "--");
}

TEST_CASE("the plain progress line") {
    CHECK(format_progress_line(half_way()) == "kimg 12.5/25.0 (50.0%)  312 img/s  elapsed 40s  ETA 40s  G 0.6931  D 1.386");
    progress_snapshot s = half_way();
    s.images_per_second = 0;
    s.values = {};
    CHECK(format_progress_line(s) == "kimg 12.5/25.0 (50.0%)  -- img/s  elapsed 40s  ETA --");
    s = {.images_seen = 1234, .images_total = 0, .elapsed_seconds = 3725, .images_per_second = 3.456, .values = {}};
    CHECK(format_progress_line(s) == "kimg 1.2  3.46 img/s  elapsed 1h02m  ETA --");
    s = {.images_seen = 25000, .images_total = 25000, .elapsed_seconds = 80, .images_per_second = 31.25, .values = {}};
    CHECK(format_progress_line(s) == "kimg 25.0/25.0 (100.0%)  31.2 img/s  elapsed 1m20s  ETA 0s");
}

TEST_CASE("the terminal bar fits the width it is given") {
    const std::string text = "  50.0%  12.5/25.0 kimg  312 img/s  ETA 40s  G 0.6931  D 1.386";  // 62 columns
    CHECK(format_progress_bar(half_way(), 80) == "[########--------]" + text);  // 16 cells
    CHECK(format_progress_bar(half_way(), 200) == "[" + std::string(20, '#') + std::string(20, '-') + "]" + text);
    // Too narrow: the minimum bar of 10 cells, then the line is cut at the width.
    const std::string narrow = format_progress_bar(half_way(), 40);
    CHECK(narrow == ("[#####-----]" + text).substr(0, 40));
    progress_snapshot s = half_way();
    s.images_seen = 30000;  // beyond the end: clamped
    CHECK(format_progress_bar(s, 200).substr(0, 42) == "[" + std::string(40, '#') + "]");
}

TEST_CASE("a reporter on a file prints plain lines at the interval, the bar with carriage returns") {
    SUBCASE("lines") {
        std::FILE* out = std::tmpfile();
        REQUIRE(out != nullptr);
        progress_reporter r(25000, 0, {.line_interval_seconds = 30}, out);
        CHECK_FALSE(r.draws_bar());  // a file is not a terminal
        r.update(100, losses, 0.5);     // the first report prints at once (0.5 s shows as 1s)
        r.update(5000, losses, 20.0);   // too soon
        r.update(12500, losses, 40.0);  // due
        r.finish(25000, losses, 80.0);  // always
        CHECK(read_all(out) ==
              "kimg 0.1/25.0 (0.4%)  200 img/s  elapsed 1s  ETA 2m05s  G 0.6931  D 1.386\n"
              "kimg 12.5/25.0 (50.0%)  312 img/s  elapsed 40s  ETA 40s  G 0.6931  D 1.386\n"
              "kimg 25.0/25.0 (100.0%)  312 img/s  elapsed 1m20s  ETA 0s  G 0.6931  D 1.386\n");
        std::fclose(out);
    }
    SUBCASE("a resumed run measures its own rate") {
        std::FILE* out = std::tmpfile();
        progress_reporter r(20000, 10000, {.style = progress_style::lines}, out);
        r.update(12000, {}, 10.0);
        CHECK(read_all(out) == "kimg 12.0/20.0 (60.0%)  200 img/s  elapsed 10s  ETA 40s\n");
        std::fclose(out);
    }
    SUBCASE("bar") {
        std::FILE* out = std::tmpfile();
        progress_reporter r(1000, 0, {.style = progress_style::bar, .bar_interval_seconds = 0.2}, out);
        CHECK(r.draws_bar());
        r.update(500, {}, 1.0);
        r.update(510, {}, 1.1);  // within the redraw interval
        r.finish(1000, {}, 2.0);
        const std::string s = read_all(out);
        CHECK(s.front() == '\r');
        CHECK(s.find("\x1b[K\r") != std::string::npos);
        CHECK(s.find(" 50.0%  0.5/1.0 kimg  500 img/s  ETA 1s") != std::string::npos);
        CHECK(s.find("510") == std::string::npos);
        CHECK(s.substr(s.size() - 4) == "\x1b[K\n");
        std::fclose(out);
    }
}

TEST_CASE("on a terminal the reporter draws a bar that fits the terminal's width") {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
        MESSAGE("no pseudo-terminal available; case not exercised");
        if (master >= 0) ::close(master);
        return;
    }
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(slave >= 0);
    winsize ws{};
    ws.ws_col = 60;
    ws.ws_row = 20;
    REQUIRE(::ioctl(slave, TIOCSWINSZ, &ws) == 0);
    std::FILE* out = ::fdopen(slave, "w");
    REQUIRE(out != nullptr);

    progress_reporter r(25000, 0, {}, out);
    CHECK(r.draws_bar());
    r.update(12500, losses, 40.0);
    std::string expected = "\r";
    expected += format_progress_bar(r.snapshot(12500, losses, 40.0), 59);
    expected += "\x1b[K";
    CHECK(expected.size() == 1 + 59 + 3);
    std::string got;
    char buf[256];
    pollfd p{master, POLLIN, 0};
    while (got.size() < expected.size() && ::poll(&p, 1, 2000) > 0) {
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    CHECK(got == expected);
    std::fclose(out);
    ::close(master);
}
