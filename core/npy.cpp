// .npy reader and writer (what is supported and why: see npy.hpp).
//
// File layout (numpy/lib/format.py):
//   "\x93NUMPY" | major u8 | minor u8 | header_len (u16 LE in 1.0, u32 LE in 2.0/3.0)
//   | header: a Python dict literal such as
//       {'descr': '<f8', 'fortran_order': False, 'shape': (250, 500), }
//     padded with spaces and ending in '\n'
//   | data: product(shape) * itemsize bytes, in C or Fortran order.
// The writer pads the header so that the data starts at a multiple of 64
// bytes, as current numpy does; for a 250 x 500 float64 C-order array its
// output is byte-for-byte what np.save writes.
//
// Safety of the reader: the header is parsed by a small hand-written parser
// (never evaluated), every size claimed by the file is checked against the
// real file size before anything is allocated, and the data must fill the
// rest of the file exactly (missing bytes = truncated, extra bytes = corrupt).
//
// POSIX file descriptors are used (rather than iostreams) so that errors carry
// errno's text and the written file can be fsync'ed before the atomic rename.
#include "core/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace implicit {
namespace {

// Data is read/written with memcpy-like transfers, which is only correct for
// little-endian ('<f4', '<f8') data on a little-endian machine.
static_assert(std::endian::native == std::endian::little,
              "npy.cpp assumes a little-endian machine");

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr std::size_t kAlign = 64;  // data offset alignment used by the writer

[[noreturn]] void Fail(const std::string& path, const std::string& problem) {
  throw Error(path + ": " + problem);
}

std::string ErrnoText() { return std::strerror(errno); }

// ---------------------------------------------------------------------------
// Dtypes

enum class Dtype { kFloat32, kFloat64 };

std::size_t ItemSize(Dtype t) { return t == Dtype::kFloat32 ? 4 : 8; }
const char* DtypeName(Dtype t) { return t == Dtype::kFloat32 ? "float32" : "float64"; }
const char* Descr(Dtype t) { return t == Dtype::kFloat32 ? "<f4" : "<f8"; }

template <typename Scalar>
constexpr Dtype DtypeOf() {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>);
  return std::is_same_v<Scalar, float> ? Dtype::kFloat32 : Dtype::kFloat64;
}

// ---------------------------------------------------------------------------
// Shapes

// "500x1000" (the style of the error messages); "0-d" for a scalar.
std::string ShapeText(const std::vector<Index>& shape) {
  if (shape.empty()) return "0-d";
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(shape[i]);
  }
  return s;
}

// Python tuple syntax, as in the header: "()", "(5,)", "(250, 500)".
std::string ShapeTuple(const std::vector<Index>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ',';
  return s + ')';
}

// Number of elements and of data bytes of a shape, or nullopt if a byte count
// would not fit in an int64 (no real file is that large). Entries must be >= 0.
struct ArraySize {
  std::uint64_t count;
  std::uint64_t bytes;
};
std::optional<ArraySize> SizeOf(const std::vector<Index>& shape, std::size_t item_size) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t count = 1;
  if (std::find(shape.begin(), shape.end(), Index{0}) != shape.end()) {
    count = 0;  // an empty array, however large the other extents
  } else {
    for (const Index d : shape) {
      if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count)) {
        return std::nullopt;
      }
    }
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, std::uint64_t{item_size}, &bytes) || bytes > kMax) {
    return std::nullopt;
  }
  return ArraySize{count, bytes};
}

// Copies the elements of an array of shape `shape` from Fortran order (`src`)
// to C order (`dst`), converting each value to To. The same routine converts
// C order to Fortran order when given the reversed shape, because C-order
// storage of shape (d0, ..., dk) is Fortran-order storage of (dk, ..., d0).
template <typename To, typename From>
void FortranToC(const From* src, const std::vector<Index>& shape, std::uint64_t count,
                To* dst) {
  if (count == 0) return;
  const std::size_t rank = shape.size();
  if (rank <= 1) {  // both orders coincide
    std::transform(src, src + count, dst, [](From v) { return static_cast<To>(v); });
    return;
  }
  // C-order strides; src is walked linearly (axis 0 fastest), one run of
  // shape[0] elements at a time, while an odometer over axes 1..rank-1 tracks
  // where the run starts in dst.
  std::vector<Index> stride(rank, 1);
  for (std::size_t j = rank - 1; j > 0; --j) stride[j - 1] = stride[j] * shape[j];
  std::vector<Index> index(rank, 0);
  const Index run = shape[0];
  Index dst_start = 0;
  for (std::uint64_t n = 0; n < count; n += static_cast<std::uint64_t>(run)) {
    const From* in = src + n;
    for (Index i = 0; i < run; ++i) dst[dst_start + i * stride[0]] = static_cast<To>(in[i]);
    for (std::size_t j = 1; j < rank; ++j) {
      ++index[j];
      dst_start += stride[j];
      if (index[j] < shape[j]) break;
      dst_start -= index[j] * stride[j];
      index[j] = 0;
    }
  }
}

// ---------------------------------------------------------------------------
// Header parsing

struct Header {
  Dtype dtype = Dtype::kFloat64;
  bool fortran_order = false;
  std::vector<Index> shape;
};

// Parses the header dict: exactly the keys 'descr', 'fortran_order' and
// 'shape', in any order, with any whitespace and an optional trailing comma,
// followed by nothing but whitespace (the padding).
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  Header Parse() {
    Header header;
    bool have_descr = false, have_order = false, have_shape = false;
    Expect('{', "the header must start with '{'");
    SkipSpace();
    while (!Consume('}')) {
      const std::string key = ParseString("a quoted key");
      Expect(':', "expected ':' after key '" + key + "'");
      if (key == "descr" && !have_descr) {
        header.dtype = ParseDescr();
        have_descr = true;
      } else if (key == "fortran_order" && !have_order) {
        header.fortran_order = ParseBool();
        have_order = true;
      } else if (key == "shape" && !have_shape) {
        header.shape = ParseShape();
        have_shape = true;
      } else if (key == "descr" || key == "fortran_order" || key == "shape") {
        Malformed("duplicate key '" + key + "'");
      } else {
        Malformed("unexpected key '" + key + "'");
      }
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
        continue;
      }
      Expect('}', "expected ',' or '}' after the value of '" + key + "'");
      break;
    }
    SkipSpace();
    if (pos_ != text_.size()) Malformed("unexpected text after the closing '}'");
    if (!have_descr) Malformed("missing key 'descr'");
    if (!have_order) Malformed("missing key 'fortran_order'");
    if (!have_shape) Malformed("missing key 'shape'");
    return header;
  }

 private:
  [[noreturn]] void Malformed(const std::string& why) const {
    Fail(path_, "malformed header (" + why + "): " + Excerpt());
  }

  // The header for error messages: at most 120 characters, non-printable
  // bytes escaped (a corrupt file may have anything there).
  std::string Excerpt() const {
    std::string s;
    for (std::size_t i = 0; i < text_.size() && i < 120; ++i) {
      const auto c = static_cast<unsigned char>(text_[i]);
      if (c >= 0x20 && c < 0x7f) {
        s += static_cast<char>(c);
      } else {
        static const char* kHex = "0123456789abcdef";
        s += "\\x";
        s += kHex[c >> 4];
        s += kHex[c & 15];
      }
    }
    return text_.size() > 120 ? s + "..." : s;
  }

  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void Expect(char c, const std::string& why) {
    SkipSpace();
    if (!Consume(c)) Malformed(why);
  }

  // A '...' or "..." literal without escape sequences (numpy never writes any
  // in the keys or in the simple descrs supported here).
  std::string ParseString(const std::string& what) {
    SkipSpace();
    const char quote = Peek();
    if (quote != '\'' && quote != '"') Malformed("expected " + what);
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) Malformed("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    if (s.find('\\') != std::string::npos) Malformed("escape sequences are not supported");
    pos_ = end + 1;
    return s;
  }

  Dtype ParseDescr() {
    SkipSpace();
    if (Peek() == '[') {
      Fail(path_, "unsupported dtype: structured arrays are not supported (supported: float32 "
                  "'<f4', float64 '<f8')");
    }
    const std::string descr = ParseString("a quoted dtype for 'descr'");
    // '<' = little-endian; '|' (not applicable) and '=' (native) are
    // equivalent to it on this little-endian machine.
    if (descr.size() == 3 && descr[1] == 'f' && (descr[2] == '4' || descr[2] == '8')) {
      const Dtype type = descr[2] == '4' ? Dtype::kFloat32 : Dtype::kFloat64;
      if (descr[0] == '<' || descr[0] == '|' || descr[0] == '=') return type;
      if (descr[0] == '>') Fail(path_, "big-endian dtype '" + descr + "' not supported");
    }
    Fail(path_, "unsupported dtype '" + descr + "' (supported: float32 '<f4', float64 '<f8')");
  }

  bool ParseBool() {
    SkipSpace();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true},
                                      std::pair{std::string_view("False"), false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        const std::size_t after = pos_ + word.size();
        const char next = after < text_.size() ? text_[after] : '\0';
        if (std::isalnum(static_cast<unsigned char>(next)) || next == '_') break;
        pos_ = after;
        return value;
      }
    }
    Malformed("'fortran_order' must be True or False");
  }

  // "()" (0-d), "(n,)" (1-D), "(a, b, ...)" with an optional trailing comma.
  std::vector<Index> ParseShape() {
    Expect('(', "'shape' must be a tuple");
    std::vector<Index> shape;
    SkipSpace();
    if (Consume(')')) return shape;
    while (true) {
      shape.push_back(ParseDim());
      SkipSpace();
      if (Consume(')')) {
        if (shape.size() == 1) Malformed("'shape' must be a tuple; a 1-D shape is written (n,)");
        return shape;
      }
      Expect(',', "expected ',' or ')' in 'shape'");
      SkipSpace();
      if (Consume(')')) return shape;
    }
  }

  // One shape entry: a non-negative decimal integer (a Python 2 'L' suffix,
  // found in old files, is accepted).
  Index ParseDim() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ')' &&
           !IsSpace(text_[pos_])) {
      ++pos_;
    }
    std::string_view token = text_.substr(start, pos_ - start);
    if (token.empty()) Malformed("expected a shape entry");
    std::string quoted(1, '\'');  // built in steps: "'" + ... + "'" trips GCC 12's -Wrestrict
    quoted.append(token).push_back('\'');
    if (token.size() > 1 && (token.back() == 'L' || token.back() == 'l')) token.remove_suffix(1);
    const bool negative = token.front() == '-';
    if (negative) token.remove_prefix(1);
    const bool digits = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    if (!digits) Fail(path_, "bad shape in header: entry " + quoted + " is not an integer");
    if (negative) Fail(path_, "bad shape in header: entry " + quoted + " is negative");
    Index value = 0;
    for (const char c : token) {
      if (__builtin_mul_overflow(value, Index{10}, &value) ||
          __builtin_add_overflow(value, Index{c - '0'}, &value)) {
        Fail(path_, "bad shape in header: entry " + quoted + " is too large");
      }
    }
    return value;
  }

  std::string_view text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Files

// A file opened for reading; errors name the path.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) Fail(path, "cannot open: " + ErrnoText());
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const std::string why = ErrnoText();
      ::close(fd_);
      Fail(path, "cannot stat: " + why);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      Fail(path, S_ISDIR(st.st_mode) ? "cannot read: is a directory"
                                     : "cannot read: not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() { ::close(fd_); }

  std::uint64_t Size() const { return size_; }

  void ReadExact(void* buffer, std::uint64_t n) {
    char* p = static_cast<char*>(buffer);
    while (n > 0) {
      const ssize_t got = ::read(fd_, p, std::min<std::uint64_t>(n, std::uint64_t{1} << 30));
      if (got < 0) {
        if (errno == EINTR) continue;
        Fail(path_, "read error: " + ErrnoText());
      }
      if (got == 0) Fail(path_, "truncated: the file ended early (modified while being read?)");
      p += got;
      n -= static_cast<std::uint64_t>(got);
    }
  }

 private:
  const std::string& path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// A temporary file "<path>.tmp.<pid>" that becomes `path` on Commit() (fsync
// + rename) and is deleted if never committed.
class AtomicOutputFile {
 public:
  explicit AtomicOutputFile(const std::string& path)
      : path_(path), tmp_(path + ".tmp." + std::to_string(::getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) Fail(path_, "cannot create temporary file '" + tmp_ + "': " + ErrnoText());
  }
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
  ~AtomicOutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) {
      std::error_code ignored;
      std::filesystem::remove(tmp_, ignored);
    }
  }

  void Write(const void* data, std::uint64_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t put = ::write(fd_, p, std::min<std::uint64_t>(n, std::uint64_t{1} << 30));
      if (put < 0) {
        if (errno == EINTR) continue;
        Fail(path_, "cannot write '" + tmp_ + "': " + ErrnoText());
      }
      p += put;
      n -= static_cast<std::uint64_t>(put);
    }
  }

  void Commit() {
    if (::fsync(fd_) != 0) Fail(path_, "cannot flush '" + tmp_ + "': " + ErrnoText());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) Fail(path_, "cannot close '" + tmp_ + "': " + ErrnoText());
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) Fail(path_, "cannot rename '" + tmp_ + "' to it: " + ec.message());
    committed_ = true;
  }

 private:
  const std::string& path_;
  std::string tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// The preamble + header for an array, padded so that the data starts at a
// multiple of kAlign. Version 1.0 unless the header needs more than 65535
// bytes (only with thousands of dimensions), then 2.0.
std::string MakeHeader(Dtype dtype, bool fortran_order, const std::vector<Index>& shape) {
  const std::string dict = std::string("{'descr': '") + Descr(dtype) +
                           "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                           ", 'shape': " + ShapeTuple(shape) + ", }";
  for (const int major : {1, 2}) {
    const std::size_t preamble = kMagic.size() + 2 + (major == 1 ? 2 : 4);
    const std::size_t unpadded = preamble + dict.size() + 1;  // + the final '\n'
    const std::size_t total = (unpadded + kAlign - 1) / kAlign * kAlign;
    const std::size_t header_len = total - preamble;
    if (major == 1 && header_len > 0xffff) continue;
    std::string out(kMagic);
    out += static_cast<char>(major);
    out += '\0';  // minor version
    for (std::size_t i = 0; i < preamble - kMagic.size() - 2; ++i) {
      out += static_cast<char>((header_len >> (8 * i)) & 0xff);  // little-endian length
    }
    out += dict;
    out.append(total - unpadded, ' ');
    out += '\n';
    return out;
  }
  return {};  // unreachable: a 2.0 header holds up to 4 GiB
}

// Writes an array whose data is already laid out in the file's order.
void WriteFile(const std::string& path, Dtype dtype, bool fortran_order,
               const std::vector<Index>& shape, const void* data, std::uint64_t bytes) {
  const std::string header = MakeHeader(dtype, fortran_order, shape);
  AtomicOutputFile out(path);
  out.Write(header.data(), header.size());
  out.Write(data, bytes);
  out.Commit();
}

// Reads the data that follows the header into `array` (shape already set),
// converting it from FileScalar and from C order as needed.
template <typename Scalar, typename FileScalar>
void ReadData(InputFile& file, bool fortran_order, const ArraySize& size,
              NpyArray<Scalar>& array) {
  array.data.resize(size.count);
  const bool same_order = fortran_order || array.shape.size() <= 1;
  if constexpr (std::is_same_v<Scalar, FileScalar>) {
    if (same_order) {
      file.ReadExact(array.data.data(), size.bytes);
      return;
    }
  }
  std::vector<FileScalar> raw(size.count);
  file.ReadExact(raw.data(), size.bytes);
  if (same_order) {
    std::transform(raw.begin(), raw.end(), array.data.begin(),
                   [](FileScalar v) { return static_cast<Scalar>(v); });
  } else {
    const std::vector<Index> reversed(array.shape.rbegin(), array.shape.rend());
    FortranToC(raw.data(), reversed, size.count, array.data.data());
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

template <typename Scalar>
NpyArray<Scalar> ReadNpy(const std::string& path) {
  InputFile file(path);
  const std::uint64_t file_size = file.Size();

  // Preamble: magic string, version, header length.
  char preamble[12];
  if (file_size < kMagic.size()) {
    Fail(path, "not a .npy file (too short: " + std::to_string(file_size) + " bytes)");
  }
  file.ReadExact(preamble, kMagic.size());
  if (std::string_view(preamble, kMagic.size()) != kMagic) {
    Fail(path, "not a .npy file (bad magic string)");
  }
  if (file_size < kMagic.size() + 2) Fail(path, "truncated: the file ends inside the preamble");
  file.ReadExact(preamble + kMagic.size(), 2);
  const int major = static_cast<unsigned char>(preamble[6]);
  const int minor = static_cast<unsigned char>(preamble[7]);
  if (major < 1 || major > 3 || minor != 0) {
    Fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::uint64_t preamble_size = kMagic.size() + 2 + length_bytes;
  if (file_size < preamble_size) Fail(path, "truncated: the file ends inside the preamble");
  file.ReadExact(preamble + kMagic.size() + 2, length_bytes);
  std::uint64_t header_len = 0;
  for (std::size_t i = 0; i < length_bytes; ++i) {
    header_len |= std::uint64_t{static_cast<unsigned char>(preamble[8 + i])} << (8 * i);
  }
  if (header_len > file_size - preamble_size) {
    Fail(path, "truncated: the header says it is " + std::to_string(header_len) +
                   " bytes long but only " + std::to_string(file_size - preamble_size) +
                   " bytes follow");
  }

  // Header dict.
  std::string header_text(header_len, '\0');
  file.ReadExact(header_text.data(), header_len);
  const Header header = HeaderParser(header_text, path).Parse();

  // The data must fill the rest of the file exactly; checked before allocating.
  const std::uint64_t available = file_size - preamble_size - header_len;
  const std::string claim = ShapeText(header.shape) + " " + DtypeName(header.dtype);
  const std::optional<ArraySize> size = SizeOf(header.shape, ItemSize(header.dtype));
  if (!size) {
    Fail(path, "bad shape in header: " + claim + " is larger than any file (" +
                   std::to_string(available) + " bytes of data follow)");
  }
  if (size->bytes > available) {
    Fail(path, "truncated: header says " + claim + " (" + std::to_string(size->bytes) +
                   " bytes of data) but only " + std::to_string(available) + " bytes follow");
  }
  if (size->bytes < available) {
    Fail(path, "corrupt: " + std::to_string(available - size->bytes) +
                   " unexpected bytes after the data (header says " + claim + ", " +
                   std::to_string(size->bytes) + " bytes of data)");
  }

  NpyArray<Scalar> array;
  array.shape = header.shape;
  if (header.dtype == Dtype::kFloat32) {
    ReadData<Scalar, float>(file, header.fortran_order, *size, array);
  } else {
    ReadData<Scalar, double>(file, header.fortran_order, *size, array);
  }
  return array;
}

template <typename Scalar>
MatrixX<Scalar> ReadNpyMatrix(const std::string& path) {
  const NpyArray<Scalar> array = ReadNpy<Scalar>(path);
  if (array.shape.size() != 1 && array.shape.size() != 2) {
    Fail(path, "expected a 1-D or 2-D array, got shape " + ShapeTuple(array.shape));
  }
  const Index rows = array.shape[0];
  const Index cols = array.shape.size() == 2 ? array.shape[1] : 1;
  return Eigen::Map<const MatrixX<Scalar>>(array.data.data(), rows, cols);
}

template <typename Scalar>
void WriteNpy(const std::string& path, ConstMatRef<Scalar> m, bool fortran_order) {
  const std::vector<Index> shape{m.rows(), m.cols()};
  const std::uint64_t bytes = static_cast<std::uint64_t>(m.size()) * sizeof(Scalar);
  if (!fortran_order) {
    // The column-major storage of m^T is the C-order storage of m.
    const MatrixX<Scalar> transposed = m.transpose();
    WriteFile(path, DtypeOf<Scalar>(), false, shape, transposed.data(), bytes);
  } else if (m.outerStride() == m.rows() || m.cols() <= 1) {
    WriteFile(path, DtypeOf<Scalar>(), true, shape, m.data(), bytes);
  } else {  // a view with gaps between columns (e.g. a block of rows): pack it
    const MatrixX<Scalar> packed = m;
    WriteFile(path, DtypeOf<Scalar>(), true, shape, packed.data(), bytes);
  }
}

template <typename Scalar>
void WriteNpy(const std::string& path, const NpyArray<Scalar>& array, bool fortran_order) {
  for (const Index d : array.shape) {
    if (d < 0) Fail(path, "cannot write: negative extent in shape " + ShapeTuple(array.shape));
  }
  const std::optional<ArraySize> size = SizeOf(array.shape, sizeof(Scalar));
  if (!size || size->count != array.data.size()) {
    Fail(path, "cannot write: shape " + ShapeTuple(array.shape) + " does not match the " +
                   std::to_string(array.data.size()) + " values of the data");
  }
  if (fortran_order || array.shape.size() <= 1) {
    WriteFile(path, DtypeOf<Scalar>(), fortran_order, array.shape, array.data.data(),
              size->bytes);
  } else {
    std::vector<Scalar> c_order(array.data.size());
    FortranToC(array.data.data(), array.shape, size->count, c_order.data());
    WriteFile(path, DtypeOf<Scalar>(), false, array.shape, c_order.data(), size->bytes);
  }
}

template NpyArray<float> ReadNpy<float>(const std::string&);
template NpyArray<double> ReadNpy<double>(const std::string&);
template MatrixX<float> ReadNpyMatrix<float>(const std::string&);
template MatrixX<double> ReadNpyMatrix<double>(const std::string&);
template void WriteNpy<float>(const std::string&, ConstMatRef<float>, bool);
template void WriteNpy<double>(const std::string&, ConstMatRef<double>, bool);
template void WriteNpy<float>(const std::string&, const NpyArray<float>&, bool);
template void WriteNpy<double>(const std::string&, const NpyArray<double>&, bool);

}  // namespace implicit
