// safetensors: header length, JSON header, dtypes, shapes, offsets, the data section; every tensor read.
#include "afa/io/safetensors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = afa::fuzz::write_input("in.safetensors", data, size);
  afa::fuzz::expect_only_afa_errors([&] {
    afa::io::SafeTensorsFile f(path);
    for (const auto& name : f.names()) (void)f.get(name).sum();
    (void)f.metadata().size();
  });
  return 0;
}
