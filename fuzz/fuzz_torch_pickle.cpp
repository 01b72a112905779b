// Pickled PyTorch checkpoints (.ckpt/.pt/.pth): the zip container, the legacy format, the pickle machine
// and its allow-list; every tensor read. Hostile pickles must be refused, never run: nothing is called.
#include "afa/io/torch_pickle.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = afa::fuzz::write_input("in.ckpt", data, size);
  afa::fuzz::expect_only_afa_errors([&] {
    afa::io::TorchPickleFile f(path);
    for (const auto& name : f.names()) (void)f.get(name).sum();
  });
  return 0;
}
