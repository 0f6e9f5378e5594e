#include "core/plot.hpp"

#include "core/results.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace implicit {

namespace {

// ------------------------------------------------------------------ style

constexpr const char* kFontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif";
constexpr double kTickFont = 13.0;
constexpr double kLabelFont = 15.0;
constexpr double kTitleFont = 17.0;
constexpr double kLegendFont = 13.0;
constexpr double kOuterPad = 14.0;   // figure edge to the outermost text
constexpr double kTickLen = 5.0;     // outward tick marks
constexpr double kTickGap = 4.0;     // tick mark to tick label
constexpr double kLegendInset = 10.0;
constexpr double kLegendOutsideGap = 12.0;

// Okabe-Ito colour-blind-safe palette (yellow left out: unreadable on white).
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#E69F00",
                                    "#CC79A7", "#56B4E9", "#000000", "#7F7F7F"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

enum class Shape { kCircle, kSquare, kTriangleUp, kDiamond, kTriangleDown, kCross, kPlus };
constexpr Shape kLineShapes[] = {Shape::kCircle, Shape::kSquare, Shape::kTriangleUp,
                                 Shape::kDiamond, Shape::kTriangleDown, Shape::kPlus};
constexpr Shape kStemShapes[] = {Shape::kCircle, Shape::kCross, Shape::kDiamond,
                                 Shape::kSquare, Shape::kTriangleUp, Shape::kPlus};

// The Unicode minus sign: typographically correct for negative tick labels.
const std::string kMinus = "\xE2\x88\x92";

// ---------------------------------------------------------------- helpers

// Short fixed-point text for SVG coordinates.
std::string Num(double v) {
  if (std::fabs(v) < 0.005) v = 0.0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  std::string s(buf);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += (c < 0x20) ? ' ' : ch;  // control chars are invalid XML 1.0
    }
  }
  return out;
}

// Approximate advance width of `s` in a DejaVu/Helvetica-like sans font. Only
// used for layout (margins, legend box), so a slight over-estimate is fine.
double TextWidth(const std::string& s, double font_size) {
  double em = 0.0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    double k = 0.6;
    if (c >= '0' && c <= '9') k = 0.64;
    else if (c == ' ') k = 0.32;
    else if (std::strchr("il.,:;'|!", c) != nullptr) k = 0.3;
    else if (std::strchr("fjrtI()[]{}-/", c) != nullptr) k = 0.4;
    else if (c == 'm' || c == 'w') k = 0.92;
    else if (c == 'M' || c == 'W') k = 0.95;
    else if (c >= 'A' && c <= 'Z') k = 0.72;
    else if (c >= 0x80) k = (s.compare(i, 3, kMinus) == 0) ? 0.84 : 0.7;
    em += k;
  }
  return em * font_size;
}

std::string WithUnicodeMinus(std::string s) {
  if (!s.empty() && s[0] == '-') s = kMinus + s.substr(1);
  const size_t e = s.find("e-");
  if (e != std::string::npos) s.replace(e + 1, 1, kMinus);
  return s;
}

// ------------------------------------------------------------------ ticks

struct Tick {
  double pos = 0.0;       // position in axis space (log10(value) on a log axis)
  std::string text;       // label; for powers of ten the exponent only
  bool power = false;     // rendered as 10^text
  double width = 0.0;     // estimated label width in pixels
};

struct Axis {
  double lo = 0.0, hi = 1.0;  // limits in axis space
  bool log = false;
  bool integer_data = false;  // all data values are integers
  std::vector<Tick> major;
  std::vector<double> minor;  // unlabelled minor tick positions (log axis)
  double max_label_width = 0.0;
};

double NiceAtLeast(double raw) {
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double m = f <= 1.0 + 1e-9 ? 1.0 : f <= 2.0 + 1e-9 ? 2.0 : f <= 5.0 + 1e-9 ? 5.0 : 10.0;
  return m * mag;
}
// The 1-2-5 step closest (geometrically) to `raw`.
double NiceNearest(double raw) {
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double m = f < 1.4142 ? 1.0 : f < 3.1623 ? 2.0 : f < 7.0711 ? 5.0 : 10.0;
  return m * mag;
}
// Next 1-2-5 step above / below a 1-2-5 step.
double NextNice(double step) { return NiceAtLeast(step * 1.5); }
double PrevNice(double step) {
  const double mag = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double m = std::round(step / mag);
  if (m >= 5.0) return 2.0 * mag;
  if (m >= 2.0) return 1.0 * mag;
  return 0.5 * mag;
}

std::string FormatTick(double v, double step, double max_abs) {
  if (std::fabs(v) < step * 1e-6) v = 0.0;
  char buf[64];
  if (max_abs >= 1e6 || step < 1e-4) {
    max_abs = std::max(max_abs, step);
    const int e_max = static_cast<int>(std::floor(std::log10(max_abs)));
    const int e_step = static_cast<int>(std::floor(std::log10(step) + 1e-9));
    const int digits = std::max(0, e_max - e_step);
    std::snprintf(buf, sizeof(buf), "%.*e", digits, v);
    std::string s(buf);
    // Trim mantissa zeros ("2.50e-05" -> "2.5e-05") and exponent zeros ("e-05" -> "e-5").
    const size_t e = s.find('e');
    std::string mant = s.substr(0, e), expo = s.substr(e + 1);
    if (mant.find('.') != std::string::npos) {
      mant.erase(mant.find_last_not_of('0') + 1);
      if (mant.back() == '.') mant.pop_back();
    }
    const char sign = expo[0];
    std::string digits_part = expo.substr(1);
    digits_part.erase(0, std::min(digits_part.find_first_not_of('0'), digits_part.size() - 1));
    s = mant + "e" + (sign == '-' ? "-" : "") + digits_part;
    if (v == 0.0) s = "0";
    return WithUnicodeMinus(s);
  }
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return WithUnicodeMinus(buf);
}

std::vector<Tick> LinearTickSet(double lo, double hi, double step, bool log_positions) {
  std::vector<Tick> ticks;
  const long long k0 = static_cast<long long>(std::ceil(lo / step - 1e-9));
  const long long k1 = static_cast<long long>(std::floor(hi / step + 1e-9));
  const double max_abs = std::max(std::fabs(lo), std::fabs(hi));
  for (long long k = k0; k <= k1 && ticks.size() < 100; ++k) {
    const double v = static_cast<double>(k) * step;
    if (log_positions && v <= 0.0) continue;
    Tick t;
    t.pos = log_positions ? std::log10(v) : v;
    t.text = FormatTick(v, step, max_abs);
    t.width = TextWidth(t.text, kTickFont);
    ticks.push_back(t);
  }
  return ticks;
}

// Linear 1-2-5 ticks inside [lo, hi] for an axis `length_px` long. If
// `min_gap_px` > 0 (x axis), the step grows until labels are that far apart
// besides their width.
// `integer_data`: steps below 1 are not used (e.g. layer numbers).
std::vector<Tick> LinearTicks(double lo, double hi, double length_px, double px_per_tick,
                              double min_gap_px, bool log_positions = false,
                              bool integer_data = false) {
  const double span = hi - lo;
  const double target = std::clamp(length_px / px_per_tick, 2.0, 10.0);
  double step = NiceNearest(span / target);
  if (integer_data) step = std::max(step, 1.0);
  std::vector<Tick> ticks = LinearTickSet(lo, hi, step, log_positions);
  for (int guard = 0; ticks.size() < 2 && guard < 6 && !(integer_data && step <= 1.0); ++guard) {
    step = PrevNice(step);
    ticks = LinearTickSet(lo, hi, step, log_positions);
  }
  if (min_gap_px > 0.0) {
    for (int guard = 0; guard < 20 && ticks.size() > 2; ++guard) {
      double widest = 0.0;
      for (const Tick& t : ticks) widest = std::max(widest, t.width);
      if (step / span * length_px >= widest + min_gap_px) break;
      step = NextNice(step);
      std::vector<Tick> fewer = LinearTickSet(lo, hi, step, log_positions);
      if (fewer.size() < 2) break;
      ticks = std::move(fewer);
    }
  }
  return ticks;
}

void LogTicks(Axis& axis, double length_px) {
  const long long d0 = static_cast<long long>(std::ceil(axis.lo - 1e-9));
  const long long d1 = static_cast<long long>(std::floor(axis.hi + 1e-9));
  const long long decades = d1 - d0 + 1;
  if (decades >= 2) {
    const long long max_ticks = std::max(2LL, static_cast<long long>(length_px / 45.0));
    // Label every 1, 2, 3, 5, 10, 20, ... decades.
    const long long need = std::max(1LL, (decades + max_ticks - 1) / max_ticks);
    long long stride = 1;
    for (long long mag = 1; stride < need; mag *= 10) {
      for (long long m : {1LL, 2LL, 3LL, 5LL}) {
        if (m * mag >= need && stride < need) stride = m * mag;
      }
    }
    for (long long k = d0; k <= d1; ++k) {
      if (((k % stride) + stride) % stride != 0) continue;
      Tick t;
      t.pos = static_cast<double>(k);
      t.text = WithUnicodeMinus(std::to_string(k));
      t.power = true;
      t.width = TextWidth("10", kTickFont) + 0.72 * TextWidth(t.text, kTickFont);
      axis.major.push_back(t);
    }
    if (stride == 1) {
      for (long long k = d0 - 1; k <= d1; ++k) {
        for (int m = 2; m <= 9; ++m) {
          const double p = static_cast<double>(k) + std::log10(static_cast<double>(m));
          if (p > axis.lo && p < axis.hi) axis.minor.push_back(p);
        }
      }
    }
    return;
  }
  // Less than two decades: 1-2-5 mantissas, or plain linear ticks.
  const double mantissas[] = {1.0, 2.0, 5.0};
  std::vector<Tick> ticks;
  for (long long k = d0 - 1; k <= d1; ++k) {
    for (double m : mantissas) {
      const double v = m * std::pow(10.0, static_cast<double>(k));
      const double p = std::log10(v);
      if (p < axis.lo - 1e-9 || p > axis.hi + 1e-9) continue;
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", v);
      Tick t;
      t.pos = p;
      t.text = WithUnicodeMinus(buf);
      t.width = TextWidth(t.text, kTickFont);
      ticks.push_back(t);
    }
  }
  if (ticks.size() >= 3) {
    axis.major = std::move(ticks);
    return;
  }
  axis.major = LinearTicks(std::pow(10.0, axis.lo), std::pow(10.0, axis.hi), length_px, 55.0, 0.0,
                           /*log_positions=*/true);
}

// Pads a data range [lo, hi] by `frac` of its span on both sides; a
// degenerate range gets a sensible width around its value.
void PadRange(double& lo, double& hi, double frac, bool log_space) {
  const double span = hi - lo;
  if (!(span > 1e-12 * std::max({std::fabs(lo), std::fabs(hi), 1e-300}))) {
    const double c = 0.5 * (lo + hi);
    const double d = log_space ? 0.5 : std::max(std::fabs(c) * 0.1, 0.5);
    lo = c - d;
    hi = c + d;
    return;
  }
  lo -= frac * span;
  hi += frac * span;
}

// --------------------------------------------------------------- geometry

struct Rect {
  double x0, y0, x1, y1;
  bool Contains(double x, double y, double pad) const {
    return x >= x0 - pad && x <= x1 + pad && y >= y0 - pad && y <= y1 + pad;
  }
};

// Liang-Barsky: does the segment (ax,ay)-(bx,by) meet the rectangle?
bool SegmentHitsRect(double ax, double ay, double bx, double by, const Rect& r) {
  double t0 = 0.0, t1 = 1.0;
  const double dx = bx - ax, dy = by - ay;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {ax - r.x0, r.x1 - ax, ay - r.y0, r.y1 - ay};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0) {
      if (q[i] < 0.0) return false;
    } else {
      const double t = q[i] / p[i];
      if (p[i] < 0.0) t0 = std::max(t0, t);
      else t1 = std::min(t1, t);
      if (t0 > t1) return false;
    }
  }
  return true;
}

// ----------------------------------------------------------------- series

struct Prepared {
  const PlotSeries* s = nullptr;
  std::string color;
  // Finite points in axis space, split into runs at non-finite points.
  std::vector<std::vector<std::pair<double, double>>> runs;
  size_t count = 0;
  Shape shape = Shape::kCircle;
  double marker_r = 4.0;
  bool hollow = false;
  double line_w = 2.0;  // line or stem width
};

bool HasLine(SeriesStyle st) { return st == SeriesStyle::kLine || st == SeriesStyle::kLineMarkers; }
bool HasMarkers(SeriesStyle st) { return st != SeriesStyle::kLine; }

void AppendMarker(std::string& out, Shape shape, double cx, double cy, double r) {
  auto poly = [&](std::initializer_list<std::pair<double, double>> pts) {
    out += "<polygon points=\"";
    bool first = true;
    for (const auto& [dx, dy] : pts) {
      if (!first) out += ' ';
      first = false;
      out += Num(cx + dx * r) + "," + Num(cy + dy * r);
    }
    out += "\"/>";
  };
  switch (shape) {
    case Shape::kCircle:
      out += "<circle cx=\"" + Num(cx) + "\" cy=\"" + Num(cy) + "\" r=\"" + Num(r) + "\"/>";
      break;
    case Shape::kSquare: {
      const double h = 0.86 * r;
      out += "<rect x=\"" + Num(cx - h) + "\" y=\"" + Num(cy - h) + "\" width=\"" + Num(2 * h) +
             "\" height=\"" + Num(2 * h) + "\"/>";
      break;
    }
    case Shape::kTriangleUp: poly({{0.0, -1.25}, {1.1, 0.65}, {-1.1, 0.65}}); break;
    case Shape::kTriangleDown: poly({{0.0, 1.25}, {1.1, -0.65}, {-1.1, -0.65}}); break;
    case Shape::kDiamond: poly({{0.0, -1.3}, {1.0, 0.0}, {0.0, 1.3}, {-1.0, 0.0}}); break;
    case Shape::kCross:
      out += "<path d=\"M" + Num(cx - r) + " " + Num(cy - r) + "L" + Num(cx + r) + " " +
             Num(cy + r) + "M" + Num(cx - r) + " " + Num(cy + r) + "L" + Num(cx + r) + " " +
             Num(cy - r) + "\"/>";
      break;
    case Shape::kPlus:
      out += "<path d=\"M" + Num(cx - 1.2 * r) + " " + Num(cy) + "H" + Num(cx + 1.2 * r) + "M" +
             Num(cx) + " " + Num(cy - 1.2 * r) + "V" + Num(cy + 1.2 * r) + "\"/>";
      break;
  }
}

bool StrokeOnly(Shape shape) { return shape == Shape::kCross || shape == Shape::kPlus; }

// Opening tag of a group that styles the markers of one series.
std::string MarkerGroup(const Prepared& p) {
  if (StrokeOnly(p.shape)) {
    return "<g fill=\"none\" stroke=\"" + p.color + "\" stroke-width=\"1.8\" stroke-linecap=\"round\">";
  }
  if (p.hollow) {
    return "<g fill=\"none\" stroke=\"" + p.color + "\" stroke-width=\"1.6\">";
  }
  return "<g fill=\"" + p.color + "\" stroke=\"#ffffff\" stroke-width=\"0.8\">";
}

// ----------------------------------------------------------------- layout

struct Layout {
  double left = 0, top = 0, right = 0, bottom = 0;  // plot rectangle in pixels
  Axis x, y;
  double PlotW() const { return right - left; }
  double PlotH() const { return bottom - top; }
  double X(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * PlotW(); }
  double Y(double v) const { return top + (y.hi - v) / (y.hi - y.lo) * PlotH(); }
};

double MaxWidth(const std::vector<Tick>& ticks) {
  double w = 0.0;
  for (const Tick& t : ticks) w = std::max(w, t.width);
  return w;
}

// `reserve_right`: pixels kept free right of the plot (for an outside legend).
Layout ComputeLayout(const PlotOptions& o, Axis x, Axis y, double reserve_right = 0.0) {
  Layout L;
  const double W = o.width, H = o.height;
  L.top = kOuterPad + (o.title.empty() ? 0.0 : kTitleFont * 1.25 + 8.0);
  L.top = std::max(L.top, kOuterPad + 4.0);
  const double bottom_margin = kOuterPad + kTickLen + kTickGap + kTickFont +
                               (o.x_label.empty() ? 0.0 : 8.0 + kLabelFont);
  L.bottom = H - bottom_margin;

  // y ticks depend on the plot height only.
  y.major.clear();
  y.minor.clear();
  if (y.log) {
    LogTicks(y, L.PlotH());
  } else {
    y.major = LinearTicks(y.lo, y.hi, L.PlotH(), 55.0, 0.0);
  }
  y.max_label_width = MaxWidth(y.major);
  L.left = kOuterPad + (o.y_label.empty() ? 0.0 : kLabelFont + 10.0) + y.max_label_width +
           kTickGap + kTickLen;

  // x ticks depend on the plot width; the right margin must hold half of the
  // last tick label.
  L.right = W - 20.0 - reserve_right;
  x.major = LinearTicks(x.lo, x.hi, L.PlotW(), 90.0, 16.0, false, x.integer_data);
  x.max_label_width = MaxWidth(x.major);
  L.x = x;
  L.y = y;
  if (!L.x.major.empty() && reserve_right == 0.0) {
    const Tick& last = L.x.major.back();
    const double overhang = L.X(last.pos) + 0.5 * last.width - (W - 6.0);
    if (overhang > 0.0) L.right -= overhang;
  }
  return L;
}

// ----------------------------------------------------------------- legend

struct Legend {
  std::vector<const Prepared*> entries;
  double w = 0.0, h = 0.0, row_h = 0.0;
  static constexpr double kPad = 8.0, kSampleW = 30.0;
};

Rect LegendRect(const Layout& L, const Legend& g, int corner) {
  // corner: 0 top-right, 1 top-left, 2 bottom-right, 3 bottom-left,
  // 4 outside the plot, right of it (top-aligned)
  if (corner == 4) {
    const double x0 = L.right + kLegendOutsideGap;
    return Rect{x0, L.top, x0 + g.w, L.top + g.h};
  }
  const bool right = corner == 0 || corner == 2;
  const bool top = corner == 0 || corner == 1;
  const double x0 = right ? L.right - kLegendInset - g.w : L.left + kLegendInset;
  const double y0 = top ? L.top + kLegendInset : L.bottom - kLegendInset - g.h;
  return Rect{x0, y0, x0 + g.w, y0 + g.h};
}

double StemBase(const Layout& L) { return L.y.log ? L.y.lo : 0.0; }

// Number of data elements (points, segments, stems) the rectangle would cover.
int CountHits(const Layout& L, const std::vector<Prepared>& prep, const Rect& r) {
  int hits = 0;
  for (const Prepared& p : prep) {
    const SeriesStyle st = p.s->style;
    for (const auto& run : p.runs) {
      for (size_t i = 0; i < run.size(); ++i) {
        const double px = L.X(run[i].first), py = L.Y(run[i].second);
        if (HasMarkers(st) && r.Contains(px, py, p.marker_r + 2.0)) ++hits;
        if (st == SeriesStyle::kStem &&
            SegmentHitsRect(px, L.Y(StemBase(L)), px, py, Rect{r.x0 - 2, r.y0 - 2, r.x1 + 2, r.y1 + 2})) {
          ++hits;
        }
        if (HasLine(st) && i > 0 &&
            SegmentHitsRect(L.X(run[i - 1].first), L.Y(run[i - 1].second), px, py,
                            Rect{r.x0 - 3, r.y0 - 3, r.x1 + 3, r.y1 + 3})) {
          ++hits;
        }
      }
    }
  }
  return hits;
}

void AppendText(std::string& out, double x, double y, const std::string& text, double size,
                const char* anchor, const std::string& extra = "") {
  out += "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + Num(size) +
         "\" text-anchor=\"" + anchor + "\"" + extra + ">" + XmlEscape(text) + "</text>\n";
}

void AppendTickLabel(std::string& out, double x, double y, const Tick& t, const char* anchor) {
  if (!t.power) {
    AppendText(out, x, y, t.text, kTickFont, anchor);
    return;
  }
  out += "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + Num(kTickFont) +
         "\" text-anchor=\"" + anchor + "\">10<tspan dy=\"" + Num(-0.42 * kTickFont) +
         "\" font-size=\"" + Num(0.72 * kTickFont) + "\">" + XmlEscape(t.text) + "</tspan></text>\n";
}

}  // namespace

std::string RenderSvgPlot(const PlotOptions& options, const std::vector<PlotSeries>& series) {
  if (options.width < 200 || options.height < 150) {
    throw Error("SaveSvgPlot: plot size " + std::to_string(options.width) + "x" +
                std::to_string(options.height) + " is too small (need at least 200x150)");
  }
  // ---- validate and collect finite points
  std::vector<Prepared> prep(series.size());
  size_t total = 0, stem_rank = 0, line_rank = 0;
  bool any_stem = false;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = xmin, ymax = -xmin;
  bool integer_x = true;
  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& s = series[k];
    if (s.x.size() != s.y.size()) {
      throw Error("SaveSvgPlot: series '" + s.label + "' has " + std::to_string(s.x.size()) +
                  " x values but " + std::to_string(s.y.size()) + " y values");
    }
    Prepared& p = prep[k];
    p.s = &s;
    p.color = XmlEscape(s.color.empty() ? kPalette[k % kPaletteSize] : s.color);
    std::vector<std::pair<double, double>> run;
    for (size_t i = 0; i < s.x.size(); ++i) {
      double xv = s.x[i], yv = s.y[i];
      if (options.log_y && !std::isnan(yv) && yv <= 0.0) {
        throw Error("SaveSvgPlot: log_y needs positive data, but series '" + s.label +
                    "' has y[" + std::to_string(i) + "] = " + FormatNumber(yv));
      }
      if (!std::isfinite(xv) || !std::isfinite(yv)) {
        if (!run.empty()) p.runs.push_back(std::move(run));
        run.clear();
        continue;
      }
      if (options.log_y) yv = std::log10(yv);
      run.emplace_back(xv, yv);
      ++p.count;
      integer_x = integer_x && std::fabs(xv) < 1e15 && xv == std::floor(xv);
      xmin = std::min(xmin, xv);
      xmax = std::max(xmax, xv);
      ymin = std::min(ymin, yv);
      ymax = std::max(ymax, yv);
    }
    if (!run.empty()) p.runs.push_back(std::move(run));
    total += p.count;

    if (s.style == SeriesStyle::kStem) {
      any_stem = true;
      const size_t r = stem_rank++;
      p.shape = kStemShapes[r % (sizeof(kStemShapes) / sizeof(kStemShapes[0]))];
      // The first stem series: thick stems with open circles; later ones are
      // thinner and drawn on top, so both stay visible where they coincide.
      p.hollow = (r == 0);
      p.marker_r = r == 0 ? 4.6 : 3.4;
      p.line_w = r == 0 ? 2.4 : 1.0;
    } else {
      const size_t r = line_rank++;
      p.shape = kLineShapes[r % (sizeof(kLineShapes) / sizeof(kLineShapes[0]))];
      p.marker_r = p.count > 100 ? 2.6 : 4.0;
      p.line_w = 2.0;
    }
  }
  if (total == 0) throw Error("SaveSvgPlot: no finite data points to plot");

  // ---- axis limits
  Axis xa, ya;
  ya.log = options.log_y;
  if (any_stem && !options.log_y) {
    ymin = std::min(ymin, 0.0);
    ymax = std::max(ymax, 0.0);
  }
  xa.integer_data = integer_x;
  xa.lo = xmin;
  xa.hi = xmax;
  PadRange(xa.lo, xa.hi, 0.03, false);
  ya.lo = ymin;
  ya.hi = ymax;
  PadRange(ya.lo, ya.hi, 0.06, options.log_y);

  Layout L = ComputeLayout(options, xa, ya);

  // ---- legend size and placement
  Legend g;
  g.row_h = kLegendFont * 1.5;
  double label_w = 0.0;
  for (const Prepared& p : prep) {
    if (p.s->label.empty()) continue;
    g.entries.push_back(&p);
    label_w = std::max(label_w, TextWidth(p.s->label, kLegendFont));
  }
  int corner = 0;
  if (!g.entries.empty()) {
    g.w = Legend::kPad + Legend::kSampleW + 8.0 + label_w + Legend::kPad;
    g.h = 2.0 * Legend::kPad - 4.0 + g.row_h * static_cast<double>(g.entries.size());
    int best = -1;
    for (int c = 0; c < 4; ++c) {
      const int hits = CountHits(L, prep, LegendRect(L, g, c));
      if (best < 0 || hits < best) {
        best = hits;
        corner = c;
      }
    }
    // Every corner covers data: add head-room above the data for the legend
    // (if it is not too tall), then use the top-right corner. A tall legend
    // goes outside, right of the plot, if the plot stays wide enough.
    const double need = kLegendInset + g.h + 8.0;
    const double outside_w = kLegendOutsideGap + g.w;
    if (best > 0 && need >= 0.45 * L.PlotH() && L.PlotW() - outside_w >= 0.45 * options.width &&
        g.h <= L.PlotH()) {
      L = ComputeLayout(options, xa, ya, outside_w);
      corner = 4;
    } else if (best > 0 && need < 0.45 * L.PlotH()) {
      double max_r = 0.0;
      for (const Prepared& p : prep) max_r = std::max(max_r, HasMarkers(p.s->style) ? p.marker_r : 1.0);
      const double f = (need + max_r) / L.PlotH();
      const double top_data = ymax;
      ya.hi = (top_data - f * L.y.lo) / (1.0 - f);
      ya.lo = L.y.lo;
      L = ComputeLayout(options, xa, ya);
      corner = 0;
    }
  }

  // ---- SVG document
  const double W = options.width, H = options.height;
  std::string out;
  out.reserve(64 * 1024);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + Num(W) +
         "\" height=\"" + Num(H) + "\" viewBox=\"0 0 " + Num(W) + " " + Num(H) + "\" font-family=\"" +
         kFontFamily + "\" fill=\"#222222\">\n";
  if (!options.title.empty()) out += "<title>" + XmlEscape(options.title) + "</title>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + Num(W) + "\" height=\"" + Num(H) +
         "\" fill=\"#ffffff\"/>\n";

  // grid
  out += "<g stroke=\"#e3e3e3\" stroke-width=\"1\" fill=\"none\">\n";
  for (const Tick& t : L.y.major) {
    const double py = L.Y(t.pos);
    out += "<line x1=\"" + Num(L.left) + "\" y1=\"" + Num(py) + "\" x2=\"" + Num(L.right) +
           "\" y2=\"" + Num(py) + "\"/>\n";
  }
  for (const Tick& t : L.x.major) {
    const double px = L.X(t.pos);
    out += "<line x1=\"" + Num(px) + "\" y1=\"" + Num(L.top) + "\" x2=\"" + Num(px) + "\" y2=\"" +
           Num(L.bottom) + "\"/>\n";
  }
  out += "</g>\n";

  // zero baseline of stem plots
  if (any_stem && !L.y.log && L.y.lo < 0.0 && L.y.hi > 0.0) {
    out += "<line x1=\"" + Num(L.left) + "\" y1=\"" + Num(L.Y(0.0)) + "\" x2=\"" + Num(L.right) +
           "\" y2=\"" + Num(L.Y(0.0)) + "\" stroke=\"#555555\" stroke-width=\"1.2\"/>\n";
  }

  // data, in series order (later series on top)
  for (const Prepared& p : prep) {
    const SeriesStyle st = p.s->style;
    out += "<g>\n";
    if (HasLine(st)) {
      std::string d;
      for (const auto& run : p.runs) {
        if (run.size() < 2) continue;
        for (size_t i = 0; i < run.size(); ++i) {
          d += (i == 0 ? 'M' : 'L');
          d += Num(L.X(run[i].first));
          d += ' ';
          d += Num(L.Y(run[i].second));
        }
      }
      if (!d.empty()) {
        out += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + p.color + "\" stroke-width=\"" +
               Num(p.line_w) + "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n";
      }
    }
    if (st == SeriesStyle::kStem) {
      const double base = L.Y(StemBase(L));
      std::string d;
      for (const auto& run : p.runs) {
        for (const auto& [xv, yv] : run) {
          double py = L.Y(yv);
          // An open head: the stem stops at its rim instead of crossing it.
          if (p.hollow) {
            if (std::fabs(py - base) <= p.marker_r) continue;
            py += (base > py ? p.marker_r : -p.marker_r);
          }
          if (std::fabs(py - base) < 0.05) continue;
          d += 'M';
          d += Num(L.X(xv));
          d += ' ';
          d += Num(base);
          d += 'V';
          d += Num(py);
        }
      }
      if (!d.empty()) {
        out += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + p.color + "\" stroke-width=\"" +
               Num(p.line_w) + "\"/>\n";
      }
    }
    if (HasMarkers(st)) {
      out += MarkerGroup(p) + "\n";
      for (const auto& run : p.runs) {
        for (const auto& [xv, yv] : run) {
          // A zero-valued stem has no head: the baseline already shows it.
          if (st == SeriesStyle::kStem && !L.y.log && yv == 0.0) continue;
          AppendMarker(out, p.shape, L.X(xv), L.Y(yv), p.marker_r);
        }
      }
      out += "</g>\n";
    }
    out += "</g>\n";
  }

  // frame, ticks and tick labels
  out += "<rect x=\"" + Num(L.left) + "\" y=\"" + Num(L.top) + "\" width=\"" + Num(L.PlotW()) +
         "\" height=\"" + Num(L.PlotH()) + "\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n";
  {
    std::string d;
    for (const Tick& t : L.y.major) {
      d += "M" + Num(L.left - kTickLen) + " " + Num(L.Y(t.pos)) + "H" + Num(L.left);
    }
    for (double m : L.y.minor) d += "M" + Num(L.left - 0.6 * kTickLen) + " " + Num(L.Y(m)) + "H" + Num(L.left);
    for (const Tick& t : L.x.major) {
      d += "M" + Num(L.X(t.pos)) + " " + Num(L.bottom) + "V" + Num(L.bottom + kTickLen);
    }
    if (!d.empty()) out += "<path d=\"" + d + "\" stroke=\"#333333\" stroke-width=\"1\"/>\n";
  }
  for (const Tick& t : L.y.major) {
    AppendTickLabel(out, L.left - kTickLen - kTickGap, L.Y(t.pos) + 0.35 * kTickFont, t, "end");
  }
  for (const Tick& t : L.x.major) {
    AppendTickLabel(out, L.X(t.pos), L.bottom + kTickLen + kTickGap + 0.8 * kTickFont, t, "middle");
  }

  // axis labels and title
  if (!options.x_label.empty()) {
    AppendText(out, 0.5 * (L.left + L.right), L.bottom + kTickLen + kTickGap + kTickFont + 8.0 + 0.8 * kLabelFont,
               options.x_label, kLabelFont, "middle");
  }
  if (!options.y_label.empty()) {
    const double lx = kOuterPad + 0.8 * kLabelFont, ly = 0.5 * (L.top + L.bottom);
    AppendText(out, lx, ly, options.y_label, kLabelFont, "middle",
               " transform=\"rotate(-90 " + Num(lx) + " " + Num(ly) + ")\"");
  }
  if (!options.title.empty()) {
    AppendText(out, 0.5 * (L.left + L.right), kOuterPad + 0.8 * kTitleFont, options.title, kTitleFont,
               "middle", " font-weight=\"bold\"");
  }

  // legend
  if (!g.entries.empty()) {
    const Rect r = LegendRect(L, g, corner);
    out += "<g>\n<rect x=\"" + Num(r.x0) + "\" y=\"" + Num(r.y0) + "\" width=\"" + Num(g.w) +
           "\" height=\"" + Num(g.h) +
           "\" rx=\"3\" fill=\"#ffffff\" fill-opacity=\"0.92\" stroke=\"#bbbbbb\" stroke-width=\"1\"/>\n";
    for (size_t i = 0; i < g.entries.size(); ++i) {
      const Prepared& p = *g.entries[i];
      const SeriesStyle st = p.s->style;
      const double cy = r.y0 + Legend::kPad - 2.0 + g.row_h * (static_cast<double>(i) + 0.5);
      const double sx0 = r.x0 + Legend::kPad, sx1 = sx0 + Legend::kSampleW;
      const double cx = 0.5 * (sx0 + sx1);
      if (HasLine(st)) {
        out += "<line x1=\"" + Num(sx0) + "\" y1=\"" + Num(cy) + "\" x2=\"" + Num(sx1) + "\" y2=\"" +
               Num(cy) + "\" stroke=\"" + p.color + "\" stroke-width=\"" + Num(p.line_w) +
               "\" stroke-linecap=\"round\"/>\n";
      }
      double my = cy;
      if (st == SeriesStyle::kStem) {
        const double y_lo = cy + 0.45 * g.row_h, y_hi = cy - 0.2 * g.row_h;
        const double y_end = p.hollow ? y_hi + p.marker_r : y_hi;
        out += "<line x1=\"" + Num(cx) + "\" y1=\"" + Num(y_lo) + "\" x2=\"" + Num(cx) + "\" y2=\"" +
               Num(y_end) + "\" stroke=\"" + p.color + "\" stroke-width=\"" + Num(p.line_w) + "\"/>\n";
        my = y_hi;
      }
      if (HasMarkers(st)) {
        out += MarkerGroup(p);
        AppendMarker(out, p.shape, cx, my, p.marker_r);
        out += "</g>\n";
      }
      AppendText(out, sx1 + 8.0, cy + 0.35 * kLegendFont, p.s->label, kLegendFont, "start");
    }
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

void SaveSvgPlot(const std::string& path, const PlotOptions& options,
                 const std::vector<PlotSeries>& series) {
  WriteFileAtomic(path, RenderSvgPlot(options, series));
}

}  // namespace implicit
