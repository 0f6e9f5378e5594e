// Minimal SVG plotting written by the project itself (no external tools):
// line / marker / stem plots with "nice" 1-2-5 ticks, grid, axis labels,
// title and legend. Used for the sparse-recovery stem plots (true vs
// recovered signal) and the NMSE(dB)-vs-layer curves.
#pragma once

#include "core/types.hpp"

#include <string>
#include <vector>

namespace implicit {

enum class SeriesStyle {
  kLine,         // polyline only
  kLineMarkers,  // polyline with a marker at every point
  kMarkers,      // markers only (scatter)
  kStem,         // vertical stem from the zero baseline to each point, with a head
};

struct PlotSeries {
  std::string label;          // legend text; empty -> not listed in the legend
  std::vector<double> x, y;   // same length, else Error
  SeriesStyle style = SeriesStyle::kLineMarkers;
  std::string color;          // any SVG colour; empty -> colour-blind-safe palette by series index
};

struct PlotOptions {
  std::string title, x_label, y_label;
  int width = 800, height = 500;  // pixels (at least 200 x 150)
  bool log_y = false;             // log10 y axis; Error if some y <= 0
};

// Writes an SVG plot of `series` to `path` (atomically, see WriteFileAtomic).
// Points with a non-finite x or y are skipped (a line breaks there). The
// legend goes in the plot corner that covers the fewest data; if every corner
// would cover data, head-room is added above the data for it. Stem plots draw
// the y = 0 baseline; zero-valued stems get no head, so a sparse signal's
// support stands out. Throws Error on mismatched x/y lengths, on log_y with
// y <= 0, if there is no finite point at all, or if the file cannot be written.
void SaveSvgPlot(const std::string& path, const PlotOptions& options,
                 const std::vector<PlotSeries>& series);

// The same SVG document as a string (SaveSvgPlot writes exactly this).
std::string RenderSvgPlot(const PlotOptions& options, const std::vector<PlotSeries>& series);

}  // namespace implicit
