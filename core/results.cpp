#include "core/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace implicit {

namespace fs = std::filesystem;

namespace {

std::string ErrnoText(int err) { return std::generic_category().message(err); }

// Removes the temp file (best effort) and throws an Error naming `path`.
[[noreturn]] void FailWrite(const std::string& path, const std::string& tmp, int fd,
                            const std::string& what) {
  if (fd >= 0) ::close(fd);
  ::unlink(tmp.c_str());
  throw Error("cannot write '" + path + "': " + what);
}

}  // namespace

void EnsureDirectory(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(fs::path(dir), ec);
  if (ec) throw Error("cannot create directory '" + dir + "': " + ec.message());
  // create_directories reports success for an existing path; make sure it is
  // a directory (or a symlink to one) and not a regular file.
  if (!fs::is_directory(fs::path(dir), ec)) {
    throw Error("cannot create directory '" + dir + "': a non-directory is in the way");
  }
}

void WriteFileAtomic(const std::string& path, const std::string& content) {
  if (path.empty()) throw Error("cannot write a file with an empty path");
  const std::string tmp = path + ".tmp." + std::to_string(static_cast<long long>(::getpid()));

  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    // Nothing was created, nothing to remove.
    throw Error("cannot write '" + path + "': cannot create temporary file '" + tmp +
                "': " + ErrnoText(err));
  }
  const char* data = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      FailWrite(path, tmp, fd, "write to '" + tmp + "' failed: " + ErrnoText(errno));
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  // Flush to the device before the rename, so that after a crash the new name
  // never refers to a file whose data is not on disk.
  if (::fsync(fd) != 0) {
    FailWrite(path, tmp, fd, "fsync of '" + tmp + "' failed: " + ErrnoText(errno));
  }
  if (::close(fd) != 0) {
    FailWrite(path, tmp, -1, "close of '" + tmp + "' failed: " + ErrnoText(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    FailWrite(path, tmp, -1, "rename from '" + tmp + "' failed: " + ErrnoText(errno));
  }
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  // Shortest representation that round-trips (C++17 <charconv>).
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value);
  if (r.ec != std::errc()) {
    std::snprintf(buf, sizeof(buf), "%.17g", value);
    return buf;
  }
  return std::string(buf, r.ptr);
}

// ---------------------------------------------------------------- CsvTable

namespace {

void AppendCsvCell(std::string& out, const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) {
    out += cell;
    return;
  }
  out += '"';
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void AppendCsvLine(std::string& out, const std::vector<std::string>& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out += ',';
    AppendCsvCell(out, cells[i]);
  }
  out += '\n';
}

}  // namespace

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {
  if (header_.empty()) throw Error("CsvTable: the header must have at least one column");
}

void CsvTable::AddRow(const std::vector<double>& values) {
  if (values.size() != header_.size()) {
    throw Error("CsvTable::AddRow: row has " + std::to_string(values.size()) +
                " values, header has " + std::to_string(header_.size()) + " columns");
  }
  std::vector<std::string> cells;
  cells.reserve(values.size());
  for (double v : values) cells.push_back(FormatNumber(v));
  rows_.push_back(std::move(cells));
}

void CsvTable::AddRow(const std::vector<std::string>& cells) {
  if (cells.size() != header_.size()) {
    throw Error("CsvTable::AddRow: row has " + std::to_string(cells.size()) +
                " cells, header has " + std::to_string(header_.size()) + " columns");
  }
  rows_.push_back(cells);
}

std::string CsvTable::ToString() const {
  std::string out;
  AppendCsvLine(out, header_);
  for (const std::vector<std::string>& row : rows_) AppendCsvLine(out, row);
  return out;
}

void CsvTable::Save(const std::string& path) const { WriteFileAtomic(path, ToString()); }

// -------------------------------------------------------------- JsonObject

namespace {

std::string JsonString(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;  // UTF-8 bytes pass through unchanged
        }
    }
  }
  out += '"';
  return out;
}

std::string JsonNumber(double v) { return std::isfinite(v) ? FormatNumber(v) : "null"; }

}  // namespace

JsonObject::Entry& JsonObject::Slot(const std::string& key) {
  for (Entry& e : entries_) {
    if (e.key == key) return e;
  }
  entries_.push_back(Entry{key, {}, {}});
  return entries_.back();
}

JsonObject& JsonObject::SetLiteral(const std::string& key, std::string literal) {
  Entry& e = Slot(key);
  e.literal = std::move(literal);
  e.nested.clear();
  return *this;
}

JsonObject& JsonObject::Set(const std::string& key, double value) {
  return SetLiteral(key, JsonNumber(value));
}
JsonObject& JsonObject::Set(const std::string& key, int value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, long value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, long long value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, unsigned int value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, unsigned long value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, unsigned long long value) {
  return SetLiteral(key, std::to_string(value));
}
JsonObject& JsonObject::Set(const std::string& key, bool value) {
  return SetLiteral(key, value ? "true" : "false");
}
JsonObject& JsonObject::Set(const std::string& key, const std::string& value) {
  return SetLiteral(key, JsonString(value));
}
JsonObject& JsonObject::Set(const std::string& key, const char* value) {
  return SetLiteral(key, value == nullptr ? std::string("null") : JsonString(value));
}
JsonObject& JsonObject::Set(const std::string& key, const std::vector<double>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) s += ", ";
    s += JsonNumber(values[i]);
  }
  s += ']';
  return SetLiteral(key, std::move(s));
}
JsonObject& JsonObject::Set(const std::string& key, const JsonObject& nested) {
  // Copy first: `nested` may be *this or live inside *this, and Slot() may
  // reallocate entries_.
  JsonObject copy = nested;
  Entry& e = Slot(key);
  e.literal.clear();
  e.nested.clear();
  e.nested.push_back(std::move(copy));
  return *this;
}

bool JsonObject::Contains(const std::string& key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return true;
  }
  return false;
}

void JsonObject::Write(std::string& out, int indent, int level) const {
  if (entries_.empty()) {
    out += "{}";
    return;
  }
  const bool pretty = indent > 0;
  const std::string inner = pretty ? std::string(static_cast<size_t>(indent * (level + 1)), ' ') : "";
  out += '{';
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (i > 0) out += ',';
    if (pretty) {
      out += '\n';
      out += inner;
    } else if (i > 0) {
      out += ' ';
    }
    out += JsonString(e.key);
    out += ": ";
    if (!e.nested.empty()) {
      e.nested.front().Write(out, indent, level + 1);
    } else {
      out += e.literal;
    }
  }
  if (pretty) {
    out += '\n';
    out += std::string(static_cast<size_t>(indent * level), ' ');
  }
  out += '}';
}

std::string JsonObject::ToString(int indent) const {
  std::string out;
  Write(out, indent, 0);
  return out;
}

void JsonObject::Save(const std::string& path) const { WriteFileAtomic(path, ToString() + "\n"); }

}  // namespace implicit
