// Checkpoints: everything needed to resume a training run exactly, in one
// self-validating binary file.
//
// A checkpoint holds the model kind, the experiment's configuration (ordered
// string key/value pairs), the scalar type, the parameter layout (the blocks
// of a ParameterSet) and values (ParameterSet::Flat()), optionally the
// trainer state (optimiser name, step count and buffers, plus named int64 /
// double / byte-string values such as the stage, the global step, the best
// validation NMSE and the serialised random engine), and named double vectors
// (e.g. a loss history).
//
// Saving is atomic (WriteFileAtomic: temp file, fsync, rename), so a run
// killed while saving leaves the previous checkpoint or the complete new one,
// never a half-written file. Loading validates everything before trusting
// anything: magic, version, payload length against the real file size (so a
// corrupt length can never make the reader allocate), a checksum over the
// whole payload, then every length and count inside the payload against the
// bytes that remain. Every failure throws implicit::Error with a message that
// starts with the file path.
//
// File format, version 1. All integers little-endian, doubles/floats as IEEE
// 754 bit patterns (little-endian), so values round-trip bit-exactly (NaN
// payloads and -0.0 included).
//
//   offset  size  field
//   0       8     magic "IMPLCKPT"
//   8       4     u32 format version (1)
//   12      8     u64 payload length P (the file is exactly 28 + P bytes)
//   20      8     u64 checksum: FNV-1a 64 (offset basis 0xcbf29ce484222325,
//                 prime 0x100000001b3, one byte at a time) of the P payload
//                 bytes. Any single changed byte always changes it (each
//                 FNV-1a step is a bijection of the state).
//   28      P     payload: the sections below, in this order, nothing after.
//
// Each section is: tag (4 ASCII bytes) | u64 body length L | L body bytes; the
// body must be consumed exactly. Within bodies:
//   str     = u64 byte count n | n bytes (arbitrary bytes, NUL allowed)
//   arr<T>  = u64 element count n | n elements of T (f32 or f64)
//
//   "KIND"  str model_kind
//   "CONF"  u64 n | n x (str key | str value)                  configuration
//   "SCAL"  str scalar type tag, "float32" or "float64"
//   "LAYO"  u64 n | n x (str name | i64 rows | i64 cols)        block layout;
//           offsets are implied (blocks are contiguous, in order)
//   "PARM"  arr<Scalar> parameter values (count = sum of rows*cols)
//   "OPTM"  u8 has_trainer_state (0 or 1); if 1:
//           str optimizer | i64 step | u64 n | n x arr<Scalar> buffers
//   "INTS"  u64 n | n x (str key | i64 value)
//   "REAL"  u64 n | n x (str key | f64 value)
//   "STRS"  u64 n | n x (str key | str value)
//   "VECS"  u64 n | n x (str key | arr<f64> values)
//
// Keys are unique within each list (config, integers, reals, strings,
// vectors) and block names are unique; both are checked on save and on load.
#pragma once

#include "core/optimizers.hpp"
#include "core/parameters.hpp"
#include "core/types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace implicit {

inline constexpr std::uint32_t kCheckpointVersion = 1;

template <typename Scalar>
struct Checkpoint {
  std::string model_kind;  // e.g. "lista_cpss"
  // The experiment's configuration; compare with RequireSameConfig on load.
  std::vector<std::pair<std::string, std::string>> config;
  // Parameter layout (name, rows, cols; offsets must be contiguous, in order)
  // and the flat values, as ParameterSet::blocks() / Flat(). See
  // CaptureParameters / RestoreParameters.
  std::vector<ParameterBlockInfo> blocks;
  VectorX<Scalar> parameters;

  // Trainer state. When has_trainer_state is false, `optimizer` must be empty
  // and `optimizer_state` default (step 0, no buffers): SaveCheckpoint throws
  // otherwise rather than silently dropping them.
  bool has_trainer_state = false;
  std::string optimizer;  // Optimizer::name(), e.g. "adam"
  OptimizerState<Scalar> optimizer_state;

  // Named values (saved whether or not has_trainer_state is set), e.g.
  // {"stage", 2}, {"global_step", 12000}, {"best_validation_nmse", -21.3},
  // {"rng", SerializeRng(rng)}, {"train_loss", history}.
  std::vector<std::pair<std::string, std::int64_t>> integers;
  std::vector<std::pair<std::string, double>> reals;
  std::vector<std::pair<std::string, std::string>> strings;  // arbitrary bytes
  std::vector<std::pair<std::string, Eigen::VectorXd>> vectors;

  // Lookups; throw Error naming the file (source), the missing key and the
  // keys that are present.
  std::int64_t Integer(const std::string& key) const;
  double Real(const std::string& key) const;
  const std::string& String(const std::string& key) const;
  const Eigen::VectorXd& Vector(const std::string& key) const;

  // Path the checkpoint was loaded from (set by LoadCheckpoint; used in
  // messages). Not saved.
  std::string source;
};

// Writes `c` to `path` atomically (temp file "<path>.tmp.<pid>", fsync,
// rename over `path`; an existing checkpoint is replaced only once the new
// one is complete). The parent directory must exist. Throws Error naming
// `path` if `c` is inconsistent (layout does not cover `parameters`, offsets
// not contiguous, negative shapes, duplicate keys or block names, trainer
// fields set without has_trainer_state) or if the file cannot be written; no
// file (and no temp file) is left behind then.
template <typename Scalar>
void SaveCheckpoint(const std::string& path, const Checkpoint<Scalar>& c);

// Reads and validates a checkpoint written with the same Scalar. Throws Error
// ("<path>: ...") on: missing/unreadable file, bad magic ("not a checkpoint
// file"), unsupported version, truncated file, trailing bytes, checksum
// mismatch ("corrupt: checksum mismatch"), scalar type different from Scalar
// (names both), inconsistent sizes or lengths that exceed the data (checked
// before allocating), duplicate keys. Sets `source` to `path`.
template <typename Scalar>
Checkpoint<Scalar> LoadCheckpoint(const std::string& path);

// c.blocks = p.blocks(), c.parameters = p.Flat().
template <typename Scalar>
void CaptureParameters(const ParameterSet<Scalar>& p, Checkpoint<Scalar>& c);

// Copies c.parameters into p.Flat() after checking that the layout matches
// exactly (same number of blocks; same names, shapes and offsets, in order).
// Throws Error naming the checkpoint's file and the first mismatch otherwise;
// p is unchanged then.
template <typename Scalar>
void RestoreParameters(const Checkpoint<Scalar>& c, ParameterSet<Scalar>& p);

// Compares the checkpoint's configuration with `expected` by key (order does
// not matter). Throws Error("<file>: checkpoint was written with a different
// configuration: key 'layers' is '16' here but '12' in the file; key 'x' is
// '1' here but missing in the file; key 'y' is missing here but '2' in the
// file") listing every difference. Duplicate keys in `expected`: Error.
template <typename Scalar>
void RequireSameConfig(const Checkpoint<Scalar>& c,
                       const std::vector<std::pair<std::string, std::string>>& expected);

// The engine's full state as text (operator<<, classic locale). Restoring it
// with DeserializeRng continues the identical random stream. The text format
// is the standard library's (portable between builds using the same one).
std::string SerializeRng(const Rng& rng);
// Throws Error("malformed random engine state ...") if `text` is not a
// complete state (or has anything but whitespace after it); rng is unchanged
// then.
void DeserializeRng(const std::string& text, Rng& rng);

// FNV-1a 64 of `data` (the checkpoint checksum; exposed for tools and tests).
std::uint64_t Fnv1a64(std::string_view data);

}  // namespace implicit
