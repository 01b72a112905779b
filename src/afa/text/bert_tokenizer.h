// BERT's WordPiece tokenizer as transformers' slow BertTokenizer (4.34, bert-base-uncased: lower-casing,
// accents stripped) runs it, for ImageReward's text encoder:
//   1. special tokens written in the text ("[CLS]", "[ENC]", ...) are cut out first (the added-token
//      trie) and become their own ids; the rest is lower-cased character by character (tokenize()'s
//      regex lower-cases each non-special character on its own, so no final-sigma context);
//   2. BasicTokenizer: control characters dropped, whitespace unified, CJK ideographs spaced out, NFC,
//      split on whitespace, each word lower-cased, NFD with nonspacing marks (Mn) dropped, split before
//      and after every punctuation character;
//   3. WordPiece: greedy longest match from the left, continuation pieces prefixed "##"; a word longer
//      than 100 characters or with no match is [UNK].
// encode() = tokenizer(text, padding="max_length", truncation=True, max_length=L): [CLS] ids [SEP], then
// [PAD] (0), with the attention mask.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace afa::text {

struct BertEncoding {
  std::vector<int64_t> input_ids;       // exactly max_length
  std::vector<int64_t> attention_mask;  // 1 for [CLS], the text and [SEP]; 0 for padding
  int n_tokens_untruncated = 0;         // [CLS] + text + [SEP] before truncation
  bool truncated() const { return n_tokens_untruncated > int(input_ids.size()); }
};

class BertTokenizer {
 public:
  // vocab.txt: one token a line, the id is the line's 0-based index (a later duplicate wins, as
  // transformers' load_vocab). Throws afa::Error naming the file when it is unreadable or lacks
  // [PAD], [UNK], [CLS], [SEP] or [MASK].
  explicit BertTokenizer(const std::string& vocab_path);

  // add_special_tokens: a token not in the vocabulary gets the next id (vocab size + tokens added so
  // far); written in a prompt it is cut out as one token.
  int64_t add_special_token(const std::string& token);

  // ImageReward's tokenizer (BLIP's init_tokenizer): bert-base-uncased plus [DEC] (bos, 30522) and
  // [ENC] (30523).
  static BertTokenizer image_reward(const std::string& vocab_path);

  // The tokens of the text alone (no [CLS]/[SEP], no truncation), like tokenizer.tokenize(). Throws
  // afa::Error if the text is not valid UTF-8.
  std::vector<std::string> tokenize(const std::string& text) const;
  int64_t token_id(const std::string& token) const;  // unknown tokens give [UNK]'s id
  BertEncoding encode(const std::string& text, int max_length = 35) const;
  // input_ids and attention_mask, I64 [prompts, max_length].
  std::pair<torch::Tensor, torch::Tensor> encode_batch(const std::vector<std::string>& texts,
                                                       int max_length = 35) const;

  int64_t vocab_size() const { return int64_t(vocab_.size() + added_.size()); }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }

 private:
  std::vector<std::string> wordpiece(const std::u32string& word) const;

  std::string path_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::pair<std::string, int64_t>> added_;  // added special tokens, in order
  std::vector<std::string> specials_;                   // every special token, cut out of prompts
  int64_t pad_id_ = 0, unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, vocab_lines_ = 0;
};

}  // namespace afa::text
