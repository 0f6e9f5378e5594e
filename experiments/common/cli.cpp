#include "experiments/common/cli.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/types.hpp"

#include <Eigen/Core>

#include <iostream>

namespace implicit::cli {

void AddCommonOptions(po::options_description& options, CommonOptions& common,
                      const std::string& default_output) {
  common.output = default_output;
  options.add_options()
      ("help,h", "print this help and exit")
      ("seed", Default(&common.seed),
       "random seed (every random draw of the run derives from it)")
      ("output", Default(&common.output),
       "folder for the run's results (created if missing)")
      ("threads", Default(&common.threads),
       "threads for linear algebra (0 = all cores). The default is 1: the models here are small "
       "enough that a second OpenMP thread costs more than it brings, and far more on a busy machine");
}

std::optional<int> Parse(int argc, const char* const argv[], const po::options_description& options,
                         const std::string& program, const std::string& description,
                         const CommonOptions& common) {
  po::variables_map vm;
  try {
    // No positional arguments: a stray word is an error, not silently ignored.
    po::store(po::command_line_parser(argc, argv).options(options).positional({}).run(), vm);
    if (vm.count("help") != 0U) {
      std::cout << program << " - " << description << "\n\n" << options << "\n";
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << program << ": " << e.what() << "\nTry '" << program << " --help'.\n";
    return kExitUsage;
  }
  if (common.threads < 0) {
    std::cerr << program << ": --threads must be >= 0\n";
    return kExitUsage;
  }
  Eigen::setNbThreads(common.threads);  // 0 restores Eigen's default (all cores)
  return std::nullopt;
}

int RunExperiment(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const implicit::Error& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << program << ": error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
  }
  return kExitFailure;
}

void Require(bool ok, const std::string& flag, const std::string& message) {
  if (!ok) throw implicit::Error("--" + flag + ": " + message);
}

double ParseSnr(const std::string& text) {
  if (text == "inf") return std::numeric_limits<double>::infinity();
  double snr = 0.0;
  try {
    size_t used = 0;
    snr = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw implicit::Error("--snr: '" + text + "' is not a number or inf");
  }
  Require(!std::isnan(snr), "snr", "must be a number or inf");
  return snr;
}

}  // namespace implicit::cli
