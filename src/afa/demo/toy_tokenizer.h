// A CLIP BPE vocabulary for the toy world, in CLIP's own files (vocab.json, merges.txt starting with
// "#version: 0.2", tokenizer_config.json, special_tokens_map.json), so that text::ClipTokenizer and
// transformers' CLIPTokenizer load it unchanged. Ids, as in CLIP's vocabulary: the 256 byte symbols
// (GPT-2's bytes_to_unicode order), the same 256 with "</w>", one token per merge, then
// <|startoftext|> and <|endoftext|> last. The merges are learnt by BPE on caption_words() until each
// word is a single token; other words still tokenize, into smaller pieces.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace afa::demo {

struct ToyVocabulary {
  std::vector<std::string> tokens;                          // by id
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
};

// The vocabulary learnt from caption_words(): deterministic (ties broken by the pair's strings).
ToyVocabulary toy_vocabulary();

// Writes the four files into `dir` (created if missing; each file atomically). Returns the vocabulary
// size, the text encoder's vocab_size.
int64_t write_toy_tokenizer(const std::string& dir);

}  // namespace afa::demo
