// encode() of arbitrary bytes (valid and invalid UTF-8) with the CLIP vocabulary afa ships.
#include "afa/text/clip_tokenizer.h"
#include "fuzz_input.h"

#ifndef AFA_DATA_DIR
#error "AFA_DATA_DIR must name the folder with clip_tokenizer/"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static afa::text::ClipTokenizer tok =
      afa::text::ClipTokenizer::from_folder(std::string(AFA_DATA_DIR) + "/clip_tokenizer");
  const std::string text(reinterpret_cast<const char*>(data), size);
  afa::fuzz::expect_only_afa_errors([&] {
    const auto enc = tok.encode(text);
    if (enc.ids.size() != 77 || enc.n_tokens > 77 || enc.n_tokens < 2) __builtin_trap();
  });
  return 0;
}
