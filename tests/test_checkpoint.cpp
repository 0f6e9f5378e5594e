// Tests for core/checkpoint and core/interrupt: bit-exact round trips (float
// and double), the random-engine state, a hand-built file following the
// documented layout (so the reader is checked independently of the writer),
// every error path (each message must name the file), hostile lengths that
// must fail without allocating, atomic saves, layout/config checks, and the
// SIGINT/SIGTERM flag (including that a second Ctrl-C really kills).
#include "core/checkpoint.hpp"
#include "core/interrupt.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace implicit;
using implicit::test::TempDir;
using implicit::test::Contains;

using Config = std::vector<std::pair<std::string, std::string>>;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The Error message of `f`, or "" (and a failed check) if it did not throw
// an implicit::Error. Any other exception (std::bad_alloc from a hostile
// length, ...) propagates and fails the test case.
template <typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected an implicit::Error");
  return "";
}

template <typename T>
bool SameBits(const T& a, const T& b) {
  static_assert(std::is_arithmetic_v<T>);
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename Derived1, typename Derived2>
bool BitEqual(const Eigen::MatrixBase<Derived1>& a, const Eigen::MatrixBase<Derived2>& b) {
  if (a.size() != b.size()) return false;
  for (Index i = 0; i < a.size(); ++i) {
    if (!SameBits(a(i), b(i))) return false;
  }
  return true;
}

// --- Independent little-endian encoder for hand-built files ----------------

struct Bytes {
  std::string s;
  Bytes& U8(std::uint8_t v) {
    s.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& U32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  Bytes& U64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  Bytes& F32(float v) {
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    return U32(u);
  }
  Bytes& F64(double v) {
    std::uint64_t u;
    std::memcpy(&u, &v, 8);
    return U64(u);
  }
  Bytes& Str(const std::string& v) {
    U64(v.size());
    s += v;
    return *this;
  }
  Bytes& Section(const std::string& tag, const Bytes& body) {
    s += tag;
    U64(body.s.size());
    s += body.s;
    return *this;
  }
};

// Reference FNV-1a 64 (written out again so the test does not trust the
// implementation under test).
std::uint64_t ReferenceFnv(const std::string& data) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string MakeFile(const std::string& payload, std::uint32_t version = 1) {
  Bytes b;
  b.s = "IMPLCKPT";
  b.U32(version).U64(payload.size()).U64(ReferenceFnv(payload));
  return b.s + payload;
}

// A minimal float64 payload: given KIND/CONF/... bodies (defaults = empty).
std::string MinimalPayload(const std::string& kind_body_override = "",
                           const std::string& conf_body_override = "") {
  Bytes kind, conf, scal, layo, parm, optm, ints, real, strs, vecs;
  kind.Str("m");
  conf.U64(0);
  scal.Str("float64");
  layo.U64(0);
  parm.U64(0);
  optm.U8(0);
  ints.U64(0);
  real.U64(0);
  strs.U64(0);
  vecs.U64(0);
  if (!kind_body_override.empty()) kind.s = kind_body_override;
  if (!conf_body_override.empty()) conf.s = conf_body_override;
  Bytes p;
  p.Section("KIND", kind).Section("CONF", conf).Section("SCAL", scal).Section("LAYO", layo);
  p.Section("PARM", parm).Section("OPTM", optm).Section("INTS", ints).Section("REAL", real);
  p.Section("STRS", strs).Section("VECS", vecs);
  return p.s;
}

// --- A fully populated checkpoint -------------------------------------------

// with_rng: include a real engine state (~6.5 kB of text); the byte-by-byte
// corruption tests leave it out to stay fast while covering every field.
template <typename Scalar>
Checkpoint<Scalar> MakeFull(bool with_rng = true) {
  ParameterSet<Scalar> p;
  p.AddBlock("layer0.W1", 3, 4);
  p.AddBlock("layer0.theta", 1, 1);
  p.AddBlock("empty", 0, 5);
  p.AddBlock("layer1.W2", 4, 2);
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal;
  for (Index i = 0; i < p.size(); ++i) p.Flat()(i) = static_cast<Scalar>(normal(gen));
  // Special values must survive bit-exactly.
  p.Flat()(0) = -Scalar(0);
  p.Flat()(1) = std::numeric_limits<Scalar>::infinity();
  p.Flat()(2) = std::numeric_limits<Scalar>::quiet_NaN();
  p.Flat()(3) = std::numeric_limits<Scalar>::denorm_min();

  Checkpoint<Scalar> c;
  c.model_kind = "lista_cpss";
  c.config = {{"layers", "16"}, {"lr", "0.0005"}, {"empty", ""}, {"with\nnewline", "a,b"}};
  CaptureParameters(p, c);
  c.has_trainer_state = true;
  c.optimizer = "adam";
  c.optimizer_state.step = 123456789012345LL;
  c.optimizer_state.buffers = {VectorX<Scalar>::Random(p.size()), VectorX<Scalar>::Random(p.size()),
                               VectorX<Scalar>()};
  c.integers = {{"stage", 2}, {"layer", -1}, {"big", std::numeric_limits<std::int64_t>::min()}};
  c.reals = {{"best_validation_nmse", -21.375},
             {"nan", std::numeric_limits<double>::quiet_NaN()},
             {"neg_zero", -0.0},
             {"tiny", 4.9e-324}};
  Rng rng(42);
  rng.discard(1000);
  c.strings = {{"rng", with_rng ? SerializeRng(rng) : std::string("12 34")}, {"binary", std::string("a\0b\xff\x01", 5)}, {"e", ""}};
  c.vectors = {{"loss", Eigen::VectorXd::LinSpaced(50, 1.0, 0.01)},
               {"none", Eigen::VectorXd()},
               {"nan", Eigen::VectorXd::Constant(2, std::numeric_limits<double>::quiet_NaN())}};
  return c;
}

template <typename Scalar>
void CheckSame(const Checkpoint<Scalar>& a, const Checkpoint<Scalar>& b) {
  CHECK(a.model_kind == b.model_kind);
  CHECK(a.config == b.config);
  REQUIRE(a.blocks.size() == b.blocks.size());
  for (std::size_t i = 0; i < a.blocks.size(); ++i) {
    CHECK(a.blocks[i].name == b.blocks[i].name);
    CHECK(a.blocks[i].rows == b.blocks[i].rows);
    CHECK(a.blocks[i].cols == b.blocks[i].cols);
    CHECK(a.blocks[i].offset == b.blocks[i].offset);
  }
  CHECK(BitEqual(a.parameters, b.parameters));
  CHECK(a.has_trainer_state == b.has_trainer_state);
  CHECK(a.optimizer == b.optimizer);
  CHECK(a.optimizer_state.step == b.optimizer_state.step);
  REQUIRE(a.optimizer_state.buffers.size() == b.optimizer_state.buffers.size());
  for (std::size_t i = 0; i < a.optimizer_state.buffers.size(); ++i) {
    CHECK(BitEqual(a.optimizer_state.buffers[i], b.optimizer_state.buffers[i]));
  }
  CHECK(a.integers == b.integers);
  REQUIRE(a.reals.size() == b.reals.size());
  for (std::size_t i = 0; i < a.reals.size(); ++i) {
    CHECK(a.reals[i].first == b.reals[i].first);
    CHECK(SameBits(a.reals[i].second, b.reals[i].second));
  }
  CHECK(a.strings == b.strings);
  REQUIRE(a.vectors.size() == b.vectors.size());
  for (std::size_t i = 0; i < a.vectors.size(); ++i) {
    CHECK(a.vectors[i].first == b.vectors[i].first);
    CHECK(BitEqual(a.vectors[i].second, b.vectors[i].second));
  }
}

// A saved full checkpoint: its path and bytes.
struct SavedFile {
  std::string path;
  std::string bytes;
};
SavedFile SaveFull(const TempDir& dir, const std::string& name = "full.ckpt") {
  SavedFile f{dir.File(name), {}};
  SaveCheckpoint(f.path, MakeFull<double>(/*with_rng=*/false));
  f.bytes = ReadBytes(f.path);
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("Fnv1a64 matches the published FNV-1a 64 test vectors") {
  CHECK(Fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(Fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(Fnv1a64("foobar") == 0x85944171f73967e8ULL);
  const std::string bytes("\x00\xff\x10", 3);
  CHECK(Fnv1a64(bytes) == ReferenceFnv(bytes));
}

TEST_CASE_TEMPLATE("a checkpoint round-trips bit-exactly", Scalar, float, double) {
  TempDir dir;
  const Checkpoint<Scalar> saved = MakeFull<Scalar>();
  const std::string path = dir.File("model.ckpt");
  SaveCheckpoint(path, saved);
  const Checkpoint<Scalar> loaded = LoadCheckpoint<Scalar>(path);
  CheckSame(saved, loaded);
  CHECK(loaded.source == path);
  // Saving the loaded checkpoint gives the identical file.
  SaveCheckpoint(dir.File("again.ckpt"), loaded);
  CHECK(ReadBytes(dir.File("again.ckpt")) == ReadBytes(path));

  SUBCASE("lookups") {
    CHECK(loaded.Integer("stage") == 2);
    CHECK(loaded.Integer("big") == std::numeric_limits<std::int64_t>::min());
    CHECK(loaded.Real("best_validation_nmse") == -21.375);
    CHECK(loaded.String("binary") == std::string("a\0b\xff\x01", 5));
    CHECK(loaded.Vector("loss").size() == 50);
    for (const std::string& message :
         {ErrorOf([&] { loaded.Integer("epoch"); }), ErrorOf([&] { loaded.Real("epoch"); }),
          ErrorOf([&] { loaded.String("epoch"); }), ErrorOf([&] { loaded.Vector("epoch"); })}) {
      CHECK(Contains(message, path));
      CHECK(Contains(message, "'epoch'"));
    }
    CHECK(Contains(ErrorOf([&] { loaded.Integer("epoch"); }), "'stage'"));  // lists what exists
  }
}

TEST_CASE("a checkpoint without trainer state or named values round-trips") {
  TempDir dir;
  Checkpoint<float> c;
  c.model_kind = "";
  const std::string path = dir.File("empty.ckpt");
  SaveCheckpoint(path, c);
  const Checkpoint<float> loaded = LoadCheckpoint<float>(path);
  CheckSame(c, loaded);
  CHECK_FALSE(loaded.has_trainer_state);
  CHECK(loaded.parameters.size() == 0);
}

TEST_CASE("a hand-built file following the documented layout loads") {
  TempDir dir;
  Bytes kind, conf, scal, layo, parm, optm, ints, real, strs, vecs;
  kind.Str("lista");
  conf.U64(2).Str("layers").Str("2").Str("seed").Str("1");
  scal.Str("float32");
  layo.U64(2).Str("W").U64(2).U64(1).Str("theta").U64(1).U64(1);
  parm.U64(3).F32(1.5f).F32(-2.0f).F32(0.25f);
  optm.U8(1).Str("sgd").U64(7).U64(1).U64(3).F32(0.1f).F32(0.2f).F32(0.3f);
  ints.U64(1).Str("stage").U64(static_cast<std::uint64_t>(-3LL));
  real.U64(1).Str("best").F64(0.5);
  strs.U64(1).Str("rng").Str("xyz");
  vecs.U64(1).Str("loss").U64(2).F64(3.0).F64(4.0);
  Bytes p;
  p.Section("KIND", kind).Section("CONF", conf).Section("SCAL", scal).Section("LAYO", layo);
  p.Section("PARM", parm).Section("OPTM", optm).Section("INTS", ints).Section("REAL", real);
  p.Section("STRS", strs).Section("VECS", vecs);
  const std::string path = dir.File("hand.ckpt");
  WriteBytes(path, MakeFile(p.s));

  const Checkpoint<float> c = LoadCheckpoint<float>(path);
  CHECK(c.model_kind == "lista");
  CHECK(c.config == Config{{"layers", "2"}, {"seed", "1"}});
  REQUIRE(c.blocks.size() == 2);
  CHECK(c.blocks[1].name == "theta");
  CHECK(c.blocks[1].offset == 2);
  CHECK(c.parameters(1) == -2.0f);
  CHECK(c.has_trainer_state);
  CHECK(c.optimizer == "sgd");
  CHECK(c.optimizer_state.step == 7);
  REQUIRE(c.optimizer_state.buffers.size() == 1);
  CHECK(c.optimizer_state.buffers[0](2) == 0.3f);
  CHECK(c.Integer("stage") == -3);
  CHECK(c.Real("best") == 0.5);
  CHECK(c.String("rng") == "xyz");
  CHECK(c.Vector("loss")(1) == 4.0);

  // And the writer produces exactly these bytes.
  SaveCheckpoint(dir.File("written.ckpt"), c);
  CHECK(ReadBytes(dir.File("written.ckpt")) == ReadBytes(path));
}

TEST_CASE("the random engine state round-trips and continues the same stream") {
  Rng rng(12345);
  rng.discard(777);
  const std::string state = SerializeRng(rng);
  std::vector<std::uint64_t> expected(1000);
  for (auto& v : expected) v = rng();

  Rng resumed(1);
  DeserializeRng(state, resumed);
  std::vector<std::uint64_t> got(1000);
  for (auto& v : got) v = resumed();
  CHECK(got == expected);

  SUBCASE("through a checkpoint file") {
    TempDir dir;
    Checkpoint<double> c;
    c.strings = {{"rng", state}};
    SaveCheckpoint(dir.File("rng.ckpt"), c);
    Rng from_file;
    DeserializeRng(LoadCheckpoint<double>(dir.File("rng.ckpt")).String("rng"), from_file);
    std::vector<std::uint64_t> again(1000);
    for (auto& v : again) v = from_file();
    CHECK(again == expected);
  }

  SUBCASE("malformed text is an error and leaves the engine unchanged") {
    Rng target(99);
    const Rng before = target;
    for (const std::string& bad :
         {std::string(""), std::string("garbage"), state.substr(0, state.size() / 2),
          state + " 17", state + " x", std::string("1 2 3")}) {
      CAPTURE(bad.size());
      CHECK(Contains(ErrorOf([&] { DeserializeRng(bad, target); }), "malformed random engine"));
      CHECK(target == before);
    }
    DeserializeRng(state + " \n", target);  // trailing whitespace is fine
    CHECK(target() == expected[0]);
  }
}

TEST_CASE("a flipped byte anywhere in the payload is a checksum error naming the file") {
  TempDir dir;
  const SavedFile f = SaveFull(dir);
  const std::string path = dir.File("flipped.ckpt");
  for (std::size_t i = 28; i < f.bytes.size(); ++i) {
    std::string bytes = f.bytes;
    bytes[i] = static_cast<char>(bytes[i] ^ (1 << (i % 8)));
    WriteBytes(path, bytes);
    const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
    CAPTURE(i);
    CHECK(Contains(message, path));
    CHECK(Contains(message, "corrupt: checksum mismatch"));
  }
  // A flipped checksum byte is the same error.
  std::string bytes = f.bytes;
  bytes[20] ^= 0x40;
  WriteBytes(path, bytes);
  CHECK(Contains(ErrorOf([&] { LoadCheckpoint<double>(path); }), "checksum mismatch"));
}

TEST_CASE("a truncated file is a clear error at every length") {
  TempDir dir;
  const SavedFile f = SaveFull(dir);
  const std::string path = dir.File("truncated.ckpt");
  for (std::size_t n = 0; n < f.bytes.size(); ++n) {
    WriteBytes(path, f.bytes.substr(0, n));
    const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
    CAPTURE(n);
    CHECK(Contains(message, path));
    CHECK(Contains(message, "truncated"));
  }
}

TEST_CASE("trailing bytes, bad magic and other versions are rejected") {
  TempDir dir;
  const SavedFile f = SaveFull(dir);
  const std::string path = dir.File("bad.ckpt");

  for (const std::string& extra : {std::string(1, '\0'), std::string(100, 'x')}) {
    WriteBytes(path, f.bytes + extra);
    const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
    CHECK(Contains(message, path));
    CHECK(Contains(message, "trailing bytes"));
  }

  std::string bytes = f.bytes;
  bytes[0] = 'X';
  WriteBytes(path, bytes);
  std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
  CHECK(Contains(message, path));
  CHECK(Contains(message, "bad magic"));
  WriteBytes(path, "hello, I am a text file\n");
  CHECK(Contains(ErrorOf([&] { LoadCheckpoint<double>(path); }), "bad magic"));
  WriteBytes(path, "IMPL");  // a magic prefix, but too short
  CHECK(Contains(ErrorOf([&] { LoadCheckpoint<double>(path); }), "truncated"));

  for (const std::uint32_t version : {0u, 2u, 0xffffffffu}) {
    bytes = f.bytes;
    for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<char>(version >> (8 * i));
    WriteBytes(path, bytes);
    message = ErrorOf([&] { LoadCheckpoint<double>(path); });
    CHECK(Contains(message, path));
    CHECK(Contains(message, "unsupported version " + std::to_string(version)));
  }
}

TEST_CASE("missing files and directories are errors naming the path") {
  TempDir dir;
  const std::string missing = dir.File("nope.ckpt");
  std::string message = ErrorOf([&] { LoadCheckpoint<float>(missing); });
  CHECK(Contains(message, missing));
  CHECK(Contains(message, "cannot open"));
  message = ErrorOf([&] { LoadCheckpoint<float>(dir.File("")); });
  CHECK(Contains(message, "directory"));
}

TEST_CASE("a scalar type mismatch names both types and the file") {
  TempDir dir;
  const std::string path = dir.File("float.ckpt");
  SaveCheckpoint(path, MakeFull<float>());
  std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
  CHECK(Contains(message, path));
  CHECK(Contains(message, "float32"));
  CHECK(Contains(message, "float64"));
  SaveCheckpoint(path, MakeFull<double>());
  message = ErrorOf([&] { LoadCheckpoint<float>(path); });
  CHECK(Contains(message, "float32"));
  CHECK(Contains(message, "float64"));
}

TEST_CASE("hostile lengths fail cleanly without allocating") {
  TempDir dir;
  const std::string path = dir.File("hostile.ckpt");
  constexpr std::uint64_t kHuge = std::numeric_limits<std::uint64_t>::max();

  SUBCASE("huge payload length in the header") {
    const std::string payload = MinimalPayload();
    for (const std::uint64_t claimed : {kHuge, kHuge / 2, std::uint64_t{1} << 40}) {
      Bytes b;
      b.s = "IMPLCKPT";
      b.U32(1).U64(claimed).U64(ReferenceFnv(payload));
      WriteBytes(path, b.s + payload);
      const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
      CHECK(Contains(message, path));
      CHECK(Contains(message, "truncated"));
    }
  }
  SUBCASE("the minimal payload itself is valid") {
    WriteBytes(path, MakeFile(MinimalPayload()));
    CHECK(LoadCheckpoint<double>(path).model_kind == "m");
  }
  SUBCASE("huge lengths inside a payload with a valid checksum") {
    std::vector<std::string> payloads;
    payloads.push_back(MinimalPayload(Bytes().U64(kHuge).s));                // model_kind length
    payloads.push_back(MinimalPayload(Bytes().U64(std::uint64_t{1} << 62).s));
    payloads.push_back(MinimalPayload("", Bytes().U64(kHuge).s));            // config count
    payloads.push_back(MinimalPayload("", Bytes().U64(1000).s));             // count > bytes
    payloads.push_back(MinimalPayload("", Bytes().U64(1).Str("k").U64(kHuge).s));  // value length
    {
      Bytes p;  // a section claiming more bytes than there are
      p.s = "KIND";
      p.U64(kHuge);
      payloads.push_back(p.s);
    }
    {
      // Parameter count huge (with an empty layout).
      std::string p = MinimalPayload();
      Bytes parm_header;
      parm_header.s = "PARM";
      parm_header.U64(8).U64(kHuge / 2);
      const std::size_t at = p.find("PARM");
      p.replace(at, 20, parm_header.s);
      payloads.push_back(p);
    }
    {
      // A layout whose rows*cols overflows.
      std::string p = MinimalPayload();
      Bytes layo;
      layo.U64(1).Str("W").U64(std::uint64_t{1} << 40).U64(std::uint64_t{1} << 40);
      Bytes section;
      section.Section("LAYO", layo);
      const std::size_t at = p.find("LAYO");
      p.replace(at, 20, section.s);
      payloads.push_back(p);
    }
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      CAPTURE(i);
      WriteBytes(path, MakeFile(payloads[i]));
      const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
      CHECK(Contains(message, path));
      CHECK(Contains(message, "corrupt"));
    }
  }
  SUBCASE("inconsistent sizes, unknown sections and duplicate keys") {
    std::vector<std::pair<std::string, std::string>> cases;  // payload, expected text
    {
      std::string p = MinimalPayload();
      Bytes layo;  // layout says 2 values, PARM holds 0
      layo.U64(1).Str("W").U64(2).U64(1);
      Bytes section;
      section.Section("LAYO", layo);
      p.replace(p.find("LAYO"), 20, section.s);
      cases.push_back({p, "sizes inconsistent"});
    }
    {
      std::string p = MinimalPayload();
      p.replace(p.find("OPTM"), 4, "OPTX");
      cases.push_back({p, "expected section 'OPTM'"});
    }
    cases.push_back({MinimalPayload() + "VECS" + std::string(8, '\0'), "unexpected bytes"});
    cases.push_back({MinimalPayload("", Bytes().U64(2).Str("a").Str("1").Str("a").Str("2").s),
                     "'a' appears twice"});
    cases.push_back({MinimalPayload(Bytes().Str("m").U8(0).s), "unexpected bytes"});
    {
      std::string p = MinimalPayload();
      p.replace(p.find("float64"), 7, "float16");
      cases.push_back({p, "unknown scalar type"});
    }
    {
      std::string p = MinimalPayload();
      p[p.find("OPTM") + 12] = 2;
      cases.push_back({p, "trainer-state flag"});
    }
    for (const auto& [payload, expected] : cases) {
      CAPTURE(expected);
      WriteBytes(path, MakeFile(payload));
      const std::string message = ErrorOf([&] { LoadCheckpoint<double>(path); });
      CHECK(Contains(message, path));
      CHECK(Contains(message, expected));
    }
  }
}

TEST_CASE("saving is atomic and replaces an existing checkpoint") {
  TempDir dir;
  const std::string path = dir.File("run.ckpt");
  Checkpoint<double> c = MakeFull<double>();
  SaveCheckpoint(path, c);
  c.integers[0].second = 3;
  c.vectors[0].second.setZero();
  SaveCheckpoint(path, c);
  CHECK(LoadCheckpoint<double>(path).Integer("stage") == 3);
  CHECK(dir.Entries() == std::vector<std::string>{"run.ckpt"});

  SUBCASE("an unwritable destination is an error naming it and leaves nothing behind") {
    const std::string bad = dir.File("no_such_dir/run.ckpt");
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(bad, c); }), bad));
    CHECK(dir.Entries() == std::vector<std::string>{"run.ckpt"});
  }
  SUBCASE("an inconsistent checkpoint is refused before anything is written") {
    const std::string other = dir.File("other.ckpt");
    Checkpoint<double> bad = c;
    bad.parameters.conservativeResize(bad.parameters.size() - 1);
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(other, bad); }), "layout covers"));
    bad = c;
    bad.has_trainer_state = false;
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(other, bad); }), "has_trainer_state"));
    bad = c;
    bad.reals.push_back({"nan", 1.0});
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(other, bad); }), "'nan' appears twice"));
    bad = c;
    bad.blocks[1].offset += 1;
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(other, bad); }), "contiguous"));
    bad = c;
    bad.blocks[1].name = bad.blocks[0].name;
    CHECK(Contains(ErrorOf([&] { SaveCheckpoint(other, bad); }), "appears twice"));
    CHECK(dir.Entries() == std::vector<std::string>{"run.ckpt"});
    // The existing checkpoint is untouched.
    CHECK(LoadCheckpoint<double>(path).Integer("stage") == 3);
  }
}

TEST_CASE("RequireSameConfig lists every differing key") {
  TempDir dir;
  Checkpoint<float> c;
  c.config = {{"layers", "12"}, {"lr", "0.001"}, {"seed", "1"}, {"old_flag", "x"}};
  const std::string path = dir.File("config.ckpt");
  SaveCheckpoint(path, c);
  const Checkpoint<float> loaded = LoadCheckpoint<float>(path);

  // Same keys in another order: fine.
  RequireSameConfig(loaded, {{"seed", "1"}, {"old_flag", "x"}, {"lr", "0.001"}, {"layers", "12"}});

  const std::string message = ErrorOf([&] {
    RequireSameConfig(loaded, {{"layers", "16"}, {"lr", "0.001"}, {"seed", "2"}, {"new", "y"}});
  });
  CHECK(Contains(message, path + ": checkpoint was written with a different configuration"));
  CHECK(Contains(message, "key 'layers' is '16' here but '12' in the file"));
  CHECK(Contains(message, "key 'seed' is '2' here but '1' in the file"));
  CHECK(Contains(message, "key 'new' is 'y' here but missing in the file"));
  CHECK(Contains(message, "key 'old_flag' is missing here but 'x' in the file"));
  CHECK_FALSE(Contains(message, "'lr'"));
  CHECK_THROWS_AS(RequireSameConfig(loaded, {{"a", "1"}, {"a", "1"}}), Error);
}

TEST_CASE_TEMPLATE("RestoreParameters checks the layout exactly", Scalar, float, double) {
  TempDir dir;
  ParameterSet<Scalar> source;
  source.AddBlock("W", 3, 2);
  source.AddBlock("theta", 1, 1);
  source.Flat().setLinSpaced(7, Scalar(1), Scalar(7));
  Checkpoint<Scalar> c;
  CaptureParameters(source, c);
  const std::string path = dir.File("params.ckpt");
  SaveCheckpoint(path, c);
  const Checkpoint<Scalar> loaded = LoadCheckpoint<Scalar>(path);

  SUBCASE("same layout: values copied, also into bound storage") {
    ParameterSet<Scalar> target;
    target.AddBlock("W", 3, 2);
    target.AddBlock("theta", 1, 1);
    VectorX<Scalar> storage = VectorX<Scalar>::Zero(9);
    target.BindTo(storage.data() + 1);
    RestoreParameters(loaded, target);
    CHECK(BitEqual(target.Flat(), source.Flat()));
    CHECK(storage(0) == Scalar(0));
    CHECK(storage(8) == Scalar(0));
  }

  struct Case {
    std::vector<std::tuple<std::string, Index, Index>> blocks;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"W", 2, 3}, {"theta", 1, 1}}, "block 0 is 'W' 3x2"},
      {{{"W", 3, 2}, {"lambda", 1, 1}}, "'lambda'"},
      {{{"theta", 1, 1}, {"W", 3, 2}}, "block 0"},
      {{{"W", 3, 2}}, "first extra block in the checkpoint: 'theta'"},
      {{{"W", 3, 2}, {"theta", 1, 1}, {"extra", 1, 1}}, "first block missing from the checkpoint: 'extra'"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.expected);
    ParameterSet<Scalar> target;
    for (const auto& [name, rows, cols] : k.blocks) target.AddBlock(name, rows, cols);
    target.Flat().setConstant(Scalar(-5));
    const std::string message = ErrorOf([&] { RestoreParameters(loaded, target); });
    CHECK(Contains(message, path));
    CHECK(Contains(message, "parameter layout differs"));
    CHECK(Contains(message, k.expected));
    CHECK((target.Flat().array() == Scalar(-5)).all());  // unchanged
  }
}

// ---------------------------------------------------------------------------
// Interrupts

TEST_CASE("RequestInterrupt and ClearInterruptRequest") {
  ClearInterruptRequest();
  CHECK_FALSE(InterruptRequested());
  RequestInterrupt();
  CHECK(InterruptRequested());
  ClearInterruptRequest();
  CHECK_FALSE(InterruptRequested());
}

TEST_CASE("SIGINT and SIGTERM set the flag instead of killing the process") {
  ClearInterruptRequest();
  InstallInterruptHandler();
  REQUIRE(std::raise(SIGINT) == 0);
  CHECK(InterruptRequested());  // and we are still alive
  ClearInterruptRequest();
  CHECK_FALSE(InterruptRequested());
  REQUIRE(std::raise(SIGTERM) == 0);
  CHECK(InterruptRequested());
  ClearInterruptRequest();
  InstallInterruptHandler();  // idempotent
  REQUIRE(std::raise(SIGINT) == 0);
  CHECK(InterruptRequested());
  ClearInterruptRequest();
}

TEST_CASE("a second SIGINT while a request is pending kills the process") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe calls and _exit in the child.
    ClearInterruptRequest();
    InstallInterruptHandler();
    ::raise(SIGINT);
    if (!InterruptRequested()) ::_exit(3);
    ::raise(SIGINT);  // must not return
    ::_exit(4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGINT);
  if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 0);  // shows the exit code on failure
}
