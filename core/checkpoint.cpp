// Checkpoint writer and validating reader (format: see checkpoint.hpp).
//
// The writer builds the whole file in memory and hands it to WriteFileAtomic.
// The reader first reads only the 28-byte header: magic, version and the
// claimed payload length, which must equal the real file size minus 28
// (otherwise "truncated" or "trailing bytes"), so nothing is allocated from a
// corrupt length. It then reads the payload, verifies the checksum and parses
// the sections with a bounds-checked cursor: every length or count is checked
// against the bytes left in its section before anything is allocated.
#include "core/checkpoint.hpp"

#include "core/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <locale>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>

namespace implicit {
namespace {

// Arrays are copied with memcpy, which matches the little-endian file format
// only on a little-endian machine (as in npy.cpp).
static_assert(std::endian::native == std::endian::little,
              "checkpoint.cpp assumes a little-endian machine");

constexpr std::string_view kMagic("IMPLCKPT", 8);
constexpr std::uint64_t kHeaderSize = 8 + 4 + 8 + 8;

[[noreturn]] void Fail(const std::string& path, const std::string& problem) {
  throw Error(path + ": " + problem);
}

template <typename Scalar>
constexpr const char* ScalarName() {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>);
  return std::is_same_v<Scalar, float> ? "float32" : "float64";
}

std::string Hex(std::uint64_t v) {
  static const char* kDigits = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) s += kDigits[(v >> shift) & 15];
  return s;
}

std::string Where(const std::string& source) {
  return source.empty() ? std::string("checkpoint (not loaded from a file)") : source;
}

// Names of a key/value list, for "present: a, b" hints.
template <typename Pairs>
std::string KeyList(const Pairs& pairs) {
  if (pairs.empty()) return "none";
  std::string s;
  for (const auto& [key, value] : pairs) {
    if (!s.empty()) s += ", ";
    s += "'" + key + "'";
  }
  return s;
}

// Empty if the keys are unique, else the first duplicate.
template <typename Pairs>
std::optional<std::string> FirstDuplicateKey(const Pairs& pairs) {
  std::set<std::string> seen;
  for (const auto& entry : pairs) {
    if (!seen.insert(entry.first).second) return entry.first;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Writing

class Writer {
 public:
  void U8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void U64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void I64(std::int64_t v) { U64(static_cast<std::uint64_t>(v)); }
  void F64(double v) { U64(std::bit_cast<std::uint64_t>(v)); }
  void Bytes(std::string_view s) { out_.append(s.data(), s.size()); }
  void Str(std::string_view s) {
    U64(s.size());
    Bytes(s);
  }
  template <typename T>
  void Array(const T* data, Index n) {
    U64(static_cast<std::uint64_t>(n));
    const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(T);
    const std::size_t at = out_.size();
    out_.resize(at + bytes);
    if (bytes > 0) std::memcpy(out_.data() + at, data, bytes);
  }

  // Writes the tag and a length placeholder; returns where the length is.
  std::size_t BeginSection(std::string_view tag) {
    Bytes(tag);
    const std::size_t at = out_.size();
    U64(0);
    return at;
  }
  void EndSection(std::size_t at) {
    const std::uint64_t length = out_.size() - at - 8;
    for (int i = 0; i < 8; ++i) out_[at + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  }

  std::string& str() { return out_; }

 private:
  std::string out_;
};

template <typename Scalar>
void ValidateForSave(const std::string& path, const Checkpoint<Scalar>& c) {
  const auto bad = [&](const std::string& why) { Fail(path, "cannot save checkpoint: " + why); };
  std::set<std::string> names;
  Index offset = 0;
  for (std::size_t i = 0; i < c.blocks.size(); ++i) {
    const ParameterBlockInfo& b = c.blocks[i];
    if (b.rows < 0 || b.cols < 0) {
      bad("block '" + b.name + "' has a negative shape " + std::to_string(b.rows) + "x" +
          std::to_string(b.cols));
    }
    if (!names.insert(b.name).second) bad("block name '" + b.name + "' appears twice");
    if (b.offset != offset) {
      bad("block '" + b.name + "' has offset " + std::to_string(b.offset) + ", expected " +
          std::to_string(offset) + " (blocks must be contiguous, in order)");
    }
    offset += b.size();
  }
  if (offset != c.parameters.size()) {
    bad("the layout covers " + std::to_string(offset) + " values but 'parameters' has " +
        std::to_string(c.parameters.size()));
  }
  if (!c.has_trainer_state &&
      (!c.optimizer.empty() || c.optimizer_state.step != 0 || !c.optimizer_state.buffers.empty())) {
    bad("optimizer / optimizer_state are set but has_trainer_state is false");
  }
  const auto unique = [&](const auto& pairs, const char* what) {
    if (const auto dup = FirstDuplicateKey(pairs)) bad(std::string(what) + " key '" + *dup + "' appears twice");
  };
  unique(c.config, "config");
  unique(c.integers, "integer");
  unique(c.reals, "real");
  unique(c.strings, "string");
  unique(c.vectors, "vector");
}

template <typename Scalar>
std::string EncodePayload(const Checkpoint<Scalar>& c) {
  Writer w;
  std::size_t s = w.BeginSection("KIND");
  w.Str(c.model_kind);
  w.EndSection(s);

  s = w.BeginSection("CONF");
  w.U64(c.config.size());
  for (const auto& [key, value] : c.config) {
    w.Str(key);
    w.Str(value);
  }
  w.EndSection(s);

  s = w.BeginSection("SCAL");
  w.Str(ScalarName<Scalar>());
  w.EndSection(s);

  s = w.BeginSection("LAYO");
  w.U64(c.blocks.size());
  for (const ParameterBlockInfo& b : c.blocks) {
    w.Str(b.name);
    w.I64(b.rows);
    w.I64(b.cols);
  }
  w.EndSection(s);

  s = w.BeginSection("PARM");
  w.Array(c.parameters.data(), c.parameters.size());
  w.EndSection(s);

  s = w.BeginSection("OPTM");
  w.U8(c.has_trainer_state ? 1 : 0);
  if (c.has_trainer_state) {
    w.Str(c.optimizer);
    w.I64(c.optimizer_state.step);
    w.U64(c.optimizer_state.buffers.size());
    for (const VectorX<Scalar>& buffer : c.optimizer_state.buffers) {
      w.Array(buffer.data(), buffer.size());
    }
  }
  w.EndSection(s);

  s = w.BeginSection("INTS");
  w.U64(c.integers.size());
  for (const auto& [key, value] : c.integers) {
    w.Str(key);
    w.I64(value);
  }
  w.EndSection(s);

  s = w.BeginSection("REAL");
  w.U64(c.reals.size());
  for (const auto& [key, value] : c.reals) {
    w.Str(key);
    w.F64(value);
  }
  w.EndSection(s);

  s = w.BeginSection("STRS");
  w.U64(c.strings.size());
  for (const auto& [key, value] : c.strings) {
    w.Str(key);
    w.Str(value);
  }
  w.EndSection(s);

  s = w.BeginSection("VECS");
  w.U64(c.vectors.size());
  for (const auto& [key, value] : c.vectors) {
    w.Str(key);
    w.Array(value.data(), value.size());
  }
  w.EndSection(s);
  return std::move(w.str());
}

// ---------------------------------------------------------------------------
// Reading

// A bounds-checked cursor over [begin, end) of the payload. Positions in
// messages are file offsets (header included).
class Reader {
 public:
  Reader(const std::string& payload, std::size_t begin, std::size_t end, const std::string& path,
         std::string context)
      : payload_(payload), pos_(begin), end_(end), path_(path), context_(std::move(context)) {}

  std::uint64_t Remaining() const { return end_ - pos_; }

  std::uint8_t U8(const std::string& what) {
    Need(1, what);
    return static_cast<std::uint8_t>(payload_[pos_++]);
  }
  std::uint64_t U64(const std::string& what) {
    Need(8, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= std::uint64_t{static_cast<unsigned char>(payload_[pos_ + i])} << (8 * i);
    }
    pos_ += 8;
    return v;
  }
  std::int64_t I64(const std::string& what) { return static_cast<std::int64_t>(U64(what)); }
  double F64(const std::string& what) { return std::bit_cast<double>(U64(what)); }

  std::string Str(const std::string& what) {
    const std::uint64_t n = U64("length of " + what);
    if (n > Remaining()) {
      Corrupt(what + " claims " + std::to_string(n) + " bytes but only " +
              std::to_string(Remaining()) + " remain");
    }
    std::string s = payload_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  template <typename T>
  VectorX<T> Array(const std::string& what) {
    const std::uint64_t n = U64("element count of " + what);
    if (n > Remaining() / sizeof(T)) {
      Corrupt(what + " claims " + std::to_string(n) + " values (" + std::to_string(sizeof(T)) +
              " bytes each) but only " + std::to_string(Remaining()) + " bytes remain");
    }
    VectorX<T> v(static_cast<Index>(n));
    if (n > 0) std::memcpy(v.data(), payload_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }

  // A count of items that each take at least `min_item_bytes`; checked
  // against the remaining bytes (so reserve(count) is always safe).
  std::size_t Count(const std::string& what, std::uint64_t min_item_bytes) {
    const std::uint64_t n = U64("number of " + what);
    if (n > Remaining() / min_item_bytes) {
      Corrupt("number of " + what + " is " + std::to_string(n) + ", impossible in the " +
              std::to_string(Remaining()) + " bytes that remain");
    }
    return static_cast<std::size_t>(n);
  }

  // Reads the header of the next section, which must be `tag`; returns a
  // cursor over its body and moves past it.
  Reader Section(std::string_view tag) {
    if (Remaining() < 12) {
      Corrupt("section '" + std::string(tag) + "' is missing (" + std::to_string(Remaining()) +
              " bytes left)");
    }
    const std::string found = payload_.substr(pos_, 4);
    if (found != tag) {
      Corrupt("expected section '" + std::string(tag) + "' but found " + Printable(found));
    }
    pos_ += 4;
    const std::uint64_t length = U64("length of section '" + std::string(tag) + "'");
    if (length > Remaining()) {
      Corrupt("section '" + std::string(tag) + "' claims " + std::to_string(length) +
              " bytes but only " + std::to_string(Remaining()) + " remain");
    }
    Reader body(payload_, pos_, pos_ + length, path_, "section '" + std::string(tag) + "'");
    pos_ += length;
    return body;
  }

  void ExpectEnd() {
    if (Remaining() != 0) {
      Corrupt(std::to_string(Remaining()) + " unexpected bytes at the end");
    }
  }

  [[noreturn]] void Corrupt(const std::string& why) const {
    Fail(path_, "corrupt: " + context_ + ": " + why + " (at byte " +
                    std::to_string(kHeaderSize + pos_) + ")");
  }

 private:
  void Need(std::uint64_t n, const std::string& what) {
    if (Remaining() < n) {
      Corrupt(what + " needs " + std::to_string(n) + " bytes but only " +
              std::to_string(Remaining()) + " remain");
    }
  }

  // A tag for messages: printable ASCII as is, other bytes as \xNN.
  static std::string Printable(std::string_view s) {
    std::string out = "'";
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c < 0x7f) {
        out += ch;
      } else {
        static const char* kHex = "0123456789abcdef";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    return out + "'";
  }

  const std::string& payload_;
  std::size_t pos_;
  std::size_t end_;
  const std::string& path_;
  std::string context_;
};

std::string ErrnoText(int err) { return std::strerror(err); }

// Reads exactly n bytes at the current position of fd into buffer.
void ReadExact(int fd, char* buffer, std::uint64_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t got = ::read(fd, buffer, std::min<std::uint64_t>(n, std::uint64_t{1} << 30));
    if (got < 0) {
      if (errno == EINTR) continue;
      Fail(path, "read error: " + ErrnoText(errno));
    }
    if (got == 0) Fail(path, "truncated: the file ended early (modified while being read?)");
    buffer += got;
    n -= static_cast<std::uint64_t>(got);
  }
}

std::uint64_t DecodeU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// Opens `path`, validates the header against the file size, reads the payload
// and verifies its checksum.
std::string ReadVerifiedPayload(const std::string& path) {
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) Fail(path, "cannot open checkpoint: " + ErrnoText(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) Fail(path, "cannot stat: " + ErrnoText(errno));
  if (!S_ISREG(st.st_mode)) {
    Fail(path, S_ISDIR(st.st_mode) ? "cannot read checkpoint: is a directory"
                                   : "cannot read checkpoint: not a regular file");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);

  char header[kHeaderSize];
  const std::uint64_t head = std::min(size, kHeaderSize);
  ReadExact(file.fd, header, head, path);
  const std::size_t magic_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(head, 8));
  if (std::string_view(header, magic_bytes) != kMagic.substr(0, magic_bytes)) {
    Fail(path, "not a checkpoint file (bad magic: expected \"IMPLCKPT\")");
  }
  if (size < kHeaderSize) {
    Fail(path, "truncated: " + std::to_string(size) + " bytes, but the header alone takes " +
                   std::to_string(kHeaderSize));
  }
  std::uint32_t version = 0;
  for (int i = 0; i < 4; ++i) {
    version |= std::uint32_t{static_cast<unsigned char>(header[8 + i])} << (8 * i);
  }
  if (version != kCheckpointVersion) {
    Fail(path, "unsupported version " + std::to_string(version) + " (this build reads version " +
                   std::to_string(kCheckpointVersion) + ")");
  }
  const std::uint64_t length = DecodeU64(header + 12);
  const std::uint64_t stored_checksum = DecodeU64(header + 20);
  const std::uint64_t available = size - kHeaderSize;
  if (length > available) {
    Fail(path, "truncated: the header announces " + std::to_string(length) +
                   " payload bytes but only " + std::to_string(available) + " follow");
  }
  if (length < available) {
    Fail(path, "corrupt: " + std::to_string(available - length) +
                   " trailing bytes after the payload (the header announces " +
                   std::to_string(length) + " payload bytes)");
  }
  std::string payload(static_cast<std::size_t>(length), '\0');
  ReadExact(file.fd, payload.data(), length, path);
  const std::uint64_t checksum = Fnv1a64(payload);
  if (checksum != stored_checksum) {
    Fail(path, "corrupt: checksum mismatch (stored " + Hex(stored_checksum) + ", computed " +
                   Hex(checksum) + ")");
  }
  return payload;
}

template <typename Pairs>
void RequireUniqueKeys(const Reader& section, const Pairs& pairs) {
  if (const auto dup = FirstDuplicateKey(pairs)) section.Corrupt("key '" + *dup + "' appears twice");
}

}  // namespace

// ---------------------------------------------------------------------------

std::uint64_t Fnv1a64(std::string_view data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename Scalar>
void SaveCheckpoint(const std::string& path, const Checkpoint<Scalar>& c) {
  if (path.empty()) throw Error("cannot save a checkpoint to an empty path");
  ValidateForSave(path, c);
  const std::string payload = EncodePayload(c);
  Writer header;
  header.Bytes(kMagic);
  header.U32(kCheckpointVersion);
  header.U64(payload.size());
  header.U64(Fnv1a64(payload));
  std::string& file = header.str();
  file += payload;
  WriteFileAtomic(path, file);
}

template <typename Scalar>
Checkpoint<Scalar> LoadCheckpoint(const std::string& path) {
  const std::string payload = ReadVerifiedPayload(path);
  Checkpoint<Scalar> c;
  c.source = path;
  Reader r(payload, 0, payload.size(), path, "payload");

  {
    Reader s = r.Section("KIND");
    c.model_kind = s.Str("model kind");
    s.ExpectEnd();
  }
  {
    Reader s = r.Section("CONF");
    const std::size_t n = s.Count("config entries", 16);
    c.config.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = s.Str("config key " + std::to_string(i));
      std::string value = s.Str("config value '" + key + "'");
      c.config.emplace_back(std::move(key), std::move(value));
    }
    s.ExpectEnd();
    RequireUniqueKeys(s, c.config);
  }
  {
    Reader s = r.Section("SCAL");
    const std::string tag = s.Str("scalar type");
    s.ExpectEnd();
    if (tag != "float32" && tag != "float64") {
      s.Corrupt("unknown scalar type '" + tag + "' (expected float32 or float64)");
    }
    if (tag != ScalarName<Scalar>()) {
      Fail(path, std::string("scalar type mismatch: the checkpoint holds ") + tag +
                     " values but " + ScalarName<Scalar>() + " was requested");
    }
  }
  Index total = 0;
  {
    Reader s = r.Section("LAYO");
    const std::size_t n = s.Count("parameter blocks", 24);
    c.blocks.reserve(n);
    std::set<std::string> names;
    for (std::size_t i = 0; i < n; ++i) {
      ParameterBlockInfo b;
      b.name = s.Str("name of block " + std::to_string(i));
      b.rows = s.I64("rows of block '" + b.name + "'");
      b.cols = s.I64("cols of block '" + b.name + "'");
      Index size = 0;
      Index end = 0;
      if (b.rows < 0 || b.cols < 0 || __builtin_mul_overflow(b.rows, b.cols, &size) ||
          __builtin_add_overflow(total, size, &end)) {
        s.Corrupt("block '" + b.name + "' has an impossible shape " + std::to_string(b.rows) +
                  "x" + std::to_string(b.cols));
      }
      b.offset = total;
      total = end;
      if (!names.insert(b.name).second) s.Corrupt("block name '" + b.name + "' appears twice");
      c.blocks.push_back(std::move(b));
    }
    s.ExpectEnd();
  }
  {
    Reader s = r.Section("PARM");
    c.parameters = s.Array<Scalar>("parameter values");
    s.ExpectEnd();
    if (c.parameters.size() != total) {
      Fail(path, "corrupt: sizes inconsistent: the layout has " + std::to_string(total) +
                     " parameters but the file holds " + std::to_string(c.parameters.size()) +
                     " values");
    }
  }
  {
    Reader s = r.Section("OPTM");
    const std::uint8_t flag = s.U8("trainer-state flag");
    if (flag > 1) s.Corrupt("trainer-state flag is " + std::to_string(flag) + " (expected 0 or 1)");
    c.has_trainer_state = flag == 1;
    if (c.has_trainer_state) {
      c.optimizer = s.Str("optimizer name");
      c.optimizer_state.step = s.I64("optimizer step");
      const std::size_t n = s.Count("optimizer buffers", 8);
      c.optimizer_state.buffers.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        c.optimizer_state.buffers.push_back(
            s.Array<Scalar>("optimizer buffer " + std::to_string(i)));
      }
    }
    s.ExpectEnd();
  }
  {
    Reader s = r.Section("INTS");
    const std::size_t n = s.Count("integers", 16);
    c.integers.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = s.Str("integer key " + std::to_string(i));
      const std::int64_t value = s.I64("integer '" + key + "'");
      c.integers.emplace_back(std::move(key), value);
    }
    s.ExpectEnd();
    RequireUniqueKeys(s, c.integers);
  }
  {
    Reader s = r.Section("REAL");
    const std::size_t n = s.Count("reals", 16);
    c.reals.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = s.Str("real key " + std::to_string(i));
      const double value = s.F64("real '" + key + "'");
      c.reals.emplace_back(std::move(key), value);
    }
    s.ExpectEnd();
    RequireUniqueKeys(s, c.reals);
  }
  {
    Reader s = r.Section("STRS");
    const std::size_t n = s.Count("strings", 16);
    c.strings.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = s.Str("string key " + std::to_string(i));
      std::string value = s.Str("string '" + key + "'");
      c.strings.emplace_back(std::move(key), std::move(value));
    }
    s.ExpectEnd();
    RequireUniqueKeys(s, c.strings);
  }
  {
    Reader s = r.Section("VECS");
    const std::size_t n = s.Count("vectors", 16);
    c.vectors.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string key = s.Str("vector key " + std::to_string(i));
      Eigen::VectorXd value = s.Array<double>("vector '" + key + "'");
      c.vectors.emplace_back(std::move(key), std::move(value));
    }
    s.ExpectEnd();
    RequireUniqueKeys(s, c.vectors);
  }
  r.ExpectEnd();
  return c;
}

// ---------------------------------------------------------------------------
// Lookups

namespace {

template <typename Pairs>
const auto& Lookup(const Pairs& pairs, const std::string& key, const char* kind,
                   const std::string& source) {
  for (const auto& entry : pairs) {
    if (entry.first == key) return entry.second;
  }
  throw Error(Where(source) + ": checkpoint has no " + kind + " '" + key + "' (" + kind +
              "s present: " + KeyList(pairs) + ")");
}

}  // namespace

template <typename Scalar>
std::int64_t Checkpoint<Scalar>::Integer(const std::string& key) const {
  return Lookup(integers, key, "integer", source);
}
template <typename Scalar>
double Checkpoint<Scalar>::Real(const std::string& key) const {
  return Lookup(reals, key, "real", source);
}
template <typename Scalar>
const std::string& Checkpoint<Scalar>::String(const std::string& key) const {
  return Lookup(strings, key, "string", source);
}
template <typename Scalar>
const Eigen::VectorXd& Checkpoint<Scalar>::Vector(const std::string& key) const {
  return Lookup(vectors, key, "vector", source);
}

// ---------------------------------------------------------------------------
// Parameters and configuration

template <typename Scalar>
void CaptureParameters(const ParameterSet<Scalar>& p, Checkpoint<Scalar>& c) {
  c.blocks = p.blocks();
  c.parameters = p.Flat();
}

template <typename Scalar>
void RestoreParameters(const Checkpoint<Scalar>& c, ParameterSet<Scalar>& p) {
  const auto fail = [&](const std::string& why) {
    throw Error(Where(c.source) + ": parameter layout differs from the model: " + why);
  };
  const auto describe = [](const ParameterBlockInfo& b) {
    return "'" + b.name + "' " + std::to_string(b.rows) + "x" + std::to_string(b.cols) +
           " at offset " + std::to_string(b.offset);
  };
  const std::vector<ParameterBlockInfo>& model = p.blocks();
  const std::size_t common = std::min(model.size(), c.blocks.size());
  for (std::size_t i = 0; i < common; ++i) {
    const ParameterBlockInfo& a = c.blocks[i];
    const ParameterBlockInfo& b = model[i];
    if (a.name != b.name || a.rows != b.rows || a.cols != b.cols || a.offset != b.offset) {
      fail("block " + std::to_string(i) + " is " + describe(a) + " in the checkpoint but " +
           describe(b) + " in the model");
    }
  }
  if (c.blocks.size() > model.size()) {
    fail("the checkpoint has " + std::to_string(c.blocks.size()) + " blocks, the model " +
         std::to_string(model.size()) + " (first extra block in the checkpoint: " +
         describe(c.blocks[common]) + ")");
  }
  if (model.size() > c.blocks.size()) {
    fail("the checkpoint has " + std::to_string(c.blocks.size()) + " blocks, the model " +
         std::to_string(model.size()) + " (first block missing from the checkpoint: " +
         describe(model[common]) + ")");
  }
  if (c.parameters.size() != p.size()) {
    fail("the checkpoint holds " + std::to_string(c.parameters.size()) +
         " values but the model has " + std::to_string(p.size()) + " parameters");
  }
  p.Flat() = c.parameters;
}

template <typename Scalar>
void RequireSameConfig(const Checkpoint<Scalar>& c,
                       const std::vector<std::pair<std::string, std::string>>& expected) {
  if (const auto dup = FirstDuplicateKey(expected)) {
    throw Error("RequireSameConfig: key '" + *dup + "' appears twice in the expected configuration");
  }
  const auto find = [](const auto& pairs, const std::string& key) -> const std::string* {
    for (const auto& [k, v] : pairs) {
      if (k == key) return &v;
    }
    return nullptr;
  };
  std::vector<std::string> differences;
  for (const auto& [key, value] : expected) {
    const std::string* stored = find(c.config, key);
    if (stored == nullptr) {
      differences.push_back("key '" + key + "' is '" + value + "' here but missing in the file");
    } else if (*stored != value) {
      differences.push_back("key '" + key + "' is '" + value + "' here but '" + *stored +
                            "' in the file");
    }
  }
  for (const auto& [key, value] : c.config) {
    if (find(expected, key) == nullptr) {
      differences.push_back("key '" + key + "' is missing here but '" + value + "' in the file");
    }
  }
  if (differences.empty()) return;
  std::string message =
      Where(c.source) + ": checkpoint was written with a different configuration: ";
  for (std::size_t i = 0; i < differences.size(); ++i) {
    if (i > 0) message += "; ";
    message += differences[i];
  }
  throw Error(message);
}

// ---------------------------------------------------------------------------
// Random engine

std::string SerializeRng(const Rng& rng) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << rng;
  return out.str();
}

void DeserializeRng(const std::string& text, Rng& rng) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  Rng restored;
  in >> restored;
  if (in.fail()) {
    throw Error("malformed random engine state (" + std::to_string(text.size()) +
                " characters): not a complete std::mt19937_64 state");
  }
  in >> std::ws;
  if (!in.eof()) {
    throw Error("malformed random engine state: unexpected text after the state");
  }
  rng = restored;
}

// ---------------------------------------------------------------------------

template struct Checkpoint<float>;
template struct Checkpoint<double>;
template void SaveCheckpoint<float>(const std::string&, const Checkpoint<float>&);
template void SaveCheckpoint<double>(const std::string&, const Checkpoint<double>&);
template Checkpoint<float> LoadCheckpoint<float>(const std::string&);
template Checkpoint<double> LoadCheckpoint<double>(const std::string&);
template void CaptureParameters<float>(const ParameterSet<float>&, Checkpoint<float>&);
template void CaptureParameters<double>(const ParameterSet<double>&, Checkpoint<double>&);
template void RestoreParameters<float>(const Checkpoint<float>&, ParameterSet<float>&);
template void RestoreParameters<double>(const Checkpoint<double>&, ParameterSet<double>&);
template void RequireSameConfig<float>(const Checkpoint<float>&,
                                       const std::vector<std::pair<std::string, std::string>>&);
template void RequireSameConfig<double>(const Checkpoint<double>&,
                                        const std::vector<std::pair<std::string, std::string>>&);

}  // namespace implicit
