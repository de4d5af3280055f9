// The HTML report and its SVG charts: structure, series data, escaping, images, atomic writes.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>

#include <unistd.h>

#include <imbdef/train/report.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

using namespace imbdef::train;
namespace fs = std::filesystem;

namespace {
std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

std::string contents(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every opening tag of `tag` is closed.
bool balanced(const std::string& html, const std::string& tag) {
    return count(html, "<" + tag + ">") + count(html, "<" + tag + " ") == count(html, "</" + tag + ">");
}
}  // namespace

TEST_CASE("text is escaped for HTML and SVG; file names become URL paths; base64 per RFC 4648") {
    CHECK(escape_xml("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    CHECK(url_path("grids/fakes 001#1.png") == "grids/fakes%20001%231.png");
    CHECK(url_path("a&b/\xc3\xa9.png") == "a%26b/%C3%A9.png");
    auto b64 = [](std::string s) {
        return base64_encode(std::span(reinterpret_cast<const unsigned char*>(s.data()), s.size()));
    };
    CHECK(b64("") == "");
    CHECK(b64("f") == "Zg==");
    CHECK(b64("fo") == "Zm8=");
    CHECK(b64("foo") == "Zm9v");
    CHECK(b64("foob") == "Zm9vYg==");
    CHECK(b64("fooba") == "Zm9vYmE=");
    CHECK(b64("foobar") == "Zm9vYmFy");
    CHECK(b64(std::string("\xff\x00\xfe", 3)) == "/wD+");
    CHECK(format_seconds(0.00085) == "850 us");
    CHECK(format_seconds(0.0123) == "12.3 ms");
    CHECK(format_seconds(4.561) == "4.56 s");
    CHECK(format_seconds(725) == "12m05s");
    CHECK(format_seconds(3 * 3600 + 7 * 60) == "3h07m");
}

TEST_CASE("a line chart has axes, round ticks, a legend with the latest values, one line per series") {
    line_chart c;
    c.title = "Losses <G & D>";
    c.y_label = "loss";
    for (int i = 0; i <= 10; ++i) {
        c.add("G", i * 0.5, 0.7 + 0.01 * i);
        c.add("D", i * 0.5, 1.4 - 0.02 * i);
    }
    const std::string svg = render_svg(c);
    CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 600.0 300.0\"", 0) == 0);
    CHECK(svg.substr(svg.size() - 6) == "</svg>");
    CHECK(svg.find("<title>Losses &lt;G &amp; D&gt;</title>") != std::string::npos);
    CHECK(count(svg, "<polyline") == 2);
    CHECK(count(svg, "<circle") == 22);  // few points: markers on each
    CHECK(svg.find(">G  0.8</text>") != std::string::npos);
    CHECK(svg.find(">D  1.2</text>") != std::string::npos);
    CHECK(svg.find(">thousands of images seen (kimg)</text>") != std::string::npos);
    CHECK(svg.find(">loss</text>") != std::string::npos);
    for (const char* tick : {">0</text>", ">1</text>", ">5</text>", ">0.7</text>", ">1.0</text>", ">1.4</text>"})
        CHECK_MESSAGE(svg.find(tick) != std::string::npos, std::string(tick));
    CHECK(balanced(svg, "g"));
    CHECK(balanced(svg, "text"));
}

TEST_CASE("log scale, breaks at non-finite values, empty charts, thinning keeps spikes") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    SUBCASE("log scale labels decades and skips values <= 0") {
        line_chart c;
        c.log_y = true;
        c.y_label = "R1 penalty";
        for (int i = 0; i < 50; ++i) c.add("R1", i, std::pow(10.0, -3.0 + i / 16.0));
        c.add("R1", 50, 0.0);
        const std::string svg = render_svg(c);
        for (const char* tick : {">0.001</text>", ">0.01</text>", ">0.1</text>", ">1</text>"})
            CHECK_MESSAGE(svg.find(tick) != std::string::npos, std::string(tick));
        CHECK(svg.find(">R1 penalty (log scale)</text>") != std::string::npos);
        CHECK(count(svg, "<polyline") == 1);
        CHECK(count(svg, "<circle") == 0);  // 50 points: no markers
    }
    SUBCASE("a NaN breaks the line in two") {
        line_chart c;
        for (int i = 0; i < 60; ++i) c.add("SWD", i, i == 30 ? nan : 1.0 / (1 + i));
        CHECK(count(render_svg(c), "<polyline") == 2);
    }
    SUBCASE("nothing to draw yet") {
        line_chart c;
        c.add("G", nan, 1.0);
        const std::string svg = render_svg(c);
        CHECK(svg.find("no data yet") != std::string::npos);
        CHECK(count(svg, "<polyline") == 0);
    }
    SUBCASE("thinning keeps the extremes of each bucket") {
        chart_series s{"G", {}, {}};
        for (int i = 0; i < 100000; ++i) {
            s.x.push_back(i);
            s.y.push_back(i == 77777 ? 50.0 : i == 33333 ? -50.0 : std::sin(i * 0.01));
        }
        const auto idx = detail::thinned(s, false, 1000);
        CHECK(idx.size() <= 1000);
        CHECK(std::find(idx.begin(), idx.end(), 77777) != idx.end());
        CHECK(std::find(idx.begin(), idx.end(), 33333) != idx.end());
        CHECK(std::is_sorted(idx.begin(), idx.end()));
        line_chart c;
        c.series.push_back(s);
        const std::string svg = render_svg(c, {.max_points = 1000});
        CHECK(count(svg, " ") < 4000);  // about one separator per drawn point, not 100 000
    }
}

TEST_CASE("the report page: sections, escaped text, series, images by name or embedded") {
    temp_dir dir;
    training_report r("Stage 1 <tiny> & \"friends\"");
    r.set_status("running: 12.5 of 25 kimg");
    r.set_summary("images seen", "12 500");
    r.set_summary("ADA p", "0.012");
    r.set_summary("images seen", "12 800");  // replaced in place
    r.set_config({{"preset", "tiny"}, {"G", {{"lr", 0.0025}, {"betas", {0, 0.99}}}}, {"note", "<b>bold</b>"}});
    for (int i = 0; i < 20; ++i) {
        r.add_point("Losses", "G", i * 0.5, 0.69 + 0.001 * i);
        r.add_point("Losses", "D", i * 0.5, 1.38 - 0.001 * i);
    }
    r.chart("Losses").log_y = true;
    r.add_point("Realism (SWD)", "SWD x1e3", 5, 12.5);
    r.add_samples("0 kimg", "samples/fakes 000000.png");
    r.add_samples("12.5 kimg", "samples/fakes 000012.png");
    r.set_timing("G step", 0.0421);
    r.set_timing("total", 725);

    const std::string html = r.to_html({.refresh_seconds = 60});
    CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
    CHECK(html.find("<title>Stage 1 &lt;tiny&gt; &amp; &quot;friends&quot;</title>") != std::string::npos);
    CHECK(html.find("<meta http-equiv=\"refresh\" content=\"60\">") != std::string::npos);
    CHECK(html.find("<th>images seen</th><td>12 800</td>") != std::string::npos);
    CHECK(count(html, "<th>images seen</th>") == 1);
    CHECK(html.find("<th>G.lr</th><td class=\"code\">0.0025</td>") != std::string::npos);
    CHECK(html.find("<th>G.betas</th><td class=\"code\">[0,0.99]</td>") != std::string::npos);
    CHECK(html.find("<td class=\"code\">&lt;b&gt;bold&lt;/b&gt;</td>") != std::string::npos);
    CHECK(html.find("<b>bold</b>") == std::string::npos);
    CHECK(html.find("src=\"samples/fakes%20000012.png\"") != std::string::npos);
    CHECK(html.find("Latest: 12.5 kimg") != std::string::npos);
    CHECK(count(html, "<svg") == 2);
    CHECK(html.find(">G  0.709</text>") != std::string::npos);  // the latest G loss in the legend
    CHECK(html.find("<th>G step</th><td class=\"numeric\">42.1 ms</td>") != std::string::npos);
    // Self-contained: no script, nothing fetched from elsewhere.
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("src=\"http") == std::string::npos);
    CHECK(html.find("href=\"http") == std::string::npos);
    CHECK(html.find("@import") == std::string::npos);
    for (const char* tag : {"html", "head", "body", "section", "table", "tr", "figure", "svg", "details", "g"})
        CHECK_MESSAGE(balanced(html, tag), std::string(tag));

    SUBCASE("written atomically next to its images, or with the images embedded") {
        fs::create_directories(dir.path / "samples");
        const std::string png("\x89PNG\r\n\x1a\n-not-really", 19);
        for (const char* name : {"fakes 000000.png", "fakes 000012.png"})
            std::ofstream(dir.path / "samples" / name, std::ios::binary) << png;
        const fs::path file = dir.path / "report.html";
        r.write(file);
        CHECK(contents(file) == r.to_html());
        r.write(file, {.embed_images = true});
        const std::string embedded = contents(file);
        const std::string uri =
            "data:image/png;base64," +
            base64_encode(std::span(reinterpret_cast<const unsigned char*>(png.data()), png.size()));
        CHECK(count(embedded, uri) == 3);  // the latest grid, and both in the timeline
        CHECK(embedded.find("samples/") == std::string::npos);
        std::size_t entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
        CHECK(entries == 2);  // report.html and samples/: no temporary left behind
        r.add_samples("25 kimg", "samples/missing.png");
        CHECK_THROWS_WITH_AS(r.write(file, {.embed_images = true}),
                             doctest::Contains("samples/missing.png: expected a readable image file"), imbdef::error);
        CHECK(contents(file) == embedded);
    }
}

TEST_CASE("labelled sample grids and a reference grid beside the latest samples") {
    training_report r("stage 2");
    r.add_samples("0 kimg", "samples/a.png");
    const std::string plain = r.to_html();
    // Without labels or a reference the page is what it was: a bare image in the latest figure.
    CHECK(plain.find("<figure class=\"latest\"><img src=\"samples/a.png\" alt=\"samples, 0 kimg\"><figcaption>Latest: 0 kimg") !=
          std::string::npos);
    CHECK(plain.find("class=\"labelled\"") == std::string::npos);
    CHECK(plain.find("class=\"beside\"") == std::string::npos);

    grid_labels labels{.columns = {"background", "defect", "mask <overlay>"}, .rows = {{"crack", 2}, {"hole", 2}, {"stain", 1}}};
    r.add_samples("1 kimg", "samples/b.png", labels);
    r.set_reference("real training defects", "reals.png", {.columns = {"defect", "mask"}, .rows = {{"crack", 2}}});
    const std::string html = r.to_html();
    CHECK(html.find("<div class=\"beside\">") != std::string::npos);
    CHECK(html.find("<span>background</span><span>defect</span><span>mask &lt;overlay&gt;</span>") != std::string::npos);
    CHECK(html.find("grid-template-rows: repeat(5, 1fr)\"><span style=\"grid-row: span 2\">crack</span>"
                    "<span style=\"grid-row: span 2\">hole</span><span style=\"grid-row: span 1\">stain</span></div>"
                    "<img src=\"samples/b.png\"") != std::string::npos);
    CHECK(html.find("<img src=\"reals.png\" alt=\"real training defects\">") != std::string::npos);
    CHECK(html.find("<figcaption>real training defects</figcaption>") != std::string::npos);
    CHECK(count(html, "class=\"labelled\"") == 2);
    for (const char* tag : {"div", "figure", "section", "span"}) CHECK_MESSAGE(balanced(html, tag), std::string(tag));
    CHECK_THROWS_WITH_AS(r.add_samples("2 kimg", "samples/c.png", {.columns = {}, .rows = {{"crack", 0}}}),
                         doctest::Contains("report: add_samples samples/c.png: expected row groups spanning at least one row, found 'crack' spanning 0"),
                         imbdef::error);
}
