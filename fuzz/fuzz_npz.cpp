// numpy .npz archives (afa eval --reference STATS.npz): the zip directory, each .npy header (dtype, order,
// shape) and the data lengths; every array read.
#include "afa/io/npz_file.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = afa::fuzz::write_input("in.npz", data, size);
  afa::fuzz::expect_only_afa_errors([&] {
    for (const auto& [name, t] : afa::io::load_npz(path)) (void)t.sum();
  });
  return 0;
}
