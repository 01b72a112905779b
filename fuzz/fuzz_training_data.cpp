// afa train's JSON-lines data files ({"image", "text"} or JourneyDB's {"image_file", "prompt"} per line).
#include "afa/train/dataset.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = afa::fuzz::write_input("data.jsonl", data, size);
  afa::fuzz::expect_only_afa_errors([&] { afa::train::load_dataset(path); });
  return 0;
}
