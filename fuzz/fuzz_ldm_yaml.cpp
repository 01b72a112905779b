// The original LDM yaml configs of single files (v1-inference.yaml and fine-tunes' copies).
#include "afa/io/config_files.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = afa::fuzz::write_input("model.yaml", data, size);
  afa::fuzz::expect_only_afa_errors([&] { afa::io::configs_from_ldm_yaml(path); });
  afa::fuzz::expect_only_afa_errors([&] { afa::io::read_config_files({path}); });
  return 0;
}
