#include "afa/text/clip_tokenizer.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <fstream>
#include <sstream>

#include "afa/text/clip_pretokenizer.h"
#include "afa/util/error.h"

namespace afa::text {

namespace {

// transformers reads at most 49152 - 256 - 2 merges (CLIP's vocabulary size less bytes and specials).
constexpr size_t kMaxMerges = 49152 - 256 - 2;
// Bound on memoised pieces, so a long-running process does not grow without limit.
constexpr size_t kMaxCacheEntries = 200000;

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  AFA_CHECK(f.good(), "tokenizer ", what, " file ", path, ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  AFA_CHECK(!f.bad(), "tokenizer ", what, " file ", path, ": read error");
  return ss.str();
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100.. in byte order,
// so every byte is a visible symbol and BPE never sees spaces or control characters.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      t[static_cast<size_t>(b)] = utf8_encode(std::u32string(1, cp));
    }
    return t;
  }();
  return table;
}

// Python's str.split() on the ASCII whitespace a merges line can hold.
std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> parts;
  std::istringstream ss(line);
  std::string p;
  while (ss >> p) parts.push_back(p);
  return parts;
}

}  // namespace

ClipTokenizer::ClipTokenizer(const std::string& vocab_path, const std::string& merges_path, int max_length)
    : max_length_(max_length), cache_mutex_(std::make_unique<std::mutex>()) {
  AFA_CHECK(max_length >= 2, "tokenizer max_length must be at least 2 (got ", max_length, ")");

  // vocab.json: {"token": id, ...}
  {
    const std::string text = read_file(vocab_path, "vocab");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("tokenizer vocab file ", vocab_path, ": invalid JSON (", e.what(), ")");
    }
    AFA_CHECK(j.is_object() && !j.empty(), "tokenizer vocab file ", vocab_path,
              ": expected a non-empty JSON object of token -> id");
    vocab_.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
      AFA_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0, "tokenizer vocab file ",
                vocab_path, ": id of token \"", it.key(), "\" is not a non-negative integer");
      vocab_.emplace(it.key(), it.value().get<int64_t>());
    }
    auto special = [&](const char* tok) {
      auto it = vocab_.find(tok);
      AFA_CHECK(it != vocab_.end(), "tokenizer vocab file ", vocab_path, ": missing special token ", tok);
      return it->second;
    };
    start_id_ = special(kStartToken);
    end_id_ = special(kEndToken);
  }

  // merges.txt: "#version: 0.2", then "first second" lines in priority order.
  {
    std::string text = read_file(merges_path, "merges");
    const auto not_space = [](unsigned char c) { return !std::isspace(c); };
    text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
    text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
    std::istringstream lines(text);
    std::string line;
    AFA_CHECK(std::getline(lines, line) && line.rfind("#version", 0) == 0, "tokenizer merges file ",
              merges_path, ": expected a \"#version\" header on the first line");
    size_t rank = 0;
    while (rank < kMaxMerges && std::getline(lines, line)) {
      const auto parts = split_ws(line);
      AFA_CHECK(parts.size() == 2, "tokenizer merges file ", merges_path, ": line ", rank + 2,
                " is not a pair of symbols: \"", line, "\"");
      ranks_[parts[0] + " " + parts[1]] = static_cast<int>(rank);  // a repeated pair keeps its last rank
      ++rank;
    }
    AFA_CHECK(rank > 0, "tokenizer merges file ", merges_path, ": no merges");
  }
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir, int max_length) {
  return ClipTokenizer(dir + "/vocab.json", dir + "/merges.txt", max_length);
}

ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

std::vector<std::string> ClipTokenizer::bpe(const std::string& piece) const {
  // Literal special tokens pass through whole (transformers seeds its BPE cache with them).
  if (piece == kStartToken || piece == kEndToken) return {piece};
  {
    std::lock_guard<std::mutex> lock(*cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) return it->second;
  }

  // One symbol per byte-level character; the last one carries the end-of-word marker.
  std::vector<std::string> word;
  for (size_t i = 0; i < piece.size();) {
    const auto c = static_cast<unsigned char>(piece[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    word.push_back(piece.substr(i, len));
    i += len;
  }
  if (word.empty()) return {};
  word.back() += "</w>";

  // Repeatedly merge every occurrence (left to right) of the adjacent pair with the lowest rank.
  while (word.size() > 1) {
    int best = INT_MAX;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) best = it->second, best_i = i;
    }
    if (best == INT_MAX) break;
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        i += 1;
      }
    }
    word = std::move(merged);
  }

  std::lock_guard<std::mutex> lock(*cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(piece, word);
  return word;
}

std::vector<std::string> ClipTokenizer::tokens(const std::string& text) const {
  const auto& bytes = byte_symbols();
  std::vector<std::string> out;
  for (const auto& chunk : split_special_tokens(text, {kStartToken, kEndToken})) {
    if (chunk.special) {
      out.push_back(chunk.text);
      continue;
    }
    const std::u32string cleaned = basic_clean(utf8_decode(chunk.text, "prompt"));
    for (const auto& piece : clip_regex_split(cleaned)) {
      std::string encoded;
      for (unsigned char b : piece) encoded += bytes[b];
      for (auto& t : bpe(encoded)) out.push_back(std::move(t));
    }
  }
  return out;
}

int64_t ClipTokenizer::token_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? end_id_ : it->second;  // unk_token is <|endoftext|>
}

std::vector<int64_t> ClipTokenizer::text_ids(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const auto& t : tokens(text)) ids.push_back(token_id(t));
  return ids;
}

ClipEncoding ClipTokenizer::encode(const std::string& text) const {
  const std::vector<int64_t> body = text_ids(text);
  const size_t keep = std::min(body.size(), static_cast<size_t>(max_length_ - 2));
  ClipEncoding enc;
  enc.ids.reserve(static_cast<size_t>(max_length_));
  enc.ids.push_back(start_id_);
  enc.ids.insert(enc.ids.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(keep));
  enc.ids.push_back(end_id_);
  enc.n_tokens = static_cast<int>(enc.ids.size());
  enc.n_tokens_untruncated = static_cast<int>(body.size() + 2);
  enc.ids.resize(static_cast<size_t>(max_length_), pad_id());
  return enc;
}

torch::Tensor ClipTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  auto out = torch::empty({static_cast<int64_t>(texts.size()), max_length_}, torch::kInt64);
  auto acc = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto enc = encode(texts[i]);
    for (int j = 0; j < max_length_; ++j) acc[static_cast<int64_t>(i)][j] = enc.ids[static_cast<size_t>(j)];
  }
  return out;
}

}  // namespace afa::text
