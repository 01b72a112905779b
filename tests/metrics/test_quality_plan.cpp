// afa bench-quality's plan (names, seeds, shards, what is left to do) and the image -> prompt conventions
// afa eval reads (text lines in sorted order, JSON-lines manifests by name).
#include <gtest/gtest.h>

#include <fstream>

#include "afa/metrics/image_prompts.h"
#include "afa/metrics/quality_plan.h"
#include "afa/util/error.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

TEST(QualityPlan, ShardsSplitPromptsAndSeedsFollowThePrompt) {
  const std::vector<std::string> prompts{"a", "b", "c", "d", "e"};
  const auto all = plan_quality_run(prompts, 4, 100, Shard::parse("0/1"));
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3].seed, 103u);
  EXPECT_EQ(all[3].images, (std::vector<std::string>{"p000003_0.png", "p000003_1.png", "p000003_2.png", "p000003_3.png"}));
  size_t seen = 0;
  for (int i = 0; i < 3; ++i) {
    const auto part = plan_quality_run(prompts, 4, 100, Shard::parse(std::to_string(i) + "/3"));
    for (const auto& j : part) {
      EXPECT_EQ(j.prompt_index % 3, i);
      EXPECT_EQ(j.seed, all[size_t(j.prompt_index)].seed);  // the same images whatever the sharding
      EXPECT_EQ(j.images, all[size_t(j.prompt_index)].images);
    }
    seen += part.size();
  }
  EXPECT_EQ(seen, 5u);
  EXPECT_EQ(Shard::parse("1/3").suffix(), ".shard-1-of-3");
  EXPECT_EQ(Shard::parse("0/1").suffix(), "");
  for (const char* bad : {"3/3", "-1/2", "1", "a/b", "1/0", "1/2x"}) EXPECT_THROW(Shard::parse(bad), afa::Error) << bad;
}

TEST(QualityPlan, MissingImagesAreThoseNotWritten) {
  TempDir dir("quality_plan");
  const auto job = plan_quality_run({"x"}, 3, 0, Shard())[0];
  std::ofstream(dir.path / job.images[1]) << "png";
  std::ofstream(dir.path / job.images[2]);  // empty: not a written image
  EXPECT_EQ(missing_images(job, dir.path.string()), (std::vector<int64_t>{0, 2}));
}

TEST(ImagePrompts, ManifestsByNameAndTextByOrder) {
  TempDir dir("image_prompts");
  const auto a = (dir.path / "a").string(), b = (dir.path / "b").string();
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);
  write_prompt_manifest(a + "/prompts.shard-0-of-2.jsonl", {{"p0.png", "cat"}, {"p2.png", "dog \"x\""}});
  std::ofstream(b + "/prompts.shard-1-of-2.jsonl") << "{\"file_name\": \"sub/p1.png\", \"text\": \"caf\xc3\xa9\"}\n\n";
  const std::vector<std::string> files{a + "/p0.png", b + "/p1.png", a + "/p2.png"};
  EXPECT_EQ(prompts_for_images(files, "", {a, b}), (std::vector<std::string>{"cat", "caf\xc3\xa9", "dog \"x\""}));
  // One manifest alone lacks p1.png: the error names the image.
  std::string msg = error_of([&] { prompts_for_images(files, a + "/prompts.shard-0-of-2.jsonl", {a, b}); });
  EXPECT_NE(msg.find("p1.png: no prompt"), std::string::npos) << msg;
  // A text file: one line per image in order, the count checked.
  std::ofstream(dir.path / "p.txt") << "one\ntwo\r\nthree\n";
  EXPECT_EQ(prompts_for_images(files, (dir.path / "p.txt").string(), {a, b}),
            (std::vector<std::string>{"one", "two", "three"}));
  msg = error_of([&] { prompts_for_images({files[0]}, (dir.path / "p.txt").string(), {a}); });
  EXPECT_NE(msg.find("has 3 prompts but"), std::string::npos) << msg;
  // Conflicting manifests and broken lines.
  write_prompt_manifest(b + "/prompts.jsonl", {{"p0.png", "not a cat"}});
  msg = error_of([&] { prompts_for_images(files, "", {a, b}); });
  EXPECT_NE(msg.find("p0.png has another prompt"), std::string::npos) << msg;
  std::ofstream(dir.path / "bad.jsonl") << "{\"image\": \"p0.png\"}\n";
  msg = error_of([&] { read_prompt_manifest((dir.path / "bad.jsonl").string()); });
  EXPECT_NE(msg.find("line 1: no \"prompt\""), std::string::npos) << msg;
  EXPECT_THROW(prompts_for_images(files, "", {dir.path.string() + "/none"}), afa::Error);
}

}  // namespace
}  // namespace afa::test
