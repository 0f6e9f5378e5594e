// Tests for core/npy: round trips (float/double, C/Fortran order, 0-d to 3-D),
// cross-type reads, tolerant header parsing, hand-crafted files (so the reader
// is checked independently of the writer), every error path (each message must
// name the file), atomic writes, and, when ../shared is present, the real
// benchmark files (also byte-for-byte against the writer, since those files
// were written by NumPy).
#include "core/npy.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using implicit::Error;
using implicit::Index;
using implicit::MatrixX;
using implicit::NpyArray;
using implicit::test::Contains;
using implicit::test::ErrorMessage;
using implicit::test::TempDir;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// A .npy file built by hand, independently of the writer under test: the
// given header dict (padded to 64 bytes unless pad = false) and data bytes.
std::string NpyBytes(const std::string& dict, const std::string& data, int major = 1,
                     bool pad = true) {
  const std::size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  if (pad) {
    while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
  }
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < preamble - 8; ++i) {
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

// Header length (preamble + dict + padding) of a file written by numpy's rules.
std::size_t HeaderSize(const std::string& bytes) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (byte(6) == 1) return 10 + (byte(8) | (byte(9) << 8));
  return 12 + (byte(8) | (byte(9) << 8) | (byte(10) << 16) | (std::size_t{byte(11)} << 24));
}

// Checks that `expr` throws implicit::Error whose message names `path` and
// contains `problem`.
#define CHECK_NPY_ERROR(expr, path, problem)                        \
  do {                                                              \
    const std::string message_ = ErrorMessage([&] { (void)(expr); }); \
    CHECK_MESSAGE(Contains(message_, path), message_);              \
    CHECK_MESSAGE(Contains(message_, problem), message_);           \
  } while (0)

template <typename Scalar>
MatrixX<Scalar> RandomMatrix(Index rows, Index cols, unsigned seed) {
  implicit::Rng rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  MatrixX<Scalar> m(rows, cols);
  for (Index j = 0; j < cols; ++j) {
    for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(normal(rng) * 1e3);
  }
  return m;
}

// The shared data folder: $IMPLICIT_SHARED_DIR if set, else the compile-time path.
std::string SharedDir() {
  if (const char* env = std::getenv("IMPLICIT_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return IMPLICIT_SHARED_DIR;
}

}  // namespace

TEST_CASE_TEMPLATE("npy: matrix round trip in Fortran and C order", Scalar, float, double) {
  TempDir tmp;
  const std::string path = tmp.File("m.npy");
  const MatrixX<Scalar> m = RandomMatrix<Scalar>(5, 7, 1);
  const std::string descr = sizeof(Scalar) == 4 ? "'descr': '<f4'" : "'descr': '<f8'";

  for (const bool fortran : {true, false}) {
    CAPTURE(fortran);
    implicit::WriteNpy<Scalar>(path, m, fortran);
    const MatrixX<Scalar> back = implicit::ReadNpyMatrix<Scalar>(path);
    REQUIRE(back.rows() == 5);
    REQUIRE(back.cols() == 7);
    CHECK(back == m);

    const NpyArray<Scalar> array = implicit::ReadNpy<Scalar>(path);
    CHECK(array.shape == std::vector<Index>{5, 7});

    // Header: version 1.0, numpy's dict layout, data aligned to 64 bytes.
    const std::string bytes = ReadBytes(path);
    const std::size_t header_size = HeaderSize(bytes);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    CHECK(header_size % 64 == 0);
    CHECK(bytes[header_size - 1] == '\n');
    CHECK(Contains(bytes.substr(0, header_size),
                   "{" + descr + ", 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': (5, 7), }"));

    // Data: the column-major buffer, or the row-major one for C order.
    using RowMajor = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const RowMajor row_major = m;
    const Scalar* expected = fortran ? m.data() : row_major.data();
    REQUIRE(bytes.size() == header_size + 35 * sizeof(Scalar));
    CHECK(std::memcmp(bytes.data() + header_size, expected, 35 * sizeof(Scalar)) == 0);
  }
  CHECK(tmp.Entries() == std::vector<std::string>{"m.npy"});  // no temp file left
}

TEST_CASE_TEMPLATE("npy: views, vectors and empty matrices", Scalar, float, double) {
  TempDir tmp;
  const std::string path = tmp.File("v.npy");
  const MatrixX<Scalar> big = RandomMatrix<Scalar>(6, 8, 2);

  // A block is a view with an outer stride larger than its row count.
  for (const bool fortran : {true, false}) {
    implicit::WriteNpy<Scalar>(path, big.block(1, 2, 3, 4), fortran);
    CHECK(implicit::ReadNpyMatrix<Scalar>(path) == big.block(1, 2, 3, 4));
  }
  // An expression binds to a temporary.
  implicit::WriteNpy<Scalar>(path, big.transpose() * Scalar(2));
  CHECK(implicit::ReadNpyMatrix<Scalar>(path) == big.transpose() * Scalar(2));

  // An n x 1 matrix is written as a 2-D (n, 1) array.
  implicit::WriteNpy<Scalar>(path, big.col(3));
  CHECK(implicit::ReadNpy<Scalar>(path).shape == std::vector<Index>{6, 1});
  CHECK(implicit::ReadNpyMatrix<Scalar>(path) == big.col(3));

  // Empty matrices keep their shape.
  for (const bool fortran : {true, false}) {
    implicit::WriteNpy<Scalar>(path, MatrixX<Scalar>(0, 5), fortran);
    const MatrixX<Scalar> empty = implicit::ReadNpyMatrix<Scalar>(path);
    CHECK(empty.rows() == 0);
    CHECK(empty.cols() == 5);
  }
}

TEST_CASE_TEMPLATE("npy: 0-d, 1-D and N-d arrays", Scalar, float, double) {
  TempDir tmp;
  const std::string path = tmp.File("a.npy");

  SUBCASE("1-D") {
    const NpyArray<Scalar> vec{{6}, {1, -2, 3.5, 4, 5, 6}};
    for (const bool fortran : {true, false}) {
      implicit::WriteNpy(path, vec, fortran);
      CHECK(Contains(ReadBytes(path), "'shape': (6,), }"));
      const NpyArray<Scalar> back = implicit::ReadNpy<Scalar>(path);
      CHECK(back.shape == vec.shape);
      CHECK(back.data == vec.data);
      const MatrixX<Scalar> column = implicit::ReadNpyMatrix<Scalar>(path);
      REQUIRE(column.rows() == 6);
      REQUIRE(column.cols() == 1);
      CHECK(column(2, 0) == Scalar(3.5));
    }
  }

  SUBCASE("0-d") {
    const NpyArray<Scalar> scalar{{}, {Scalar(3.5)}};
    implicit::WriteNpy(path, scalar);
    CHECK(Contains(ReadBytes(path), "'shape': (), }"));
    const NpyArray<Scalar> back = implicit::ReadNpy<Scalar>(path);
    CHECK(back.shape.empty());
    CHECK(back.data == scalar.data);
    CHECK_NPY_ERROR(implicit::ReadNpyMatrix<Scalar>(path), path,
                    "expected a 1-D or 2-D array, got shape ()");
  }

  SUBCASE("3-D") {
    // data[i + 2j + 6k] = element (i, j, k) of a 2 x 3 x 4 array.
    NpyArray<Scalar> cube{{2, 3, 4}, {}};
    for (int n = 0; n < 24; ++n) cube.data.push_back(Scalar(n));
    for (const bool fortran : {true, false}) {
      CAPTURE(fortran);
      implicit::WriteNpy(path, cube, fortran);
      const std::string bytes = ReadBytes(path);
      CHECK(Contains(bytes, "'shape': (2, 3, 4), }"));
      // On disk, C order puts element (i, j, k) at i*12 + j*4 + k.
      std::vector<Scalar> on_disk(24);
      std::memcpy(on_disk.data(), bytes.data() + HeaderSize(bytes), 24 * sizeof(Scalar));
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) {
          for (int k = 0; k < 4; ++k) {
            const int file_index = fortran ? i + 2 * j + 6 * k : i * 12 + j * 4 + k;
            CHECK(on_disk[file_index] == Scalar(i + 2 * j + 6 * k));
          }
        }
      }
      const NpyArray<Scalar> back = implicit::ReadNpy<Scalar>(path);
      CHECK(back.shape == cube.shape);
      CHECK(back.data == cube.data);
      CHECK_NPY_ERROR(implicit::ReadNpyMatrix<Scalar>(path), path,
                      "expected a 1-D or 2-D array, got shape (2, 3, 4)");
    }
  }

  SUBCASE("4-D with an empty axis") {
    const NpyArray<Scalar> empty{{2, 0, 3, 5}, {}};
    for (const bool fortran : {true, false}) {
      implicit::WriteNpy(path, empty, fortran);
      const NpyArray<Scalar> back = implicit::ReadNpy<Scalar>(path);
      CHECK(back.shape == empty.shape);
      CHECK(back.data.empty());
    }
  }
}

TEST_CASE("npy: hand-crafted C-order 3-D file is converted to Fortran order") {
  TempDir tmp;
  const std::string path = tmp.File("c3.npy");
  std::vector<double> c_order(24);
  for (int n = 0; n < 24; ++n) c_order[n] = n;  // element (i, j, k) = i*12 + j*4 + k
  WriteBytes(path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }",
                            RawBytes(c_order)));
  const NpyArray<float> a = implicit::ReadNpy<float>(path);
  REQUIRE(a.shape == std::vector<Index>{2, 3, 4});
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) CHECK(a.data[i + 2 * j + 6 * k] == float(i * 12 + j * 4 + k));
    }
  }
}

TEST_CASE("npy: float32 files read as double and float64 files read as float") {
  TempDir tmp;
  const std::string path = tmp.File("x.npy");
  for (const bool fortran : {true, false}) {
    const MatrixX<float> f = RandomMatrix<float>(4, 3, 3);
    implicit::WriteNpy<float>(path, f, fortran);
    CHECK(implicit::ReadNpyMatrix<double>(path) == f.cast<double>());

    MatrixX<double> d = RandomMatrix<double>(4, 3, 4);
    d(0, 0) = 0.1;  // not representable in float: rounded as static_cast does
    implicit::WriteNpy<double>(path, d, fortran);
    CHECK(implicit::ReadNpyMatrix<float>(path) == d.cast<float>());
  }
}

TEST_CASE("npy: header parsing tolerates key order, whitespace, quotes and versions") {
  TempDir tmp;
  const std::string path = tmp.File("h.npy");
  const std::vector<double> values{0, 1, 2, 3, 4, 5};
  // Element (i, j) of the 2 x 3 array, stored in C order: 3i + j.
  const std::vector<double> c_matrix_col_major{0, 3, 1, 4, 2, 5};

  struct Variant {
    std::string dict;
    int major;
    bool pad;
    bool fortran;
  };
  const std::vector<Variant> variants{
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, true, false},
      {"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}", 1, true, false},
      {"{ \"descr\" : \"<f8\" ,\n\t'fortran_order':True,'shape':( 2 ,3 , ) }", 1, true, true},
      {"{'descr': '=f8', 'fortran_order': True, 'shape': (2L, 3L), }", 1, true, true},
      {"{'descr':'<f8','fortran_order':False,'shape':(2,3)}", 1, false, false},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 2, true, false},
      {"{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", 3, true, true},
  };
  for (const Variant& v : variants) {
    CAPTURE(v.dict);
    CAPTURE(v.major);
    WriteBytes(path, NpyBytes(v.dict, RawBytes(values), v.major, v.pad));
    const NpyArray<double> a = implicit::ReadNpy<double>(path);
    CHECK(a.shape == std::vector<Index>{2, 3});
    CHECK(a.data == (v.fortran ? values : c_matrix_col_major));
  }

  // '|f4' (byte order "not applicable") is read as little-endian float32.
  const std::vector<float> floats{1.5f, -2.5f};
  WriteBytes(path, NpyBytes("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }",
                            RawBytes(floats)));
  CHECK(implicit::ReadNpy<double>(path).data == std::vector<double>{1.5, -2.5});
}

TEST_CASE("npy: a header longer than 65535 bytes is written as version 2.0") {
  TempDir tmp;
  const std::string path = tmp.File("v2.npy");
  const NpyArray<double> many_axes{std::vector<Index>(25000, 1), {42.0}};
  implicit::WriteNpy(path, many_axes, false);
  const std::string bytes = ReadBytes(path);
  CHECK(bytes[6] == 2);
  CHECK(bytes[7] == 0);
  CHECK(HeaderSize(bytes) % 64 == 0);
  CHECK(HeaderSize(bytes) > 65535);
  const NpyArray<double> back = implicit::ReadNpy<double>(path);
  CHECK(back.shape == many_axes.shape);
  CHECK(back.data == many_axes.data);
}

TEST_CASE("npy: NaN and Inf are read and written without error") {
  TempDir tmp;
  const std::string path = tmp.File("nan.npy");
  MatrixX<double> m = MatrixX<double>::Zero(2, 2);
  m(0, 1) = std::numeric_limits<double>::quiet_NaN();
  m(1, 0) = std::numeric_limits<double>::infinity();
  m(1, 1) = -std::numeric_limits<double>::infinity();
  implicit::WriteNpy<double>(path, m);
  const MatrixX<float> back = implicit::ReadNpyMatrix<float>(path);
  CHECK(std::isnan(back(0, 1)));
  CHECK(back(1, 0) == std::numeric_limits<float>::infinity());
  CHECK(back(1, 1) == -std::numeric_limits<float>::infinity());
  CHECK(back(0, 0) == 0.0f);
}

TEST_CASE("npy: writing is atomic and leaves no temporary file") {
  TempDir tmp;
  const std::string path = tmp.File("w.npy");
  implicit::WriteNpy<double>(path, MatrixX<double>::Ones(3, 3));
  implicit::WriteNpy<double>(path, MatrixX<double>::Constant(2, 2, 7.0));  // replaces it
  CHECK(implicit::ReadNpyMatrix<double>(path) == MatrixX<double>::Constant(2, 2, 7.0));
  CHECK(tmp.Entries() == std::vector<std::string>{"w.npy"});

  // Failures name the path and clean up.
  const std::string no_dir = tmp.File("missing_dir/w.npy");
  CHECK_NPY_ERROR(implicit::WriteNpy<double>(no_dir, MatrixX<double>::Ones(2, 2)), no_dir,
                  "cannot create temporary file");
  const std::string is_dir = tmp.File("a_directory");
  fs::create_directory(is_dir);
  CHECK_NPY_ERROR(implicit::WriteNpy<double>(is_dir, MatrixX<double>::Ones(2, 2)), is_dir,
                  "cannot rename");
  CHECK(tmp.Entries().size() == 2);  // w.npy and a_directory only

  // Data that does not match the shape is refused.
  const NpyArray<float> bad{{2, 3}, {1, 2, 3}};
  CHECK_NPY_ERROR(implicit::WriteNpy(path, bad), path, "does not match the 3 values");
  const NpyArray<float> negative{{-1, 3}, {}};
  CHECK_NPY_ERROR(implicit::WriteNpy(path, negative), path, "negative extent");
}

TEST_CASE("npy: every failure throws an Error naming the file") {
  TempDir tmp;
  const std::string path = tmp.File("bad.npy");
  const std::string data6 = RawBytes(std::vector<double>(6, 1.0));
  auto write_dict = [&](const std::string& dict, const std::string& data) {
    WriteBytes(path, NpyBytes(dict, data));
  };
  auto read = [&] { return implicit::ReadNpy<double>(path); };

  SUBCASE("missing file and directory") {
    const std::string missing = tmp.File("does_not_exist.npy");
    CHECK_NPY_ERROR(implicit::ReadNpy<float>(missing), missing,
                    "cannot open: No such file or directory");
    CHECK_NPY_ERROR(implicit::ReadNpyMatrix<double>(missing), missing, "cannot open");
    const std::string dir = tmp.File("dir.npy");
    fs::create_directory(dir);
    CHECK_NPY_ERROR(implicit::ReadNpy<float>(dir), dir, "is a directory");
  }

  SUBCASE("bad magic") {
    WriteBytes(path, "just some text, certainly not an array\n");
    CHECK_NPY_ERROR(read(), path, "not a .npy file (bad magic string)");
    WriteBytes(path, "");
    CHECK_NPY_ERROR(read(), path, "not a .npy file (too short: 0 bytes)");
  }

  SUBCASE("truncated or padded data") {
    implicit::WriteNpy<float>(path, MatrixX<float>::Ones(50, 100), false);
    const std::string good = ReadBytes(path);
    WriteBytes(path, good.substr(0, good.size() - 7));
    CHECK_NPY_ERROR(read(), path,
                    "truncated: header says 50x100 float32 (20000 bytes of data) but only "
                    "19993 bytes follow");
    WriteBytes(path, good.substr(0, 40));  // cut inside the header
    CHECK_NPY_ERROR(read(), path, "truncated: the header says it is 118 bytes long");
    WriteBytes(path, good.substr(0, 9));  // cut inside the preamble
    CHECK_NPY_ERROR(read(), path, "truncated: the file ends inside the preamble");
    WriteBytes(path, good + std::string(8, '\0'));
    CHECK_NPY_ERROR(read(), path, "corrupt: 8 unexpected bytes after the data");
  }

  SUBCASE("gigantic shapes are refused before allocating") {
    write_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }", data6);
    CHECK_NPY_ERROR(read(), path,
                    "truncated: header says 100000x100000 float64 (80000000000 bytes of data) "
                    "but only 48 bytes follow");
    write_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3000000000, 3000000000), }",
               data6);
    CHECK_NPY_ERROR(read(), path, "is larger than any file");
    write_dict("{'descr': '<f8', 'fortran_order': True, 'shape': (1000000, 1000000, 1000000, "
               "1000000), }", data6);
    CHECK_NPY_ERROR(read(), path, "is larger than any file");
    // A header length claimed far beyond the end of the file.
    std::string huge_header = NpyBytes("{}", "", 2, false);
    huge_header[8] = huge_header[9] = huge_header[10] = huge_header[11] = '\xff';
    WriteBytes(path, huge_header);
    CHECK_NPY_ERROR(read(), path, "truncated: the header says it is 4294967295 bytes long");
  }

  SUBCASE("unsupported dtypes") {
    write_dict("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", data6);
    CHECK_NPY_ERROR(read(), path,
                    "unsupported dtype '<i8' (supported: float32 '<f4', float64 '<f8')");
    write_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (24,), }", data6);
    CHECK_NPY_ERROR(read(), path, "unsupported dtype '<f2'");
    write_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }", data6);
    CHECK_NPY_ERROR(read(), path, "unsupported dtype '<c8'");
    write_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (6,), }", data6);
    CHECK_NPY_ERROR(read(), path, "structured arrays are not supported");
  }

  SUBCASE("big-endian") {
    write_dict("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", data6);
    CHECK_NPY_ERROR(read(), path, "big-endian dtype '>f8' not supported");
    write_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (12,), }", data6);
    CHECK_NPY_ERROR(read(), path, "big-endian dtype '>f4' not supported");
  }

  SUBCASE("unsupported format version") {
    std::string bytes = NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }",
                                 data6);
    bytes[6] = 4;
    WriteBytes(path, bytes);
    CHECK_NPY_ERROR(read(), path, "unsupported .npy format version 4.0");
    bytes[6] = 1;
    bytes[7] = 1;
    WriteBytes(path, bytes);
    CHECK_NPY_ERROR(read(), path, "unsupported .npy format version 1.1");
  }

  SUBCASE("malformed headers") {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "the header must start with '{'"},
        {"['descr', '<f8']", "the header must start with '{'"},
        {"{'descr': '<f8', 'fortran_order': False}", "missing key 'shape'"},
        {"{'fortran_order': False, 'shape': (6,)}", "missing key 'descr'"},
        {"{'descr': '<f8', 'shape': (6,)}", "missing key 'fortran_order'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'extra': 1}",
         "unexpected key 'extra'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (6,)}",
         "duplicate key 'descr'"},
        {"{'descr': '<f8', 'fortran_order': 'no', 'shape': (6,)}",
         "'fortran_order' must be True or False"},
        {"{'descr': '<f8', 'fortran_order': Truest, 'shape': (6,)}",
         "'fortran_order' must be True or False"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [6]}", "'shape' must be a tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", "'shape' must be a tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, , 3)}",
         "expected a shape entry"},
        {"{'descr': '<f8' 'fortran_order': False, 'shape': (6,)}", "expected ',' or '}'"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (6,)}", "expected ':'"},
        {"{descr: '<f8', 'fortran_order': False, 'shape': (6,)}", "expected a quoted key"},
        {"{'descr: '<f8', 'fortran_order': False, 'shape': (6,)}", "expected ':'"},
        {"{'descr': '<f8", "unterminated string"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} junk",
         "unexpected text after the closing '}'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,)", "expected ',' or '}'"},
        {std::string("{'descr': '<f8', 'fortran_order': False, 'shape': (6,)}\0\x01", 57),
         "unexpected text after the closing '}'"},
    };
    for (const auto& [dict, problem] : cases) {
      CAPTURE(dict);
      write_dict(dict, data6);
      CHECK_NPY_ERROR(read(), path, "malformed header (" + problem);
    }
  }

  SUBCASE("bad shape entries") {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"(-3, 2)", "entry '-3' is negative"},
        {"(2.5, 2)", "entry '2.5' is not an integer"},
        {"(2, 3e0)", "entry '3e0' is not an integer"},
        {"(abc,)", "entry 'abc' is not an integer"},
        {"('6',)", "entry ''6'' is not an integer"},
        {"(99999999999999999999999,)", "entry '99999999999999999999999' is too large"},
    };
    for (const auto& [shape, problem] : cases) {
      CAPTURE(shape);
      write_dict("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }", data6);
      CHECK_NPY_ERROR(read(), path, "bad shape in header: " + problem);
    }
  }
}

TEST_CASE("npy: shared benchmark data (data/alista)") {
  const fs::path alista = fs::path(SharedDir()) / "data" / "alista";
  const std::string a_path = (alista / "A_m250_n500.npy").string();
  const std::string x_path = (alista / "xtest_n500_p10.npy").string();
  if (!fs::exists(a_path) || !fs::exists(x_path)) {
    MESSAGE("shared data not found under " << alista.string()
                                           << "; skipping the data/alista checks");
    return;
  }
  TempDir tmp;

  // A: 250 x 500 float64, C order, unit-norm columns.
  const MatrixX<double> a = implicit::ReadNpyMatrix<double>(a_path);
  REQUIRE(a.rows() == 250);
  REQUIRE(a.cols() == 500);
  CHECK((a.colwise().norm().array() - 1.0).abs().maxCoeff() < 1e-6);
  CHECK(implicit::ReadNpyMatrix<float>(a_path) == a.cast<float>());

  // X: 500 x 1000 float32, C order, one test signal per column, ~10% non-zeros.
  const MatrixX<float> x = implicit::ReadNpyMatrix<float>(x_path);
  REQUIRE(x.rows() == 500);
  REQUIRE(x.cols() == 1000);
  const double nonzero_fraction = (x.array() != 0.0f).count() / double(x.size());
  CHECK(nonzero_fraction > 0.09);
  CHECK(nonzero_fraction < 0.11);
  // Orientation: the file's C order stores row 0 first, so its second value is X(0, 1).
  const std::string x_bytes = ReadBytes(x_path);
  float second = 0;
  std::memcpy(&second, x_bytes.data() + HeaderSize(x_bytes) + sizeof(float), sizeof(float));
  CHECK(second == x(0, 1));

  // Both files were written by NumPy: the writer reproduces them byte for byte.
  const std::string a_copy = tmp.File("A.npy");
  implicit::WriteNpy<double>(a_copy, a, false);
  CHECK(ReadBytes(a_copy) == ReadBytes(a_path));
  const std::string x_copy = tmp.File("X.npy");
  implicit::WriteNpy<float>(x_copy, x, false);
  CHECK(ReadBytes(x_copy) == x_bytes);
}
