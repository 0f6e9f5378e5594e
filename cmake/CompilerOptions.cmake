# Compiler options shared by every target of the project.
#
# IMPLICIT_NATIVE (default ON): Release builds use -march=native so Eigen can
# use the machine's widest SIMD (AVX-512 on the reference machine). Turn it
# off for binaries that must run on other CPUs: -DIMPLICIT_NATIVE=OFF.
option(IMPLICIT_NATIVE "Optimise Release builds for this machine (-march=native)" ON)

add_library(implicit_compiler_options INTERFACE)
target_compile_options(implicit_compiler_options INTERFACE
  -Wall -Wextra -Wpedantic -Wno-deprecated-declarations
  # GCC 12 reports false positives inside its own AVX-512 intrinsics (Eigen packets).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>
  $<$<CONFIG:Release>:-O3>
  $<$<AND:$<CONFIG:Release>,$<BOOL:${IMPLICIT_NATIVE}>>:-march=native>)
# Eigen's internal asserts cost ~2x in Release; keep them in Debug builds only.
target_compile_definitions(implicit_compiler_options INTERFACE
  $<$<CONFIG:Release>:EIGEN_NO_DEBUG>)
