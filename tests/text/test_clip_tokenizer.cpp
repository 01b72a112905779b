// CLIP tokenizer against transformers' CLIPTokenizer (golden README, case 1) and on broken files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "afa/text/clip_pretokenizer.h"
#include "afa/text/clip_tokenizer.h"
#include "afa/util/error.h"
#include "golden.h"

namespace {

using afa::text::ClipTokenizer;
namespace fs = std::filesystem;

const ClipTokenizer& golden_tokenizer() {
  static const ClipTokenizer tok = ClipTokenizer::from_folder(afa::test::golden("pipelines/A/tokenizer"));
  return tok;
}

nlohmann::json golden_cases() {
  std::ifstream f(afa::test::golden("tokenizer/token_ids.json"));
  EXPECT_TRUE(f.good()) << "cannot open tokenizer/token_ids.json";
  return nlohmann::json::parse(f);
}

TEST(ClipTokenizer, VocabularyAndSpecialIds) {
  const auto& tok = golden_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 49408u);
  EXPECT_EQ(tok.start_id(), 49406);
  EXPECT_EQ(tok.end_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.max_length(), 77);
  EXPECT_EQ(tok.token_id("no such token"), 49407);  // unk
}

// All 60 golden cases: ids (77, padded), real-token count and BPE strings.
TEST(ClipTokenizer, GoldenCasesExact) {
  const auto& tok = golden_tokenizer();
  const auto cases = golden_cases();
  ASSERT_EQ(cases.size(), 60u);
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("case " + std::to_string(i) + ": \"" + text + "\"");
    const auto expected_ids = c["input_ids"].get<std::vector<int64_t>>();
    const int n_real = c["n_real"].get<int>();
    const auto expected_tokens = c["tokens"].get<std::vector<std::string>>();

    const auto enc = tok.encode(text);
    EXPECT_EQ(enc.ids, expected_ids);
    EXPECT_EQ(enc.n_tokens, n_real);
    EXPECT_GE(enc.n_tokens_untruncated, enc.n_tokens);
    EXPECT_EQ(enc.truncated(), enc.n_tokens_untruncated > 77);

    // tokens() is the untruncated text alone; the golden strings are start + first 75 + end.
    auto body = tok.tokens(text);
    EXPECT_EQ(static_cast<int>(body.size()) + 2, enc.n_tokens_untruncated);
    if (body.size() > 75) body.resize(75);
    std::vector<std::string> got{"<|startoftext|>"};
    got.insert(got.end(), body.begin(), body.end());
    got.push_back("<|endoftext|>");
    EXPECT_EQ(got, expected_tokens);
    if (enc.ids != expected_ids || enc.n_tokens != n_real || got != expected_tokens) ++failures;
  }
  EXPECT_EQ(failures, 0);
}

TEST(ClipTokenizer, TruncationReportsUntruncatedCount) {
  const auto& tok = golden_tokenizer();
  std::string text;
  for (int i = 0; i < 100; ++i) text += "a ";
  const auto enc = tok.encode(text);
  ASSERT_EQ(enc.ids.size(), 77u);
  EXPECT_EQ(enc.n_tokens, 77);
  EXPECT_EQ(enc.n_tokens_untruncated, 102);
  EXPECT_TRUE(enc.truncated());
  EXPECT_EQ(enc.ids.front(), 49406);
  EXPECT_EQ(enc.ids.back(), 49407);
  EXPECT_EQ(enc.ids[75], tok.token_id("a</w>"));

  const auto short_enc = tok.encode("a photo");
  EXPECT_FALSE(short_enc.truncated());
  EXPECT_EQ(short_enc.n_tokens, 4);
}

TEST(ClipTokenizer, EncodeBatchAndCacheAreConsistent) {
  const auto& tok = golden_tokenizer();
  const std::vector<std::string> prompts{"a photo of an astronaut riding a horse on mars", "", "Hello, World! 123"};
  const auto batch = tok.encode_batch(prompts);
  ASSERT_EQ(batch.sizes(), (torch::IntArrayRef{3, 77}));
  ASSERT_EQ(batch.scalar_type(), torch::kInt64);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto ids = tok.encode(prompts[i]).ids;  // second pass comes from the BPE cache
    for (size_t j = 0; j < 77; ++j) EXPECT_EQ(batch[i][j].item<int64_t>(), ids[j]);
  }
}

// The README's rules, on inputs the golden cases do not spell out.
TEST(ClipTokenizer, PretokenizerRules) {
  using afa::text::basic_clean;
  using afa::text::utf8_decode;
  using afa::text::utf8_encode;
  auto clean = [](const std::string& s) { return utf8_encode(basic_clean(utf8_decode(s))); };
  EXPECT_EQ(clean("  A\tB\u3000C\u2028D\u00a0E  "), "a b c d e");   // whitespace kinds, Zl/Zp split too
  EXPECT_EQ(clean("x\u200dy\u00ady\x01z"), "xyyz");                  // Cf and Cc vanish
  EXPECT_EQ(clean("ab\xe4\xb8\xad" "cd"), "ab \xe4\xb8\xad cd");        // CJK spaced out
  EXPECT_EQ(clean("e\xcc\x81"), "\xc3\xa9");                        // NFC
  EXPECT_EQ(clean("\xc4\xb0"), "i\xcc\x87");                        // Python's 'İ'.lower()
  EXPECT_EQ(clean("\xce\xa3\xce\x91\xce\xa3"), "\xcf\x83\xce\xb1\xcf\x82");  // final sigma

  const auto split = afa::text::clip_regex_split(utf8_decode("it's 12ab!!c <|endoftext|>x"));
  const std::vector<std::string> expected{"it", "'s", "1", "2", "ab", "!!", "c", "<|endoftext|>", "x"};
  EXPECT_EQ(split, expected);
}

TEST(ClipTokenizer, LiteralSpecialTokensSplitTheText) {
  const auto& tok = golden_tokenizer();
  // "!" and the special token are separate, though the regex alone would glue "!<|".
  const auto t = tok.tokens("wow!<|endoftext|>");
  const std::vector<std::string> expected{"wow</w>", "!</w>", "<|endoftext|>"};
  EXPECT_EQ(t, expected);
}

TEST(ClipTokenizer, InvalidUtf8PromptIsAnError) {
  const auto& tok = golden_tokenizer();
  EXPECT_THROW(tok.encode("bad \xff byte"), afa::Error);
  EXPECT_THROW(tok.encode("truncated \xe4\xb8"), afa::Error);
  EXPECT_THROW(tok.encode("overlong \xc0\xaf"), afa::Error);
  EXPECT_THROW(tok.encode("surrogate \xed\xa0\x80"), afa::Error);
}

// ------------------------------------------------------------------------------------- broken files

class ClipTokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("afa_tok_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string good_vocab() {
    return write("vocab.json",
                 R"({"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4, "<|startoftext|>": 5, "<|endoftext|>": 6})");
  }
  std::string good_merges() { return write("merges.txt", "#version: 0.2\na b</w>\n"); }

  // Expects an afa::Error whose message names `path` and contains `what`.
  template <typename F>
  void expect_error(F f, const std::string& path, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "no afa::Error for " << path;
    } catch (const afa::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

TEST_F(ClipTokenizerFiles, SmallVocabularyWorks) {
  const ClipTokenizer tok(good_vocab(), good_merges());
  EXPECT_EQ(tok.start_id(), 5);
  EXPECT_EQ(tok.end_id(), 6);
  const auto enc = tok.encode("AB ba");
  const std::vector<int64_t> head{5, 4, 1, 2, 6, 6};  // "ab</w>", "b" "a</w>", end, pad
  EXPECT_EQ(std::vector<int64_t>(enc.ids.begin(), enc.ids.begin() + 6), head);
  EXPECT_EQ(enc.n_tokens, 5);
}

TEST_F(ClipTokenizerFiles, MissingFiles) {
  const std::string merges = good_merges();
  const std::string vocab = good_vocab();
  const std::string nov = (dir_ / "nope.json").string();
  const std::string nom = (dir_ / "nope.txt").string();
  expect_error([&] { ClipTokenizer t(nov, merges); }, nov, "cannot open");
  expect_error([&] { ClipTokenizer t(vocab, nom); }, nom, "cannot open");
  const std::string empty_dir = (dir_ / "empty").string();
  fs::create_directories(empty_dir);
  expect_error([&] { ClipTokenizer::from_folder(empty_dir); }, empty_dir + "/vocab.json", "cannot open");
}

TEST_F(ClipTokenizerFiles, BadVocab) {
  const std::string merges = good_merges();
  std::string v = write("v1.json", "{\"a\": 0, ");
  expect_error([&] { ClipTokenizer t(v, merges); }, v, "invalid JSON");
  v = write("v2.json", "[1, 2]");
  expect_error([&] { ClipTokenizer t(v, merges); }, v, "JSON object");
  v = write("v3.json", R"({"a": "zero", "<|startoftext|>": 1, "<|endoftext|>": 2})");
  expect_error([&] { ClipTokenizer t(v, merges); }, v, "\"a\"");
  v = write("v4.json", R"({"a": 0, "<|startoftext|>": 1})");
  expect_error([&] { ClipTokenizer t(v, merges); }, v, "<|endoftext|>");
}

TEST_F(ClipTokenizerFiles, BadMerges) {
  const std::string vocab = good_vocab();
  std::string m = write("m1.txt", "a b\nb a\n");
  expect_error([&] { ClipTokenizer t(vocab, m); }, m, "#version");
  m = write("m2.txt", "#version: 0.2\na b\na b c\n");
  expect_error([&] { ClipTokenizer t(vocab, m); }, m, "line 3");
  m = write("m3.txt", "#version: 0.2\n\n");
  expect_error([&] { ClipTokenizer t(vocab, m); }, m, "no merges");
  m = write("m4.txt", "");
  expect_error([&] { ClipTokenizer t(vocab, m); }, m, "#version");
}

}  // namespace
