// CLIP's byte-level BPE tokenizer, as transformers' slow CLIPTokenizer (>= 4.31) runs it without ftfy:
// BasicTokenizer clean-up (control characters dropped, whitespace unified, CJK spaced out, NFC,
// lower-cased), CLIP's regex split, bytes_to_unicode, then BPE with "</w>" on each piece's last symbol.
// encode() gives what SD 1.5 feeds its text encoder: tok(text, padding="max_length", max_length=77,
// truncation=True).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace afa::text {

struct ClipEncoding {
  std::vector<int64_t> ids;   // exactly max_length: start, <= max_length-2 text ids, end, then pad
  int n_tokens = 0;           // real ids (start and end included) before padding, after truncation
  int n_tokens_untruncated = 0;  // the same without truncation; > max_length means the prompt was cut
  bool truncated() const { return n_tokens_untruncated > n_tokens; }
};

class ClipTokenizer {
 public:
  static constexpr const char* kStartToken = "<|startoftext|>";
  static constexpr const char* kEndToken = "<|endoftext|>";

  // vocab.json (token -> id) and merges.txt ("#version" line, then one "a b" merge a line). Throws
  // afa::Error naming the file when either is missing or malformed.
  ClipTokenizer(const std::string& vocab_path, const std::string& merges_path, int max_length = 77);
  // A diffusers/transformers tokenizer folder holding vocab.json and merges.txt.
  static ClipTokenizer from_folder(const std::string& dir, int max_length = 77);

  ClipTokenizer(const ClipTokenizer&) = delete;
  ClipTokenizer& operator=(const ClipTokenizer&) = delete;
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // Padded and truncated ids for one prompt. Throws afa::Error if the text is not valid UTF-8.
  ClipEncoding encode(const std::string& text) const;
  // I64 [prompts, max_length], one row per prompt.
  torch::Tensor encode_batch(const std::vector<std::string>& texts) const;
  // The BPE strings of the text alone (no start/end, no truncation), like transformers' tok.tokenize().
  std::vector<std::string> tokens(const std::string& text) const;
  // Ids of the text alone (no start/end, no truncation).
  std::vector<int64_t> text_ids(const std::string& text) const;

  int64_t token_id(const std::string& token) const;  // unknown tokens map to the unk id (end token)
  int64_t start_id() const { return start_id_; }
  int64_t end_id() const { return end_id_; }
  int64_t pad_id() const { return end_id_; }         // SD 1.5 pads with <|endoftext|>
  int max_length() const { return max_length_; }
  size_t vocab_size() const { return vocab_.size(); }

 private:
  // BPE of one byte-encoded regex piece; memoised (transformers keeps the same cache).
  std::vector<std::string> bpe(const std::string& piece) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int> ranks_;  // "first second" -> merge rank
  int64_t start_id_ = 0, end_id_ = 0;
  int max_length_ = 77;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
  mutable std::unique_ptr<std::mutex> cache_mutex_;
};

}  // namespace afa::text
