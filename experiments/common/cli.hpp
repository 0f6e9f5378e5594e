// Command-line handling shared by every experiment binary (Boost.Program_options).
//
//  * --help prints the description and every option with its default.
//  * Unknown or malformed flags, and positional arguments, are rejected with
//    a message on stderr and exit code 2 (kExitUsage).
//  * Every binary has --seed, --output DIR and --threads.
//  * RunExperiment turns any implicit::Error (bad shape, bad file, NaN in
//    data...) into "error: ..." on stderr and exit code 1.
#pragma once

#include <boost/program_options.hpp>

#include <charconv>
#include <type_traits>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace implicit::cli {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the run failed (bad data, I/O error, diverged...)
constexpr int kExitUsage = 2;    // bad command line

struct CommonOptions {
  std::uint64_t seed = 0;
  std::string output;  // run folder; default results/<program>
  int threads = 1;     // 0 = all cores (Eigen/OpenMP); 1 by default (see --help)
};

// Adds --help, --seed, --output and --threads to `options`.
void AddCommonOptions(po::options_description& options, CommonOptions& common,
                      const std::string& default_output);

// Parses argv into the variables bound in `options`. Returns an exit code if
// the program should stop now (0 after --help, 2 after a usage error), or
// nullopt to go on. Also applies --threads.
std::optional<int> Parse(int argc, const char* const argv[], const po::options_description& options,
                         const std::string& program, const std::string& description,
                         const CommonOptions& common);

// Runs body(), mapping exceptions to a message and exit code 1.
int RunExperiment(const std::string& program, const std::function<int()>& body);

// po::value bound to `target`, with its current value as the default shown
// by --help in the shortest form that round-trips (0.1, not 0.10000000000000001).
template <typename T>
po::typed_value<T>* Default(T* target) {
  if constexpr (std::is_floating_point_v<T>) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), *target);
    return po::value<T>(target)->default_value(*target, std::string(buffer, result.ptr));
  } else {
    return po::value<T>(target)->default_value(*target);
  }
}

// Throws implicit::Error("--<flag>: <message>") unless ok.
void Require(bool ok, const std::string& flag, const std::string& message);

// A measurement SNR in dB from its flag text: a number, or "inf" (noiseless,
// returned as +infinity). Throws Error("--snr: ...") on anything else.
double ParseSnr(const std::string& text);

}  // namespace implicit::cli
