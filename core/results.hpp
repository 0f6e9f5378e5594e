// Result writers: directories, atomic file writes, CSV tables and ordered
// JSON objects (the per-run metrics.csv / summary.json files).
//
// Every file is written atomically: the content goes to "<path>.tmp.<pid>",
// is flushed to disk, and is then renamed over <path>. A run that is killed
// half-way therefore leaves either the previous file or the complete new
// one, never a truncated file. All failures are reported as implicit::Error
// with the offending path in the message.
#pragma once

#include "core/types.hpp"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace implicit {

// Creates `dir` and its missing parents (no-op if it already is a directory,
// or if `dir` is empty). Throws Error naming the path if it cannot (a regular
// file is in the way, permission denied, ...).
void EnsureDirectory(const std::string& dir);

// Writes `content` to `path` atomically (temp file "<path>.tmp.<pid>",
// write, fsync, rename over `path`). The parent directory must exist.
// Throws Error naming `path` on any failure; the temp file is removed then.
void WriteFileAtomic(const std::string& path, const std::string& content);

// Shortest text that parses back (strtod) to exactly `value`, e.g. "0.1",
// "1e-300", "-3.5", "3" for 3.0. Non-finite values give "nan", "inf", "-inf".
std::string FormatNumber(double value);

// A CSV table kept in memory and saved atomically. Cells containing a comma,
// a double quote, CR or LF are quoted per RFC 4180 (quotes doubled). Lines
// end with "\n".
class CsvTable {
 public:
  // Throws Error if the header is empty.
  explicit CsvTable(std::vector<std::string> header);

  // Numbers are written with FormatNumber. Throws Error if
  // values.size() != num_columns().
  void AddRow(const std::vector<double>& values);
  // Text cells (e.g. a method name next to FormatNumber(...) cells). Throws
  // Error if cells.size() != num_columns().
  void AddRow(const std::vector<std::string>& cells);

  size_t num_rows() const { return rows_.size(); }
  size_t num_columns() const { return header_.size(); }
  const std::vector<std::string>& header() const { return header_; }

  // Header line plus one line per row, each terminated by "\n".
  std::string ToString() const;
  // WriteFileAtomic(path, ToString()).
  void Save(const std::string& path) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;  // raw (unquoted) cells
};

// An ordered JSON object for summary.json files. Keys keep their insertion
// order; setting an existing key replaces its value in place (same position).
class JsonObject {
 public:
  // Non-finite doubles become null (JSON has no NaN/Inf).
  JsonObject& Set(const std::string& key, double value);
  // Integers are written exactly. One overload per built-in integer type so
  // that int, long (Index), size_t, ... literals never hit an ambiguity or
  // the bool/double overloads.
  JsonObject& Set(const std::string& key, int value);
  JsonObject& Set(const std::string& key, long value);
  JsonObject& Set(const std::string& key, long long value);
  JsonObject& Set(const std::string& key, unsigned int value);
  JsonObject& Set(const std::string& key, unsigned long value);
  JsonObject& Set(const std::string& key, unsigned long long value);
  JsonObject& Set(const std::string& key, bool value);
  JsonObject& Set(const std::string& key, const std::string& value);
  // A string literal is a string, not a bool (pointer->bool would otherwise
  // win overload resolution). nullptr gives JSON null.
  JsonObject& Set(const std::string& key, const char* value);
  // Array of numbers, written on one line; non-finite entries become null.
  JsonObject& Set(const std::string& key, const std::vector<double>& values);
  JsonObject& Set(const std::string& key, const JsonObject& nested);

  bool Contains(const std::string& key) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // Pretty-printed with `indent` spaces per level; indent <= 0 gives a
  // single line. Strings are escaped (", \, control characters).
  std::string ToString(int indent = 2) const;
  // WriteFileAtomic(path, ToString() + "\n").
  void Save(const std::string& path) const;

 private:
  struct Entry {
    std::string key;
    std::string literal;             // rendered JSON for scalars and arrays
    std::vector<JsonObject> nested;  // exactly one element for objects
  };
  Entry& Slot(const std::string& key);
  JsonObject& SetLiteral(const std::string& key, std::string literal);
  void Write(std::string& out, int indent, int level) const;

  std::vector<Entry> entries_;
};

}  // namespace implicit
