// libFuzzer entry point for the metrics processor (built with SELFHEAL_FUZZ=ON, clang).
#include <cstdlib>
#include <cstdio>

#include "fuzz_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    selfheal::fuzz::run_one_input(data, size);
  } catch (const std::logic_error& e) {
    std::fprintf(stderr, "invariant broken: %s\n", e.what());
    std::abort();
  }
  return 0;
}
