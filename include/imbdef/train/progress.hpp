#pragma once
// The progress display of a training run: a bar redrawn in place when the output is a terminal,
// plain lines every few seconds otherwise (a log file, a pipe, a batch system).
//
// The text is a pure function of a progress_snapshot (format_progress_bar, format_progress_line);
// progress_reporter only decides when to print which, and measures the rate.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include <sys/ioctl.h>
#include <unistd.h>

namespace imbdef::train {

struct named_value {
    std::string_view name;
    double value;
};

// Everything a progress display shows.
struct progress_snapshot {
    std::int64_t images_seen = 0;
    std::int64_t images_total = 0;   // the run's length; 0 when unknown
    double elapsed_seconds = 0;      // wall time of this process's run
    double images_per_second = 0;    // 0 (or not finite) while unknown
    std::span<const named_value> values;  // the latest losses, shown in this order
};

// A duration for people: "42s", "12m05s", "3h07m", "2d03h"; "--" when not finite or negative.
inline std::string format_duration(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds) || seconds > 1e9) return "--";
    const auto s = static_cast<long long>(std::llround(seconds));
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%llds", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

namespace detail {
inline std::string printf_string(const char* format, double a) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, a);
    return buf;
}

// "312", "31.2", "3.12" img/s: three significant digits where it matters; "--" when unknown.
inline std::string format_rate(double rate) {
    if (!(rate > 0) || !std::isfinite(rate)) return "--";
    return printf_string(rate >= 100 ? "%.0f" : rate >= 10 ? "%.1f" : "%.2f", rate);
}

inline std::string format_eta(const progress_snapshot& s) {
    if (s.images_total <= 0) return "--";
    if (s.images_seen >= s.images_total) return "0s";
    if (!(s.images_per_second > 0) || !std::isfinite(s.images_per_second)) return "--";
    return format_duration(static_cast<double>(s.images_total - s.images_seen) / s.images_per_second);
}

inline double fraction_done(const progress_snapshot& s) {
    if (s.images_total <= 0) return 0;
    return std::clamp(static_cast<double>(s.images_seen) / static_cast<double>(s.images_total), 0.0, 1.0);
}

inline std::string format_values(std::span<const named_value> values) {
    std::string out;
    for (const auto& v : values) {
        out += "  ";
        out += v.name;
        out += ' ';
        out += printf_string("%.4g", v.value);
    }
    return out;
}

inline std::string format_kimg(const progress_snapshot& s) {
    std::string out = printf_string("%.1f", static_cast<double>(s.images_seen) / 1000.0);
    if (s.images_total > 0) {
        out += '/';
        out += printf_string("%.1f", static_cast<double>(s.images_total) / 1000.0);
    }
    return out;
}
}  // namespace detail

// One line for a terminal, at most `columns` wide (shorter by truncation when the terminal is
// narrow); the bar takes what the text leaves, between 10 and 40 cells:
//   [##########----------]  50.0%  12.5/25.0 kimg  312 img/s  ETA 40s  G 0.6931  D 1.386
inline std::string format_progress_bar(const progress_snapshot& s, int columns) {
    const double done = detail::fraction_done(s);
    std::string text = detail::printf_string(" %5.1f%%", 100.0 * done);
    for (const std::string& part : {std::string("  "), detail::format_kimg(s), std::string(" kimg  "),
                                    detail::format_rate(s.images_per_second), std::string(" img/s  ETA "),
                                    detail::format_eta(s), detail::format_values(s.values)})
        text += part;
    const int width = std::clamp(columns - 2 - static_cast<int>(text.size()), 10, 40);
    const int filled = std::min(width, static_cast<int>(done * width));
    std::string out(static_cast<std::size_t>(width) + 2, '-');
    out.front() = '[';
    out.back() = ']';
    std::fill_n(out.begin() + 1, filled, '#');
    out += text;
    if (columns > 0 && out.size() > static_cast<std::size_t>(columns)) out.resize(static_cast<std::size_t>(columns));
    return out;
}

// One line for a log file or a pipe:
//   kimg 12.5/25.0 (50.0%)  312 img/s  elapsed 40s  ETA 40s  G 0.6931  D 1.386
inline std::string format_progress_line(const progress_snapshot& s) {
    std::string out = "kimg ";
    out += detail::format_kimg(s);
    if (s.images_total > 0) {
        out += " (";
        out += detail::printf_string("%.1f", 100.0 * detail::fraction_done(s));
        out += "%)";
    }
    for (const std::string& part : {std::string("  "), detail::format_rate(s.images_per_second),
                                    std::string(" img/s  elapsed "), format_duration(s.elapsed_seconds),
                                    std::string("  ETA "), detail::format_eta(s), detail::format_values(s.values)})
        out += part;
    return out;
}

enum class progress_style : unsigned char {
    automatic,  // a bar when the output is a terminal, else lines
    bar,        // redrawn in place with '\r'
    lines,      // one line per report
};

struct progress_options {
    progress_style style = progress_style::automatic;
    double line_interval_seconds = 30;  // lines: at most one per interval (the first at once)
    double bar_interval_seconds = 0.2;  // bar: redrawn at most this often
};

// Prints progress to a stream. The rate is the images since construction over the time since
// construction, so a resumed run measures only its own work.
class progress_reporter {
public:
    progress_reporter(std::int64_t images_total, std::int64_t images_at_start, progress_options options = {},
                      std::FILE* out = stdout)
        : options_(options),
          out_(out),
          images_total_(images_total),
          images_at_start_(images_at_start),
          start_(std::chrono::steady_clock::now()) {
        bar_ = options.style == progress_style::bar ||
               (options.style == progress_style::automatic && ::isatty(::fileno(out)) == 1);
    }

    bool draws_bar() const noexcept { return bar_; }

    // Reports the state after `images_seen`; prints when the interval has passed.
    void update(std::int64_t images_seen, std::span<const named_value> values) {
        update(images_seen, values, seconds_since_start());
    }

    // The same at an explicit time in seconds since construction (for tests and replays).
    void update(std::int64_t images_seen, std::span<const named_value> values, double now_seconds) {
        const double interval = bar_ ? options_.bar_interval_seconds : options_.line_interval_seconds;
        if (printed_ && now_seconds - last_print_ < interval) return;
        print(images_seen, values, now_seconds);
    }

    // Prints the final state whatever the interval and ends the bar's line.
    void finish(std::int64_t images_seen, std::span<const named_value> values) {
        finish(images_seen, values, seconds_since_start());
    }
    void finish(std::int64_t images_seen, std::span<const named_value> values, double now_seconds) {
        print(images_seen, values, now_seconds);
        if (bar_) std::fputc('\n', out_);
        std::fflush(out_);
    }

    progress_snapshot snapshot(std::int64_t images_seen, std::span<const named_value> values,
                               double now_seconds) const noexcept {
        const double rate =
            now_seconds > 0 ? static_cast<double>(images_seen - images_at_start_) / now_seconds : 0.0;
        return {images_seen, images_total_, now_seconds, rate, values};
    }

private:
    double seconds_since_start() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

    static int terminal_columns(std::FILE* out) {
        winsize ws{};
        if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
        if (const char* env = std::getenv("COLUMNS"); env && std::atoi(env) > 0) return std::atoi(env);
        return 80;
    }

    void print(std::int64_t images_seen, std::span<const named_value> values, double now_seconds) {
        const progress_snapshot s = snapshot(images_seen, values, now_seconds);
        if (bar_) {
            // One column short of the width, so the terminal never wraps the line we redraw.
            const std::string text = format_progress_bar(s, terminal_columns(out_) - 1);
            std::fprintf(out_, "\r%s\x1b[K", text.c_str());
        } else {
            std::fprintf(out_, "%s\n", format_progress_line(s).c_str());
        }
        std::fflush(out_);
        printed_ = true;
        last_print_ = now_seconds;
    }

    progress_options options_;
    std::FILE* out_;
    std::int64_t images_total_;
    std::int64_t images_at_start_;
    std::chrono::steady_clock::time_point start_;
    bool bar_ = false;
    bool printed_ = false;
    double last_print_ = 0;
};

}  // namespace imbdef::train
