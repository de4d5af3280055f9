#pragma once
// Line charts as inline SVG, for the training report: several series over a shared x axis, axes
// with round tick values, axis labels, a legend with each series' latest value, and a log-scale
// y axis for losses. The SVG has a viewBox and no fixed size, so it scales with the page, and it
// needs no script, font or network.
//
// Points that are not finite (and, on a log axis, values <= 0) are not drawn and break the line.
// A series longer than chart_style::max_points is thinned by keeping, per bucket of consecutive
// points, the lowest and the highest value, so spikes survive.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace imbdef::train {

// Text for XML and HTML element content and attribute values.
inline std::string escape_xml(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

struct chart_series {
    std::string name;
    std::vector<double> x;
    std::vector<double> y;
};

struct line_chart {
    std::string title;
    std::string x_label = "thousands of images seen (kimg)";
    std::string y_label;
    bool log_y = false;
    std::vector<chart_series> series;

    // Appends (x, y) to the series `name`, created on first use (legend order is creation order).
    void add(std::string_view name, double x, double y) {
        auto it = std::find_if(series.begin(), series.end(), [&](const chart_series& s) { return s.name == name; });
        if (it == series.end()) {
            series.push_back({std::string(name), {}, {}});
            it = series.end() - 1;
        }
        it->x.push_back(x);
        it->y.push_back(y);
    }
};

struct chart_style {
    int width = 600;   // viewBox units (about CSS pixels at the report's chart width); the SVG
    int height = 300;  // itself scales to its container
    std::size_t max_points = 1200;  // per series, before thinning
};

// Colour-blind-friendly series colours (Okabe & Ito), then a few more distinct ones.
inline constexpr std::string_view chart_palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                                     "#56B4E9", "#000000", "#8C564B", "#7F7F7F", "#BCBD22"};

namespace detail {

inline std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

inline std::string coord(double v) { return fmt("%.1f", v); }

// A round step (1, 2 or 5 times a power of ten) giving about `target` intervals over `range`.
inline double nice_step(double range, int target) {
    const double raw = range / target;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double n = raw / mag;
    return (n < 1.5 ? 1.0 : n < 3.0 ? 2.0 : n < 7.0 ? 5.0 : 10.0) * mag;
}

// A tick value printed with as many decimals as the step needs ("0.25", "1200", "1e+06").
inline std::string tick_label(double v, double step) {
    if (std::abs(v) < step * 1e-9) v = 0;  // no "-0" or "1.2e-17"
    if (std::abs(v) >= 1e6 || step < 1e-4) return fmt("%g", v);
    const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
    char format[8];
    std::snprintf(format, sizeof format, "%%.%df", decimals);
    return fmt(format, v);
}

// A power-of-ten tick on a log axis: mantissa m (1, 2 or 5) times 10^k.
inline std::string log_tick_label(int m, int k) {
    if (k >= -4 && k <= 5) return tick_label(m * std::pow(10.0, k), std::pow(10.0, std::min(k, 0)));
    return std::to_string(m) + "e" + std::to_string(k);
}

inline double text_width(std::string_view s, double font_px) { return 0.6 * font_px * static_cast<double>(s.size()); }

struct tick {
    double value;  // in axis units (log10 of the value on a log axis)
    std::string label;  // empty: a grid line only
    bool major;
};

struct axis {
    double lo, hi;
    std::vector<tick> ticks;
};

inline axis linear_axis(double lo, double hi, bool round_ends, int target) {
    if (lo == hi) {
        const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    const double step = nice_step(hi - lo, target);
    if (round_ends) {
        lo = std::floor(lo / step + 1e-9) * step;
        hi = std::ceil(hi / step - 1e-9) * step;
    }
    axis a{lo, hi, {}};
    for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
        a.ticks.push_back({t, tick_label(t, step), true});
    return a;
}

inline axis log_axis(double lo, double hi) {
    int k0 = static_cast<int>(std::floor(std::log10(lo) + 1e-12));
    int k1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-12));
    if (k1 <= k0) k1 = k0 + 1;
    axis a{static_cast<double>(k0), static_cast<double>(k1), {}};
    const int decades = k1 - k0;
    const int every = (decades + 5) / 6;  // at most about six labelled decades
    for (int k = k0; k <= k1; ++k) {
        if ((k - k0) % every == 0) a.ticks.push_back({static_cast<double>(k), log_tick_label(1, k), true});
        // Minor lines at 2 and 5 times each decade while they are not crowded; labelled when few.
        if (decades <= 4 && k < k1)
            for (const int m : {2, 5})
                a.ticks.push_back({k + std::log10(m), decades <= 2 ? log_tick_label(m, k) : std::string(), false});
    }
    return a;
}

// Indices of the points to draw, in order; -1 marks a break in the line.
inline std::vector<std::ptrdiff_t> thinned(const chart_series& s, bool log_y, std::size_t max_points) {
    const std::size_t n = std::min(s.x.size(), s.y.size());
    auto drawable = [&](std::size_t i) {
        return std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!log_y || s.y[i] > 0);
    };
    std::vector<std::ptrdiff_t> out;
    const std::size_t buckets = n > max_points ? std::max<std::size_t>(max_points / 2, 1) : n;
    for (std::size_t b = 0; b < buckets; ++b) {
        const std::size_t lo = n * b / buckets, hi = n * (b + 1) / buckets;
        std::ptrdiff_t lowest = -1, highest = -1;
        bool gap = false;
        for (std::size_t i = lo; i < hi; ++i) {
            if (!drawable(i)) {
                gap = true;
                continue;
            }
            const auto j = static_cast<std::ptrdiff_t>(i);
            if (lowest < 0 || s.y[i] < s.y[static_cast<std::size_t>(lowest)]) lowest = j;
            if (highest < 0 || s.y[i] > s.y[static_cast<std::size_t>(highest)]) highest = j;
        }
        if (lowest >= 0) {
            out.push_back(std::min(lowest, highest));
            if (highest != lowest) out.push_back(std::max(lowest, highest));
        }
        if (gap) out.push_back(-1);
    }
    return out;
}

}  // namespace detail

// The chart as one <svg> element.
inline std::string render_svg(const line_chart& chart, const chart_style& style = {}) {
    using detail::coord;
    constexpr double font = 12;  // tick labels and legend
    const double width = style.width, height = style.height;

    // Data range over every drawable point.
    double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
    for (const auto& s : chart.series)
        for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
            if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (chart.log_y && !(s.y[i] > 0))) continue;
            x_lo = std::min(x_lo, s.x[i]);
            x_hi = std::max(x_hi, s.x[i]);
            y_lo = std::min(y_lo, s.y[i]);
            y_hi = std::max(y_hi, s.y[i]);
        }
    const bool empty = !(x_lo <= x_hi);
    if (empty) x_lo = 0, x_hi = 1, y_lo = chart.log_y ? 0.1 : 0, y_hi = 1;
    const detail::axis xa = detail::linear_axis(x_lo, x_hi, false, 6);
    const detail::axis ya = chart.log_y ? detail::log_axis(y_lo, y_hi) : detail::linear_axis(y_lo, y_hi, true, 5);

    // Legend rows (name and latest value per series), wrapped to the width.
    struct legend_item {
        std::string text;
        double x, y;
    };
    std::vector<legend_item> legend;
    const double left_edge = 12;
    double lx = left_edge, ly = 16;
    for (const auto& s : chart.series) {
        std::string text = s.name;
        for (std::size_t i = std::min(s.x.size(), s.y.size()); i-- > 0;)
            if (std::isfinite(s.y[i])) {
                text += "  " + detail::fmt("%.4g", s.y[i]);
                break;
            }
        const double w = 22 + detail::text_width(text, font) + 18;
        if (lx > left_edge && lx + w > width - 12) {
            lx = left_edge;
            ly += 18;
        }
        legend.push_back({std::move(text), lx, ly});
        lx += w;
    }

    double label_width = 0;
    for (const auto& t : ya.ticks) label_width = std::max(label_width, detail::text_width(t.label, font));
    const double left = 14 + (chart.y_label.empty() ? 0 : 16) + label_width;
    const double right = width - 18;
    const double top = (legend.empty() ? 12 : ly + 14);
    const double bottom = height - (chart.x_label.empty() ? 24 : 42);
    auto px = [&](double x) { return left + (x - xa.lo) / (xa.hi - xa.lo) * (right - left); };
    auto py = [&](double y) {
        const double v = chart.log_y ? std::log10(y) : y;
        return bottom - (v - ya.lo) / (ya.hi - ya.lo) * (bottom - top);
    };
    auto py_axis = [&](double axis_value) { return bottom - (axis_value - ya.lo) / (ya.hi - ya.lo) * (bottom - top); };

    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + coord(width) + " " +
                      coord(height) + "\" role=\"img\" aria-label=\"" + escape_xml(chart.title) +
                      "\" font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\" font-size=\"" +
                      coord(font) + "\">\n";
    svg += "<title>" + escape_xml(chart.title) + "</title>\n";

    // Grid and tick labels.
    svg += "<g class=\"grid\" stroke=\"#e3e6ea\" stroke-width=\"1\">\n";
    for (const auto& t : ya.ticks)
        svg += "<line x1=\"" + coord(left) + "\" x2=\"" + coord(right) + "\" y1=\"" + coord(py_axis(t.value)) +
               "\" y2=\"" + coord(py_axis(t.value)) + "\"" + (t.major ? "" : " stroke-dasharray=\"2 3\"") + "/>\n";
    for (const auto& t : xa.ticks)
        svg += "<line x1=\"" + coord(px(t.value)) + "\" x2=\"" + coord(px(t.value)) + "\" y1=\"" + coord(top) +
               "\" y2=\"" + coord(bottom) + "\"/>\n";
    svg += "</g>\n<g class=\"ticks\" fill=\"#555b63\">\n";
    for (const auto& t : ya.ticks)
        if (!t.label.empty())
            svg += "<text x=\"" + coord(left - 6) + "\" y=\"" + coord(py_axis(t.value) + 3.5) + "\" text-anchor=\"end\">" +
               escape_xml(t.label) + "</text>\n";
    for (const auto& t : xa.ticks)
        svg += "<text x=\"" + coord(px(t.value)) + "\" y=\"" + coord(bottom + 15) + "\" text-anchor=\"middle\">" +
               escape_xml(t.label) + "</text>\n";
    svg += "</g>\n";

    // Axes frame and labels.
    svg += "<path d=\"M" + coord(left) + " " + coord(top) + "V" + coord(bottom) + "H" + coord(right) +
           "\" fill=\"none\" stroke=\"#8a9099\" stroke-width=\"1\"/>\n";
    if (!chart.x_label.empty())
        svg += "<text x=\"" + coord((left + right) / 2) + "\" y=\"" + coord(height - 8) +
               "\" text-anchor=\"middle\" fill=\"#33383e\">" + escape_xml(chart.x_label) + "</text>\n";
    if (!chart.y_label.empty())
        svg += "<text transform=\"translate(13 " + coord((top + bottom) / 2) +
               ") rotate(-90)\" text-anchor=\"middle\" fill=\"#33383e\">" +
               escape_xml(chart.y_label + (chart.log_y ? " (log scale)" : "")) + "</text>\n";

    if (empty)
        svg += "<text x=\"" + coord((left + right) / 2) + "\" y=\"" + coord((top + bottom) / 2) +
               "\" text-anchor=\"middle\" fill=\"#8a9099\">no data yet</text>\n";

    // Series, each one or more polylines (split at breaks), small markers when points are few.
    for (std::size_t k = 0; k < chart.series.size(); ++k) {
        const auto& s = chart.series[k];
        const std::string_view colour = chart_palette[k % std::size(chart_palette)];
        const auto idx = detail::thinned(s, chart.log_y, style.max_points);
        svg += "<g class=\"series\" fill=\"none\" stroke=\"" + std::string(colour) +
               "\" stroke-width=\"1.6\" stroke-linejoin=\"round\" stroke-linecap=\"round\"><title>" +
               escape_xml(s.name) + "</title>\n";
        std::string points;
        std::size_t drawn = 0;
        auto flush = [&] {
            if (!points.empty()) svg += "<polyline points=\"" + points + "\"/>\n";
            points.clear();
        };
        for (const auto i : idx) {
            if (i < 0) {
                flush();
                continue;
            }
            const auto u = static_cast<std::size_t>(i);
            if (!points.empty()) points += ' ';
            points += coord(px(s.x[u])) + "," + coord(py(s.y[u]));
            ++drawn;
        }
        flush();
        if (drawn <= 40)
            for (const auto i : idx)
                if (i >= 0)
                    svg += "<circle cx=\"" + coord(px(s.x[static_cast<std::size_t>(i)])) + "\" cy=\"" +
                           coord(py(s.y[static_cast<std::size_t>(i)])) + "\" r=\"2.2\" fill=\"" + std::string(colour) +
                           "\" stroke=\"none\"/>\n";
        svg += "</g>\n";
    }

    // Legend.
    for (std::size_t k = 0; k < legend.size(); ++k) {
        const auto& item = legend[k];
        const std::string_view colour = chart_palette[k % std::size(chart_palette)];
        svg += "<line x1=\"" + coord(item.x) + "\" x2=\"" + coord(item.x + 16) + "\" y1=\"" + coord(item.y - 3.5) +
               "\" y2=\"" + coord(item.y - 3.5) + "\" stroke=\"" + std::string(colour) +
               "\" stroke-width=\"2.5\" stroke-linecap=\"round\"/>\n";
        svg += "<text x=\"" + coord(item.x + 22) + "\" y=\"" + coord(item.y) + "\" fill=\"#33383e\">" +
               escape_xml(item.text) + "</text>\n";
    }
    svg += "</svg>";
    return svg;
}

}  // namespace imbdef::train
