// encode() of arbitrary bytes (valid and invalid UTF-8) with the CLIP and BERT (ImageReward) vocabularies
// afa ships.
#include "afa/text/bert_tokenizer.h"
#include "afa/text/clip_tokenizer.h"
#include "fuzz_input.h"

#ifndef AFA_DATA_DIR
#error "AFA_DATA_DIR must name the folder with clip_tokenizer/ and bert_tokenizer/"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static afa::text::ClipTokenizer tok =
      afa::text::ClipTokenizer::from_folder(std::string(AFA_DATA_DIR) + "/clip_tokenizer");
  const std::string text(reinterpret_cast<const char*>(data), size);
  afa::fuzz::expect_only_afa_errors([&] {
    const auto enc = tok.encode(text);
    if (enc.ids.size() != 77 || enc.n_tokens > 77 || enc.n_tokens < 2) __builtin_trap();
  });
  static afa::text::BertTokenizer bert =
      afa::text::BertTokenizer::image_reward(std::string(AFA_DATA_DIR) + "/bert_tokenizer/vocab.txt");
  afa::fuzz::expect_only_afa_errors([&] {
    const auto enc = bert.encode(text, 35);
    if (enc.input_ids.size() != 35 || enc.attention_mask.size() != 35 || enc.input_ids[0] != bert.cls_id())
      __builtin_trap();
  });
  return 0;
}
