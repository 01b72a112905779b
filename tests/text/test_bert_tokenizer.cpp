// ImageReward's BERT tokenizer against transformers' BertTokenizer (golden metrics README, case 7:
// imagereward/imagereward_tokenizer.json, 7 prompts), the shipped vocabulary, and broken vocab files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "afa/io/sha256.h"
#include "afa/text/bert_tokenizer.h"
#include "afa/util/error.h"
#include "golden.h"
#include "test_util.h"

namespace {

using afa::text::BertTokenizer;

std::string golden_vocab() { return afa::test::golden("metrics/imagereward/bert-base-uncased-vocab.txt"); }

nlohmann::json golden_cases() {
  std::ifstream f(afa::test::golden("metrics/imagereward/imagereward_tokenizer.json"));
  EXPECT_TRUE(f.good()) << "cannot open imagereward_tokenizer.json";
  return nlohmann::json::parse(f);
}

TEST(BertTokenizer, SpecialIdsAreImageRewards) {
  const auto tok = BertTokenizer::image_reward(golden_vocab());
  const auto g = golden_cases();
  EXPECT_EQ(tok.vocab_size(), g["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.token_id("[DEC]"), g["bos_token_id"].get<int64_t>());
  EXPECT_EQ(tok.token_id("[ENC]"), g["enc_token_id"].get<int64_t>());
  EXPECT_EQ(tok.cls_id(), g["cls_token_id"].get<int64_t>());
  EXPECT_EQ(tok.sep_id(), g["sep_token_id"].get<int64_t>());
  EXPECT_EQ(tok.pad_id(), g["pad_token_id"].get<int64_t>());
  EXPECT_EQ(tok.unk_id(), 100);
  EXPECT_EQ(tok.token_id("no-such-token"), 100);
}

TEST(BertTokenizer, GoldenCasesExact) {
  const auto tok = BertTokenizer::image_reward(golden_vocab());
  const auto cases = golden_cases()["cases"];
  ASSERT_EQ(cases.size(), 7u);
  for (const auto& c : cases) {
    const std::string prompt = c["prompt"];
    const auto e = tok.encode(prompt, 35);
    EXPECT_EQ(e.input_ids, c["input_ids"].get<std::vector<int64_t>>()) << prompt;
    EXPECT_EQ(e.attention_mask, c["attention_mask"].get<std::vector<int64_t>>()) << prompt;
    // tokenize() is the text's tokens: the golden's without [CLS], [SEP] and padding (or truncation).
    std::vector<std::string> expected;
    for (const auto& t : c["tokens"]) {
      const std::string s = t;
      if (s != "[CLS]" && s != "[SEP]" && s != "[PAD]") expected.push_back(s);
    }
    auto tokens = tok.tokenize(prompt);
    EXPECT_EQ(tokens.size() > expected.size(), e.truncated()) << prompt;
    tokens.resize(std::min(tokens.size(), expected.size()));
    EXPECT_EQ(tokens, expected) << prompt;
  }
  const auto [ids, mask] = tok.encode_batch({cases[0]["prompt"], cases[1]["prompt"]});
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{2, 35}));
  EXPECT_EQ(ids[1][13].item<int64_t>(), 102);
  EXPECT_EQ(mask.sum().item<int64_t>(), 12 + 14);
}

// Rules the seven prompts do not reach, from BertTokenizer's code: special tokens stay case-sensitive,
// CJK ideographs are words of their own, decomposed accents are stripped like composed ones, control
// characters vanish, a word of more than 100 characters is [UNK].
TEST(BertTokenizer, BasicTokenizerRules) {
  const auto tok = BertTokenizer::image_reward(golden_vocab());
  using V = std::vector<std::string>;
  EXPECT_EQ(tok.tokenize("[enc]x"), (V{"[", "en", "##c", "]", "x"}));
  EXPECT_EQ(tok.tokenize("a[CLS]b"), (V{"a", "[CLS]", "b"}));
  EXPECT_EQ(tok.tokenize("\xe4\xb8\x80\xe4\xba\x8c"), (V{"\xe4\xb8\x80", "\xe4\xba\x8c"}));  // 一二
  EXPECT_EQ(tok.tokenize("cafe\xcc\x81 CAF\xc3\x89"), (V{"cafe", "cafe"}));               // e + U+0301, É
  EXPECT_EQ(tok.tokenize("a\x01\tb\xe2\x80\x8b"), (V{"a", "b"}));                         // U+0001, U+200B (Cf)
  EXPECT_EQ(tok.tokenize(std::string(101, 'a')), (V{"[UNK]"}));
  EXPECT_EQ(tok.tokenize("\xc4\xb0"), (V{"i"}));  // U+0130 -> "i" + U+0307, the mark stripped
  EXPECT_THROW(tok.tokenize("\xff"), afa::Error);
}

TEST(BertTokenizer, ShippedVocabularyIsBertBaseUncased) {
  const std::string shipped = std::string(AFA_SOURCE_DIR) + "/data/bert_tokenizer/vocab.txt";
  EXPECT_EQ(afa::io::sha256_file(shipped), golden_cases()["vocab_sha256"].get<std::string>());
}

TEST(BertTokenizer, BadVocabularyFiles) {
  afa::test::TempDir dir("bert_vocab");
  EXPECT_NE(afa::test::error_of([&] { BertTokenizer((dir.path / "none.txt").string()); }).find("cannot read"),
            std::string::npos);
  const auto path = (dir.path / "vocab.txt").string();
  std::ofstream(path) << "[PAD]\n[UNK]\n[CLS]\nhello\n";
  const auto msg = afa::test::error_of([&] { BertTokenizer{path}; });
  EXPECT_NE(msg.find("[SEP]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

}  // namespace
