// The tokenizer's files: vocab.json and merges.txt (the input's two parts), then a prompt (third part).
#include "afa/text/clip_tokenizer.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = afa::fuzz::split_parts(data, size, 3);
  const auto get = [&](size_t i) { return i < parts.size() ? parts[i] : std::string(); };
  const std::string v = get(0), m = get(1), text = get(2);
  const std::string vocab = afa::fuzz::write_input("tok/vocab.json", reinterpret_cast<const uint8_t*>(v.data()), v.size());
  const std::string merges = afa::fuzz::write_input("tok/merges.txt", reinterpret_cast<const uint8_t*>(m.data()), m.size());
  afa::fuzz::expect_only_afa_errors([&] {
    afa::text::ClipTokenizer tok(vocab, merges);
    (void)tok.encode(text);
  });
  return 0;
}
