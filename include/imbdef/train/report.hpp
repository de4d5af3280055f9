#pragma once
// The HTML report of a training run: one HTML file with the run's summary, its sample grids over
// time, its loss and metric curves as inline SVG (chart.hpp), its timings and its configuration.
// It has no script and loads nothing from the network; the trainer rewrites it atomically as
// training goes, so a browser never shows half a report.
//
// Sample grids are referenced by file names relative to the report by default: the grids are PNG
// files the trainer writes next to the report anyway, and the report is rewritten many times
// during a run, so embedding every grid would make each rewrite (and each browser reload) grow
// with the run. report_options::embed_images embeds them as base64 data URIs instead, for a final
// report that must travel as a single file.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"
#include "../version.hpp"
#include "chart.hpp"

namespace imbdef::train {

// Labels around a sample grid image: one per column of equal width over its top, and down its left
// side one per group of rows, each spanning `rows` of the grid's equal-height rows (a grid with two
// rows per class names each class once).
struct grid_labels {
    struct row_group {
        std::string label;
        int rows = 1;
    };
    std::vector<std::string> columns;
    std::vector<row_group> rows;
    bool empty() const noexcept { return columns.empty() && rows.empty(); }
};

struct report_options {
    bool embed_images = false;  // base64 data URIs instead of relative file names
    int refresh_seconds = 0;    // > 0: the browser reloads the report this often (while training)
    chart_style chart{};
};

// Standard base64 (RFC 4648) with padding.
inline std::string base64_encode(std::span<const unsigned char> bytes) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned v = (unsigned{bytes[i]} << 16) | (unsigned{bytes[i + 1]} << 8) | bytes[i + 2];
        for (const int shift : {18, 12, 6, 0}) out += digits[(v >> shift) & 63u];
    }
    if (const std::size_t rest = bytes.size() - i; rest > 0) {
        const unsigned v = (unsigned{bytes[i]} << 16) | (rest == 2 ? unsigned{bytes[i + 1]} << 8 : 0u);
        out += digits[(v >> 18) & 63u];
        out += digits[(v >> 12) & 63u];
        out += rest == 2 ? digits[(v >> 6) & 63u] : '=';
        out += '=';
    }
    return out;
}

// A relative file name as a URL path: bytes other than unreserved characters and '/' are
// percent-encoded, so names with spaces or '#' still resolve.
inline std::string url_path(std::string_view file) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : file) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~' || c == '/') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15u];
        }
    }
    return out;
}

// A duration for a timing table: "850 us", "12.3 ms", "4.56 s", "12m05s", "3h07m".
inline std::string format_seconds(double s) {
    char buf[48];
    if (!std::isfinite(s) || s < 0) return "--";
    if (s < 1e-3)
        std::snprintf(buf, sizeof buf, "%.0f us", s * 1e6);
    else if (s < 1)
        std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
    else if (s < 60)
        std::snprintf(buf, sizeof buf, "%.2f s", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    else
        std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s) % 3600 / 60);
    return buf;
}

class training_report {
public:
    explicit training_report(std::string title) : title_(std::move(title)) {}

    void set_title(std::string title) { title_ = std::move(title); }
    // One line under the title, e.g. "running: 1.2 of 25 Mimg, updated 2025-05-01 12:00".
    void set_status(std::string status) { status_ = std::move(status); }

    // A fact about the run for the summary table (images seen, steps, ADA p, ...); a key set again
    // keeps its place and takes the new value.
    void set_summary(std::string key, std::string value) { set(summary_, std::move(key), std::move(value)); }

    // The configuration table: nested objects become dotted keys, other values their JSON text.
    void set_config(const nlohmann::json& config) {
        config_.clear();
        flatten(config, "", config_);
    }

    // The chart with this title, created on first use (page order is creation order).
    line_chart& chart(std::string_view title) {
        auto it = std::find_if(charts_.begin(), charts_.end(), [&](const line_chart& c) { return c.title == title; });
        if (it != charts_.end()) return *it;
        charts_.push_back({});
        charts_.back().title = std::string(title);
        return charts_.back();
    }
    const std::vector<line_chart>& charts() const noexcept { return charts_; }

    void add_point(std::string_view chart_title, std::string_view series, double x, double y) {
        chart(chart_title).add(series, x, y);
    }

    // A sample grid: an image file relative to the report's directory, with its caption
    // ("1200 kimg"). The latest grid is shown large, all of them as a timeline.
    // `labels` are drawn around the latest grid (the timeline shows thumbnails without them).
    void add_samples(std::string caption, std::string file, grid_labels labels = {}) {
        check_labels(labels, "report: add_samples " + file);
        samples_.push_back({std::move(caption), std::move(file), std::move(labels)});
    }

    // A grid of real (training) images shown beside the latest samples, for comparison.
    void set_reference(std::string caption, std::string file, grid_labels labels = {}) {
        check_labels(labels, "report: set_reference " + file);
        reference_ = sample_entry{std::move(caption), std::move(file), std::move(labels)};
    }

    // A row of the timing table; a name set again keeps its place and takes the new value.
    void set_timing(std::string name, double seconds) { set(timings_, std::move(name), format_seconds(seconds)); }

    // The HTML text. `directory` is where the report will live; image files are read from it when
    // they are embedded.
    std::string to_html(const report_options& options = {}, const std::filesystem::path& directory = {}) const {
        std::string h;
        h.reserve(1 << 16);
        h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
        if (options.refresh_seconds > 0)
            h += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(options.refresh_seconds) + "\">\n";
        h += "<meta name=\"generator\" content=\"imbdef " + version_string() + "\">\n";
        h += "<title>" + escape_xml(title_) + "</title>\n<style>\n" + std::string(stylesheet) + "</style>\n</head>\n";
        h += "<body>\n<header>\n<h1>" + escape_xml(title_) + "</h1>\n";
        if (!status_.empty()) h += "<p class=\"status\">" + escape_xml(status_) + "</p>\n";
        h += "<nav>";
        for (const auto& [id, name, present] :
             {std::tuple{"summary", "Summary", !summary_.empty()}, std::tuple{"samples", "Samples", !samples_.empty()},
              std::tuple{"curves", "Curves", !charts_.empty()}, std::tuple{"timings", "Timings", !timings_.empty()},
              std::tuple{"config", "Configuration", !config_.empty()}})
            if (present) h += std::string("<a href=\"#") + id + "\">" + name + "</a>";
        h += "</nav>\n</header>\n<main>\n";

        if (!summary_.empty()) h += section_table("summary", "Summary", summary_, "", false);

        if (!samples_.empty()) {
            h += "<section id=\"samples\">\n<h2>Samples</h2>\n";
            const auto& last = samples_.back();
            if (reference_) h += "<div class=\"beside\">\n";
            h += "<figure class=\"latest\">" + labelled_image(last, "samples, " + last.caption, options, directory) +
                 "<figcaption>Latest: " + escape_xml(last.caption) + "</figcaption></figure>\n";
            if (reference_)
                h += "<figure class=\"latest reference\">" + labelled_image(*reference_, reference_->caption, options, directory) +
                     "<figcaption>" + escape_xml(reference_->caption) + "</figcaption></figure>\n</div>\n";
            if (samples_.size() > 1) {
                h += "<details open>\n<summary>All " + std::to_string(samples_.size()) +
                     " grids, oldest first</summary>\n<div class=\"timeline\">\n";
                for (const auto& s : samples_)
                    h += "<figure><img loading=\"lazy\" src=\"" + image_source(s.file, options, directory) +
                         "\" alt=\"" + escape_xml("samples, " + s.caption) + "\"><figcaption>" + escape_xml(s.caption) +
                         "</figcaption></figure>\n";
                h += "</div>\n</details>\n";
            }
            h += "</section>\n";
        }

        if (!charts_.empty()) {
            h += "<section id=\"curves\">\n<h2>Curves</h2>\n<div class=\"charts\">\n";
            for (const auto& c : charts_)
                h += "<figure class=\"chart\"><figcaption>" + escape_xml(c.title) + "</figcaption>\n" +
                     render_svg(c, options.chart) + "\n</figure>\n";
            h += "</div>\n</section>\n";
        }

        if (!timings_.empty()) h += section_table("timings", "Timings", timings_, "numeric", false);
        if (!config_.empty()) h += section_table("config", "Configuration", config_, "code", true);

        h += "</main>\n<footer><p>Written by imbdef " + version_string() + ". This page loads nothing from the network.";
        if (options.refresh_seconds > 0)
            h += " It reloads every " + std::to_string(options.refresh_seconds) + " s while the run is going.";
        h += "</p></footer>\n</body>\n</html>\n";
        return h;
    }

    // Writes the report to `path` atomically; sample files are relative to its directory.
    void write(const std::filesystem::path& path, const report_options& options = {}) const {
        const std::string html = to_html(options, path.parent_path());
        core::write_file_atomically(path, std::as_bytes(std::span(html.data(), html.size())));
    }

private:
    using rows = std::vector<std::pair<std::string, std::string>>;

    struct sample_entry {
        std::string caption;
        std::string file;
        grid_labels labels;
    };

    static void check_labels(const grid_labels& labels, const std::string& where) {
        for (const auto& g : labels.rows)
            IMBDEF_REQUIRE(g.rows >= 1, where, "row groups spanning at least one row", "'" + g.label + "' spanning " + std::to_string(g.rows));
    }

    // The image, with its labels (if any) above and to its left in a CSS grid, so that they scale
    // with it.
    static std::string labelled_image(const sample_entry& e, const std::string& alt, const report_options& options,
                                      const std::filesystem::path& directory) {
        const std::string img = "<img src=\"" + image_source(e.file, options, directory) + "\" alt=\"" + escape_xml(alt) + "\">";
        if (e.labels.empty()) return img;
        // Grids with labelled columns get a width per column, so that the cells of two grids shown
        // side by side (three columns beside two) come out the same size.
        std::string h = e.labels.columns.empty() ? "<div class=\"labelled\">"
                                                 : "<div class=\"labelled\" style=\"max-width: " +
                                                       std::to_string(200 * e.labels.columns.size() + 60) + "px\">";
        if (!e.labels.columns.empty()) {
            h += "<span></span><div class=\"cols\">";
            for (const auto& c : e.labels.columns) h += "<span>" + escape_xml(c) + "</span>";
            h += "</div>";
        }
        int total = 0;
        for (const auto& g : e.labels.rows) total += g.rows;
        h += "<div class=\"rows\" style=\"grid-template-rows: repeat(" + std::to_string(std::max(total, 1)) + ", 1fr)\">";
        for (const auto& g : e.labels.rows)
            h += "<span style=\"grid-row: span " + std::to_string(g.rows) + "\">" + escape_xml(g.label) + "</span>";
        h += "</div>" + img + "</div>";
        return h;
    }

    static constexpr std::string_view stylesheet = R"css(
:root { --ink: #1f2328; --muted: #5b636d; --line: #d8dde3; --soft: #f5f7f9; --accent: #0b62a4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { padding: 24px max(24px, calc((100% - 1180px) / 2 + 24px)) 12px; border-bottom: 1px solid var(--line);
  background: var(--soft); }
h1 { margin: 0 0 2px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
.status { margin: 0 0 10px; color: var(--muted); }
nav a { margin-right: 18px; color: var(--accent); text-decoration: none; font-size: 14px; }
nav a:hover { text-decoration: underline; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 32px; }
section { margin-top: 28px; }
h2 { font-size: 18px; font-weight: 650; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; font-size: 14px; min-width: 320px; }
th, td { text-align: left; padding: 5px 14px 5px 0; border-bottom: 1px solid #eceff2; vertical-align: top; }
th { font-weight: 500; color: var(--muted); white-space: nowrap; }
td.numeric { font-variant-numeric: tabular-nums; text-align: right; }
td.code { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
figure { margin: 0; }
figcaption { font-size: 13px; color: var(--muted); margin: 6px 0; }
.latest img { display: block; width: min(100%, 768px); height: auto; image-rendering: pixelated;
  border: 1px solid var(--line); background: var(--soft); }
details { margin-top: 16px; }
summary { cursor: pointer; color: var(--accent); font-size: 14px; }
.beside { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.beside .latest { flex: 0 1 auto; min-width: 280px; }
.labelled { display: grid; grid-template-columns: auto 1fr; column-gap: 8px; width: min(100%, 768px); }
.labelled .cols { display: grid; grid-auto-flow: column; grid-auto-columns: 1fr; font-size: 12px; color: var(--muted);
  text-align: center; }
.labelled .rows { display: grid; font-size: 12px; color: var(--ink); }
.labelled .rows span { display: flex; align-items: center; justify-content: flex-end; text-align: right;
  border-top: 1px solid var(--line); padding-right: 2px; }
.labelled .rows span:first-child { border-top: 0; }
.latest .labelled img { width: 100%; }
.timeline { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 12px; }
.timeline figure { width: 168px; }
.timeline img { display: block; width: 100%; height: auto; image-rendering: pixelated; border: 1px solid var(--line); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 18px; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px 6px; }
.chart figcaption { margin: 0 0 2px; color: var(--ink); font-weight: 600; font-size: 14px; }
.chart svg { display: block; width: 100%; height: auto; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 24px 28px; color: var(--muted); font-size: 13px; }
footer p { margin: 0; padding-top: 14px; border-top: 1px solid var(--line); }
@media (max-width: 560px) { .charts { grid-template-columns: 1fr; } }
)css";

    static std::string version_string() {
        return std::to_string(version_major) + "." + std::to_string(version_minor) + "." +
               std::to_string(version_patch);
    }

    static void set(rows& table, std::string key, std::string value) {
        for (auto& [k, v] : table)
            if (k == key) {
                v = std::move(value);
                return;
            }
        table.emplace_back(std::move(key), std::move(value));
    }

    static void flatten(const nlohmann::json& j, const std::string& prefix, rows& out) {
        if (j.is_object() && !j.empty()) {
            for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
            return;
        }
        out.emplace_back(prefix.empty() ? std::string("(value)") : prefix,
                         j.is_string() ? j.get<std::string>() : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }

    static std::string section_table(std::string_view id, std::string_view title, const rows& table,
                                     std::string_view value_class, bool collapsible) {
        std::string h = "<section id=\"" + std::string(id) + "\">\n<h2>" + std::string(title) + "</h2>\n";
        if (collapsible) h += "<details open>\n<summary>" + std::to_string(table.size()) + " entries</summary>\n";
        h += "<table>\n";
        const std::string cls = value_class.empty() ? "" : " class=\"" + std::string(value_class) + "\"";
        for (const auto& [k, v] : table) h += "<tr><th>" + escape_xml(k) + "</th><td" + cls + ">" + escape_xml(v) + "</td></tr>\n";
        h += "</table>\n";
        if (collapsible) h += "</details>\n";
        return h + "</section>\n";
    }

    static std::string image_source(const std::string& file, const report_options& options,
                                    const std::filesystem::path& directory) {
        if (!options.embed_images) return escape_xml(url_path(file));
        const std::filesystem::path path = directory / file;
        std::ifstream in(path, std::ios::binary);
        IMBDEF_REQUIRE(in.is_open(), "report: embed sample grid " + path.string(), "a readable image file",
                       "a file that cannot be opened");
        const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        std::string ext = path.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        const std::string mime = ext == ".png"                     ? "image/png"
                                 : ext == ".jpg" || ext == ".jpeg" ? "image/jpeg"
                                 : ext == ".webp"                  ? "image/webp"
                                 : ext == ".svg"                   ? "image/svg+xml"
                                                                   : "application/octet-stream";
        return "data:" + mime + ";base64," + base64_encode(bytes);
    }

    std::string title_;
    std::string status_;
    rows summary_;
    rows config_;
    rows timings_;
    std::vector<line_chart> charts_;
    std::vector<sample_entry> samples_;
    std::optional<sample_entry> reference_;
};

}  // namespace imbdef::train
