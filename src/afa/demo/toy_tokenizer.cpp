#include "afa/demo/toy_tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "afa/util/atomic_file.h"
#include "afa/demo/toy_world.h"
#include "afa/util/error.h"

namespace afa::demo {

namespace {

// One code point (< 0x800) as UTF-8.
std::string utf8(unsigned cp) {
  if (cp < 0x80) return std::string(1, char(cp));
  return {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
}

// GPT-2's bytes_to_unicode values in its dict order: printable bytes first (as themselves), then the
// other bytes, in byte order, as U+0100, U+0101, ...
std::vector<std::string> byte_symbols_in_vocab_order() {
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b)
    if (printable(b)) v.push_back(utf8(unsigned(b)));
  unsigned next = 256;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) v.push_back(utf8(next++));
  return v;
}

// Merges every non-overlapping occurrence of (a, b), left to right, as CLIP's BPE applies a merge.
void apply_merge(std::vector<std::string>& w, const std::string& a, const std::string& b) {
  std::vector<std::string> out;
  for (size_t i = 0; i < w.size();) {
    if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
      out.push_back(a + b);
      i += 2;
    } else {
      out.push_back(w[i++]);
    }
  }
  w = std::move(out);
}

}  // namespace

ToyVocabulary toy_vocabulary() {
  ToyVocabulary v;
  v.tokens = byte_symbols_in_vocab_order();
  for (size_t i = 0; i < 256; ++i) v.tokens.push_back(v.tokens[i] + "</w>");
  // BPE training: merge the most frequent adjacent pair (ties: the smallest pair) until every word is
  // one symbol. The words are ASCII letters, so each is its own byte symbol.
  std::vector<std::vector<std::string>> words;
  for (const auto& word : caption_words()) {
    std::vector<std::string> w;
    for (char c : word) w.push_back(std::string(1, c));
    w.back() += "</w>";
    words.push_back(w);
  }
  std::set<std::string> known(v.tokens.begin(), v.tokens.end());
  for (;;) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.size(); ++i) ++counts[{w[i], w[i + 1]}];
    if (counts.empty()) break;
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [a, b] = best->first;
    v.merges.push_back({a, b});
    if (known.insert(a + b).second) v.tokens.push_back(a + b);
    for (auto& w : words) apply_merge(w, a, b);
  }
  v.tokens.push_back("<|startoftext|>");
  v.tokens.push_back("<|endoftext|>");
  return v;
}

int64_t write_toy_tokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  AFA_CHECK(!ec && fs::is_directory(dir), dir, ": cannot create the tokenizer folder (", ec.message(), ")");
  const ToyVocabulary v = toy_vocabulary();

  // vocab.json in id order (nlohmann's ordered_json keeps insertion order, as CLIP's file is by id).
  nlohmann::ordered_json vocab;
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  write_text_atomic((fs::path(dir) / "vocab.json").string(), vocab.dump() + "\n");

  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : v.merges) merges += a + " " + b + "\n";
  write_text_atomic((fs::path(dir) / "merges.txt").string(), merges);

  auto added = [](const char* content) {
    return nlohmann::ordered_json{{"content", content}, {"lstrip", false}, {"normalized", true},
                                  {"rstrip", false},    {"single_word", false}};
  };
  nlohmann::ordered_json special{{"bos_token", added("<|startoftext|>")},
                                 {"eos_token", added("<|endoftext|>")},
                                 {"pad_token", "<|endoftext|>"},
                                 {"unk_token", added("<|endoftext|>")}};
  write_text_atomic((fs::path(dir) / "special_tokens_map.json").string(), special.dump(2) + "\n");

  auto typed = [&](const char* content) {
    nlohmann::ordered_json j{{"__type", "AddedToken"}};
    const auto fields = added(content);
    for (const auto& [k, val] : fields.items()) j[k] = val;
    return j;
  };
  nlohmann::ordered_json config{{"add_prefix_space", false},
                                {"bos_token", typed("<|startoftext|>")},
                                {"clean_up_tokenization_spaces", true},
                                {"do_lower_case", true},
                                {"eos_token", typed("<|endoftext|>")},
                                {"errors", "replace"},
                                {"model_max_length", 77},
                                {"pad_token", "<|endoftext|>"},
                                {"tokenizer_class", "CLIPTokenizer"},
                                {"unk_token", typed("<|endoftext|>")}};
  write_text_atomic((fs::path(dir) / "tokenizer_config.json").string(), config.dump(2) + "\n");
  return static_cast<int64_t>(v.tokens.size());
}

}  // namespace afa::demo
