// checkpoint_info FILE: prints what a checkpoint holds (model, configuration,
// parameter layout, trainer state) after validating it (format, checksum).
#include "core/checkpoint.hpp"
#include "experiments/common/cli.hpp"

#include <cstdio>
#include <iostream>

using namespace implicit;

namespace {

template <typename Scalar>
void Print(const Checkpoint<Scalar>& c) {
  std::cout << "model: " << c.model_kind << "\nconfiguration:\n";
  for (const auto& [k, v] : c.config) std::cout << "  " << k << " = " << v << "\n";
  std::cout << "parameters: " << c.parameters.size() << " in " << c.blocks.size() << " blocks\n";
  if (c.has_trainer_state) {
    std::cout << "trainer state (" << c.optimizer << ", optimiser step " << c.optimizer_state.step << "):\n";
    for (const auto& [k, v] : c.integers) std::cout << "  " << k << " = " << v << "\n";
    for (const auto& [k, v] : c.reals) std::cout << "  " << k << " = " << v << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string file;
  cli::po::options_description desc("Options");
  desc.add_options()("help,h", "print this help and exit")("file", cli::po::value(&file), "checkpoint file");
  cli::po::positional_options_description positional;
  positional.add("file", 1);
  cli::po::variables_map vm;
  try {
    cli::po::store(cli::po::command_line_parser(argc, argv).options(desc).positional(positional).run(), vm);
    if (vm.count("help") != 0U) {
      std::cout << "checkpoint_info FILE - print and validate a training checkpoint\n\n" << desc << "\n";
      return cli::kExitOk;
    }
    cli::po::notify(vm);
  } catch (const cli::po::error& e) {
    std::cerr << "checkpoint_info: " << e.what() << "\n";
    return cli::kExitUsage;
  }
  if (file.empty()) {
    std::cerr << "checkpoint_info: no file given\n";
    return cli::kExitUsage;
  }
  return cli::RunExperiment("checkpoint_info", [&] {
    try {
      Print(LoadCheckpoint<float>(file));
    } catch (const Error& e) {
      // A float64 checkpoint says so in its message; try the other precision.
      if (std::string(e.what()).find("float64") == std::string::npos) throw;
      Print(LoadCheckpoint<double>(file));
    }
    return cli::kExitOk;
  });
}
