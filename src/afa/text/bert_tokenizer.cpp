#include "afa/text/bert_tokenizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include "afa/text/clip_pretokenizer.h"
#include "afa/text/unicode_chars.h"
#include "afa/util/error.h"

namespace afa::text {

namespace {

constexpr size_t kMaxWordChars = 100;  // WordpieceTokenizer.max_input_chars_per_word

// BasicTokenizer.tokenize of one chunk that holds no special token (already lower-cased).
std::vector<std::u32string> basic_tokenize(const std::u32string& text) {
  // _clean_text and _tokenize_chinese_chars.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_bert_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (is_cjk(c)) {
      cleaned += {U' ', c, U' '};
    } else {
      cleaned.push_back(c);
    }
  }
  const std::u32string t = nfc(cleaned);
  std::vector<std::u32string> out;
  // whitespace_tokenize (str.split), then per word: lower(), strip accents, split on punctuation.
  size_t i = 0;
  while (i < t.size()) {
    if (is_python_space(t[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && !is_python_space(t[j])) ++j;
    std::u32string word;
    for (char32_t c : nfd(to_lower(t.substr(i, j - i))))
      if (!is_nonspacing_mark(c)) word.push_back(c);
    std::u32string cur;
    for (char32_t c : word) {
      if (is_bert_punctuation(c)) {
        if (!cur.empty()) out.push_back(cur);
        out.push_back(std::u32string(1, c));
        cur.clear();
      } else if (is_python_space(c)) {  // the final whitespace_tokenize (not expected after NFD)
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) out.push_back(cur);
    i = j;
  }
  return out;
}

}  // namespace

BertTokenizer::BertTokenizer(const std::string& vocab_path) : path_(vocab_path) {
  std::ifstream f(vocab_path, std::ios::binary);
  AFA_CHECK(f, "BERT vocabulary ", vocab_path, ": cannot read the file");
  std::string line;
  int64_t index = 0;
  while (std::getline(f, line)) vocab_[line] = index++;  // rstrip("\n") only; a later duplicate wins
  vocab_lines_ = index;
  auto need = [&](const char* tok) {
    const auto it = vocab_.find(tok);
    AFA_CHECK(it != vocab_.end(), "BERT vocabulary ", vocab_path, ": no line '", tok,
              "' (expected bert-base-uncased's vocab.txt, one token a line)");
    specials_.push_back(tok);
    return it->second;
  };
  pad_id_ = need("[PAD]");
  unk_id_ = need("[UNK]");
  cls_id_ = need("[CLS]");
  sep_id_ = need("[SEP]");
  need("[MASK]");
}

int64_t BertTokenizer::add_special_token(const std::string& token) {
  AFA_CHECK(!token.empty(), "BERT tokenizer: an empty special token");
  if (std::find(specials_.begin(), specials_.end(), token) == specials_.end()) specials_.push_back(token);
  if (const auto it = vocab_.find(token); it != vocab_.end()) return it->second;
  for (const auto& [t, id] : added_)
    if (t == token) return id;
  const int64_t id = vocab_size();
  added_.emplace_back(token, id);
  return id;
}

BertTokenizer BertTokenizer::image_reward(const std::string& vocab_path) {
  BertTokenizer t(vocab_path);
  t.add_special_token("[DEC]");  // bos_token
  t.add_special_token("[ENC]");  // additional_special_tokens
  return t;
}

std::vector<std::string> BertTokenizer::wordpiece(const std::u32string& word) const {
  if (word.size() > kMaxWordChars) return {"[UNK]"};
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < word.size()) {
    std::string found;
    for (size_t end = word.size(); end > start; --end) {
      std::string sub = (start > 0 ? "##" : "") + utf8_encode(word.substr(start, end - start));
      if (vocab_.count(sub)) {
        found = std::move(sub);
        start = end;
        break;
      }
    }
    if (found.empty()) return {"[UNK]"};
    pieces.push_back(std::move(found));
  }
  return pieces;
}

std::vector<std::string> BertTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (const auto& chunk : split_special_tokens(text, specials_)) {
    if (chunk.special) {
      out.push_back(chunk.text);
      continue;
    }
    std::u32string lowered;
    for (char32_t c : utf8_decode(chunk.text, "prompt")) lowered += to_lower(std::u32string(1, c));
    for (const auto& word : basic_tokenize(lowered))
      for (auto& piece : wordpiece(word)) out.push_back(std::move(piece));
  }
  return out;
}

int64_t BertTokenizer::token_id(const std::string& token) const {
  for (const auto& [t, id] : added_)
    if (t == token) return id;
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? unk_id_ : it->second;
}

BertEncoding BertTokenizer::encode(const std::string& text, int max_length) const {
  AFA_CHECK(max_length >= 2, "BERT tokenizer: max_length must be at least 2, got ", max_length);
  const auto tokens = tokenize(text);
  BertEncoding e;
  e.n_tokens_untruncated = int(tokens.size()) + 2;
  const size_t keep = std::min(tokens.size(), size_t(max_length - 2));
  e.input_ids.push_back(cls_id_);
  for (size_t i = 0; i < keep; ++i) e.input_ids.push_back(token_id(tokens[i]));
  e.input_ids.push_back(sep_id_);
  e.attention_mask.assign(e.input_ids.size(), 1);
  e.input_ids.resize(size_t(max_length), pad_id_);
  e.attention_mask.resize(size_t(max_length), 0);
  return e;
}

std::pair<torch::Tensor, torch::Tensor> BertTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                                    int max_length) const {
  auto ids = torch::empty({int64_t(texts.size()), max_length}, torch::kInt64);
  auto mask = torch::empty_like(ids);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto e = encode(texts[i], max_length);
    std::copy(e.input_ids.begin(), e.input_ids.end(), ids[int64_t(i)].data_ptr<int64_t>());
    std::copy(e.attention_mask.begin(), e.attention_mask.end(), mask[int64_t(i)].data_ptr<int64_t>());
  }
  return {ids, mask};
}

}  // namespace afa::text
