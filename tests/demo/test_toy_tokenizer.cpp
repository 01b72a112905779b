// The toy CLIP vocabulary: CLIP's file format, loaded by the project's tokenizer, one token per word.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "afa/demo/toy_tokenizer.h"
#include "afa/demo/toy_world.h"
#include "afa/text/clip_tokenizer.h"
#include "demo_test_util.h"

namespace afa::test {
namespace {

using namespace afa::demo;

TEST(ToyTokenizer, FilesHaveClipsLayout) {
  TempDir dir("tok_files");
  const int64_t n = write_toy_tokenizer((dir.path / "tokenizer").string());
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(std::filesystem::exists(dir.path / "tokenizer" / f)) << f;
  const auto vocab = nlohmann::json::parse(read_bytes(dir.path / "tokenizer" / "vocab.json"));
  EXPECT_EQ(int64_t(vocab.size()), n);
  EXPECT_EQ(vocab["<|startoftext|>"], n - 2);
  EXPECT_EQ(vocab["<|endoftext|>"], n - 1);
  // The 512 byte symbols have CLIP's own ids.
  const auto clip = nlohmann::json::parse(read_bytes(std::string(AFA_SOURCE_DIR) + "/data/clip_tokenizer/vocab.json"));
  int checked = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (it.value().get<int64_t>() >= 512) continue;
    EXPECT_EQ(clip.at(it.key()), it.value()) << it.key();
    ++checked;
  }
  EXPECT_EQ(checked, 512);
  std::ifstream merges(dir.path / "tokenizer" / "merges.txt");
  std::string first;
  std::getline(merges, first);
  EXPECT_EQ(first, "#version: 0.2");
  const auto config = nlohmann::json::parse(read_bytes(dir.path / "tokenizer" / "tokenizer_config.json"));
  EXPECT_EQ(config["tokenizer_class"], "CLIPTokenizer");
  EXPECT_EQ(config["model_max_length"], 77);
  // Deterministic.
  TempDir again("tok_files2");
  write_toy_tokenizer(again.path.string());
  for (const char* f : {"vocab.json", "merges.txt"})
    EXPECT_EQ(read_bytes(dir.path / "tokenizer" / f), read_bytes(again.path / f)) << f;
}

TEST(ToyTokenizer, EveryCaptionIsOneTokenPerWord) {
  TempDir dir("tok_words");
  write_toy_tokenizer(dir.path.string());
  auto tok = text::ClipTokenizer::from_folder(dir.path.string());
  for (const auto& w : caption_words()) {
    EXPECT_EQ(tok.tokens(w), std::vector<std::string>{w + "</w>"}) << w;
    EXPECT_GE(tok.token_id(w + "</w>"), 256) << w;
  }
  // Every caption the generator makes (all shapes, colours, sizes, positions and backgrounds occur).
  for (uint64_t k = 0; k < 3000; ++k) {
    const auto text = caption(sample_scene(scene_seed(2, k)));
    std::istringstream ss(text);
    std::vector<std::string> expect;
    std::string w;
    while (ss >> w) expect.push_back(w + "</w>");
    ASSERT_EQ(tok.tokens(text), expect) << text;
    const auto enc = tok.encode(text);
    ASSERT_FALSE(enc.truncated()) << text;
    for (int i = 1; i + 1 < enc.n_tokens; ++i) ASSERT_LT(enc.ids[size_t(i)], tok.start_id());
  }
  // Other words still tokenize, into pieces.
  EXPECT_GT(tok.tokens("zebra").size(), 1u);
}

}  // namespace
}  // namespace afa::test
