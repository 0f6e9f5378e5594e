#include "core/plot.hpp"
#include "core/results.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace implicit;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory removed (with its content) at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("implicit_test_results_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace

// ------------------------------------------------------------ FormatNumber

TEST_CASE("FormatNumber round-trips exactly through strtod") {
  const double values[] = {0.1,     1e-300,  -3.5,      0.0,    1.0 / 3.0, 123456789.125,
                           2.0e300, 5e-324,  -1e-7,     1e16,   3.0,       0.30000000000000004,
                           std::numeric_limits<double>::max(), std::numeric_limits<double>::min()};
  for (double v : values) {
    const std::string s = FormatNumber(v);
    CAPTURE(s);
    char* end = nullptr;
    const double back = std::strtod(s.c_str(), &end);
    CHECK(*end == '\0');
    CHECK(back == v);
  }
  CHECK(FormatNumber(0.1) == "0.1");
  CHECK(FormatNumber(-3.5) == "-3.5");
  CHECK(FormatNumber(3.0) == "3");
  CHECK(FormatNumber(1e-300) == "1e-300");
  CHECK(FormatNumber(std::nan("")) == "nan");
  CHECK(FormatNumber(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(FormatNumber(-std::numeric_limits<double>::infinity()) == "-inf");
}

// ---------------------------------------------------------------- CsvTable

TEST_CASE("CsvTable writes numbers that round-trip and quotes per RFC 4180") {
  CsvTable t({"layer", "nmse_db", "note"});
  CHECK(t.num_columns() == 3);
  t.AddRow(std::vector<double>{1.0, 0.1, -3.5});
  t.AddRow(std::vector<double>{2.0, 1e-300, std::numeric_limits<double>::quiet_NaN()});
  t.AddRow(std::vector<std::string>{"plain", "a,b", "say \"hi\""});
  t.AddRow(std::vector<std::string>{"two\nlines", "", "cr\rx"});
  CHECK(t.num_rows() == 4);
  const std::string expected =
      "layer,nmse_db,note\n"
      "1,0.1,-3.5\n"
      "2,1e-300,nan\n"
      "plain,\"a,b\",\"say \"\"hi\"\"\"\n"
      "\"two\nlines\",,\"cr\rx\"\n";
  CHECK(t.ToString() == expected);

  // Numeric cells of a written table parse back exactly.
  const std::vector<double> values = {0.1, 1e-300, -3.5, 1.0 / 3.0, 6.02214076e23, -0.0};
  CsvTable numbers({"a", "b", "c", "d", "e", "f"});
  numbers.AddRow(values);
  const std::string text = numbers.ToString();
  std::stringstream lines(text);
  std::string header_line, row;
  std::getline(lines, header_line);
  std::getline(lines, row);
  std::vector<double> parsed;
  std::stringstream cells(row);
  for (std::string cell; std::getline(cells, cell, ',');) parsed.push_back(std::strtod(cell.c_str(), nullptr));
  REQUIRE(parsed.size() == values.size());
  for (size_t i = 0; i < values.size(); ++i) CHECK(parsed[i] == values[i]);
  CHECK(std::signbit(parsed[5]));

  TempDir dir;
  t.Save(dir / "table.csv");
  CHECK(ReadAll(dir / "table.csv") == expected);
}

TEST_CASE("CsvTable rejects rows of the wrong size and an empty header") {
  CsvTable t({"a", "b"});
  CHECK_THROWS_AS(t.AddRow(std::vector<double>{1.0}), Error);
  CHECK_THROWS_AS(t.AddRow(std::vector<double>{1.0, 2.0, 3.0}), Error);
  CHECK_THROWS_AS(t.AddRow(std::vector<std::string>{"x", "y", "z"}), Error);
  CHECK(t.num_rows() == 0);
  CHECK_THROWS_AS(CsvTable(std::vector<std::string>{}), Error);
}

// -------------------------------------------------------------- JsonObject

TEST_CASE("JsonObject escapes strings and maps non-finite numbers to null") {
  JsonObject j;
  j.Set("quote\"key", std::string("a \"b\" \\ c\n\t\x01 end"));
  j.Set("nan", std::numeric_limits<double>::quiet_NaN());
  j.Set("inf", -std::numeric_limits<double>::infinity());
  j.Set("x", 0.1);
  j.Set("arr", std::vector<double>{1.0, std::nan(""), -2.5});
  const std::string s = j.ToString(0);
  CHECK(s ==
        "{\"quote\\\"key\": \"a \\\"b\\\" \\\\ c\\n\\t\\u0001 end\", \"nan\": null, "
        "\"inf\": null, \"x\": 0.1, \"arr\": [1, null, -2.5]}");
}

TEST_CASE("JsonObject keeps insertion order, replaces keys in place, nests") {
  JsonObject inner;
  inner.Set("lr", 1e-3).Set("layers", 16);
  JsonObject j;
  j.Set("zeta", 1).Set("alpha", 2).Set("mid", inner).Set("omega", true);
  j.Set("alpha", std::string("replaced"));
  CHECK(j.size() == 4);
  CHECK(j.Contains("mid"));
  CHECK_FALSE(j.Contains("lr"));
  const std::string expected =
      "{\n"
      "  \"zeta\": 1,\n"
      "  \"alpha\": \"replaced\",\n"
      "  \"mid\": {\n"
      "    \"lr\": 0.001,\n"
      "    \"layers\": 16\n"
      "  },\n"
      "  \"omega\": true\n"
      "}";
  CHECK(j.ToString() == expected);
  // A nested object replaced by a scalar and vice versa.
  j.Set("mid", 2.5);
  j.Set("zeta", JsonObject().Set("k", false));
  CHECK(j.ToString(0) == "{\"zeta\": {\"k\": false}, \"alpha\": \"replaced\", \"mid\": 2.5, \"omega\": true}");
  CHECK(JsonObject().ToString() == "{}");

  TempDir dir;
  j.Save(dir / "summary.json");
  CHECK(ReadAll(dir / "summary.json") == j.ToString() + "\n");
}

TEST_CASE("JsonObject overloads: const char* is a string, integers are exact") {
  JsonObject j;
  j.Set("method", "LISTA");  // must not become true
  j.Set("int", 7);
  j.Set("index", static_cast<Index>(-9));
  j.Set("size", static_cast<size_t>(12345678901ULL));
  j.Set("big", 9007199254740993LL);  // not representable as a double
  j.Set("u", 3u);
  j.Set("flag", false);
  j.Set("null", static_cast<const char*>(nullptr));
  CHECK(j.ToString(0) ==
        "{\"method\": \"LISTA\", \"int\": 7, \"index\": -9, \"size\": 12345678901, "
        "\"big\": 9007199254740993, \"u\": 3, \"flag\": false, \"null\": null}");
}

// ------------------------------------------------------ files and folders

TEST_CASE("WriteFileAtomic replaces content and leaves no temp file") {
  TempDir dir;
  const std::string path = dir / "out.txt";
  WriteFileAtomic(path, "first version, rather long content\n");
  CHECK(ReadAll(path) == "first version, rather long content\n");
  WriteFileAtomic(path, "second");
  CHECK(ReadAll(path) == "second");
  WriteFileAtomic(path, "");
  CHECK(ReadAll(path).empty());
  const std::vector<std::string> names = ListDir(dir.path);
  REQUIRE(names.size() == 1);
  CHECK(names[0] == "out.txt");
}

TEST_CASE("WriteFileAtomic failures throw an Error naming the path") {
  TempDir dir;
  const std::string blocker = dir / "blocker";
  WriteFileAtomic(blocker, "I am a regular file");
  const std::string bad = blocker + "/result.csv";  // parent is a regular file
  bool thrown = false;
  try {
    WriteFileAtomic(bad, "data");
  } catch (const Error& e) {
    thrown = true;
    CHECK(std::string(e.what()).find(bad) != std::string::npos);
  }
  CHECK(thrown);
  // Missing parent directory.
  CHECK_THROWS_AS(WriteFileAtomic(dir / "missing/x.txt", "data"), Error);
  // A directory is in the way of the target: the rename fails, temp removed.
  fs::create_directories(dir.path / "adir" / "child");
  CHECK_THROWS_AS(WriteFileAtomic(dir / "adir", "data"), Error);
  CHECK(ReadAll(blocker) == "I am a regular file");
  for (const std::string& name : ListDir(dir.path)) {
    CHECK(name.find(".tmp.") == std::string::npos);
  }
  CsvTable t({"a"});
  CHECK_THROWS_AS(t.Save(bad), Error);
  CHECK_THROWS_AS(JsonObject().Save(bad), Error);
}

TEST_CASE("EnsureDirectory creates nested directories and reports blockers") {
  TempDir dir;
  const std::string nested = dir / "a/b/c";
  EnsureDirectory(nested);
  CHECK(fs::is_directory(nested));
  EnsureDirectory(nested);  // idempotent
  WriteFileAtomic(nested + "/f.txt", "x");
  CHECK(ReadAll(nested + "/f.txt") == "x");

  WriteFileAtomic(dir / "file", "x");
  for (const std::string& bad : {dir / "file", dir / "file/sub/dir"}) {
    bool thrown = false;
    try {
      EnsureDirectory(bad);
    } catch (const Error& e) {
      thrown = true;
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
    }
    CHECK(thrown);
  }
}

// -------------------------------------------------------------------- plots

TEST_CASE("SaveSvgPlot writes an SVG with every label") {
  TempDir dir;
  const int n = 60;
  PlotSeries truth{"true", {}, {}, SeriesStyle::kStem, ""};
  PlotSeries rec{"recovered <LISTA> & co", {}, {}, SeriesStyle::kStem, ""};
  for (int i = 0; i < n; ++i) {
    truth.x.push_back(i);
    rec.x.push_back(i);
    const double v = (i % 7 == 0) ? std::sin(i) : 0.0;
    truth.y.push_back(v);
    rec.y.push_back(0.9 * v);
  }
  PlotOptions opt;
  opt.title = "Sparse recovery";
  opt.x_label = "index";
  opt.y_label = "value";
  const std::string path = dir / "stem.svg";
  SaveSvgPlot(path, opt, {truth, rec});
  const std::string svg = ReadAll(path);
  CHECK((svg.rfind("<svg", 0) == 0 || svg.rfind("<?xml", 0) == 0));
  CHECK(svg.find("true") != std::string::npos);
  CHECK(svg.find("recovered &lt;LISTA&gt; &amp; co") != std::string::npos);
  CHECK(svg.find("Sparse recovery") != std::string::npos);
  CHECK(Count(svg, "<svg") == 1);
  CHECK(Count(svg, "</svg>") == 1);
  CHECK(Count(svg, "<g") == Count(svg, "</g>"));
  CHECK(Count(svg, "<text") == Count(svg, "</text>"));
  CHECK(ListDir(dir.path).size() == 1);

  // NMSE curves in dB with a non-finite point (the line breaks there).
  std::vector<PlotSeries> curves;
  const char* names[] = {"LISTA", "ISTA", "FISTA"};
  for (int k = 0; k < 3; ++k) {
    PlotSeries s;
    s.label = names[k];
    for (int layer = 1; layer <= 16; ++layer) {
      s.x.push_back(layer);
      s.y.push_back(-(k == 0 ? 3.0 : 1.0 + k) * layer);
    }
    curves.push_back(s);
  }
  curves[1].y[5] = std::numeric_limits<double>::quiet_NaN();
  opt.title = "NMSE";
  SaveSvgPlot(dir / "nmse.svg", opt, curves);
  const std::string svg2 = ReadAll(dir / "nmse.svg");
  for (const char* name : names) CHECK(svg2.find(name) != std::string::npos);

  // log axis with positive data works.
  opt.log_y = true;
  for (PlotSeries& s : curves) {
    for (double& y : s.y) y = std::pow(10.0, y / 10.0);
  }
  CHECK_NOTHROW(SaveSvgPlot(dir / "log.svg", opt, curves));
}

TEST_CASE("SaveSvgPlot rejects bad input") {
  TempDir dir;
  PlotOptions opt;
  PlotSeries bad{"bad", {0.0, 1.0, 2.0}, {1.0, 2.0}, SeriesStyle::kLine, ""};
  CHECK_THROWS_AS(SaveSvgPlot(dir / "a.svg", opt, {bad}), Error);

  PlotSeries nonpos{"nonpos", {0.0, 1.0, 2.0}, {1.0, 0.0, 2.0}, SeriesStyle::kLine, ""};
  opt.log_y = true;
  CHECK_THROWS_AS(SaveSvgPlot(dir / "b.svg", opt, {nonpos}), Error);
  nonpos.y[1] = -1.0;
  CHECK_THROWS_AS(SaveSvgPlot(dir / "b.svg", opt, {nonpos}), Error);
  opt.log_y = false;
  CHECK_NOTHROW(SaveSvgPlot(dir / "b.svg", opt, {nonpos}));

  const double nan = std::numeric_limits<double>::quiet_NaN();
  PlotSeries empty{"empty", {nan, 1.0}, {1.0, nan}, SeriesStyle::kLine, ""};
  CHECK_THROWS_AS(SaveSvgPlot(dir / "c.svg", opt, {empty}), Error);
  CHECK_THROWS_AS(SaveSvgPlot(dir / "c.svg", opt, {}), Error);
  CHECK_FALSE(fs::exists(dir / "a.svg"));
  CHECK_FALSE(fs::exists(dir / "c.svg"));

  // A single point (degenerate ranges) still renders.
  PlotSeries one{"one", {3.0}, {3.0}, SeriesStyle::kMarkers, ""};
  CHECK_NOTHROW(SaveSvgPlot(dir / "d.svg", opt, {one}));
}
