// Both aggregator layouts: afa's single .safetensors (configs in the metadata) from the whole input, and
// the official folder (model_config.json + aggregator_0/{config.json, aggregator.safetensors}) from its
// three parts.
#include "afa/ensemble/aggregators.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using afa::fuzz::write_input;
  const std::string file = write_input("agg.safetensors", data, size);
  afa::fuzz::expect_only_afa_errors([&] { afa::ensemble::load_aggregators(file); });
  const auto parts = afa::fuzz::split_parts(data, size, 3);
  const auto get = [&](size_t i) { return i < parts.size() ? parts[i] : std::string(); };
  const auto bytes = [](const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); };
  const std::string a = get(0), b = get(1), c = get(2);
  write_input("aggdir/model_config.json", bytes(a), a.size());
  write_input("aggdir/aggregator_0/config.json", bytes(b), b.size());
  write_input("aggdir/aggregator_0/aggregator.safetensors", bytes(c), c.size());
  afa::fuzz::expect_only_afa_errors(
      [&] { afa::ensemble::load_aggregators((afa::fuzz::scratch_dir() / "aggdir").string()); });
  return 0;
}
