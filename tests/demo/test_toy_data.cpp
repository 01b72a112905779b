// afa toydata's folder: determinism, the held-out split, the subset files, afa train's reader.
#include <gtest/gtest.h>

#include <set>

#include "afa/demo/toy_data.h"
#include "afa/demo/toy_render.h"
#include "afa/demo/toy_split.h"
#include "afa/demo/toy_world.h"
#include "afa/io/image.h"
#include "afa/train/dataset.h"
#include "afa/util/error.h"
#include "demo_test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;
using namespace afa::demo;

ToyDataSummary make(const fs::path& dir, uint64_t seed, int64_t count = 60, int64_t heldout = 12) {
  return make_toy_data(dir, seed, count, heldout);
}

// Every regular file under `dir`, relative path -> bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_bytes(e.path());
  return out;
}

TEST(ToyData, SameSeedSameBytesOtherSeedOtherData) {
  TempDir a("data_a"), b("data_b"), c("data_c");
  make(a.path, 42);
  make(b.path, 42);
  make(c.path, 43);
  const auto sa = snapshot(a.path), sb = snapshot(b.path), sc = snapshot(c.path);
  EXPECT_EQ(sa.size(), 60u + 12u + 2u + 6u + 4u + 1u);  // images, splits, subsets, tokenizer, toydata.json
  EXPECT_TRUE(sa == sb);
  EXPECT_NE(sa.at("train.jsonl"), sc.at("train.jsonl"));
  EXPECT_NE(sa.at("train/000000.png"), sc.at("train/000000.png"));
  // A larger run starts with the smaller one's images.
  TempDir d("data_d");
  make(d.path, 42, 80, 15);
  EXPECT_EQ(read_bytes(d.path / "train" / "000059.png"), sa.at("train/000059.png"));
  EXPECT_EQ(read_bytes(d.path / "heldout" / "000011.png"), sa.at("heldout/000011.png"));
}

TEST(ToyData, LinesCarryCaptionAttributesAndSubsets) {
  TempDir dir("data_lines");
  const auto sum = make(dir.path, 5);
  EXPECT_EQ(sum.train, 60);
  EXPECT_EQ(sum.heldout, 12);
  for (const char* split : {"train", "heldout"}) {
    const auto lines = read_jsonl(dir.path / (std::string(split) + ".jsonl"));
    ASSERT_EQ(lines.size(), std::string(split) == "train" ? 60u : 12u);
    for (const auto& j : lines) {
      const std::string text = j["text"];
      const auto scene = scene_from_json(j, "line");
      EXPECT_EQ(caption(scene), text);
      EXPECT_EQ(j["subsets"].get<std::vector<std::string>>(), subsets(scene));
      EXPECT_EQ(is_held_out(text), std::string(split) == "heldout") << text;
      // The image is the scene drawn, and carries its caption.
      const std::string image = (dir.path / j["image"].get<std::string>()).string();
      const auto drawn = sample_scene(scene_seed(5, j["scene"].get<uint64_t>()));
      EXPECT_TRUE(torch::equal(io::read_image(image), render(drawn, 64)));
      EXPECT_EQ(io::read_png_text(image).at("parameters"), text);
    }
  }
  // afa train reads the file (the attribute fields are ignored).
  const auto d = train::load_dataset((dir.path / "train.jsonl").string());
  ASSERT_EQ(d.samples.size(), 60u);
  EXPECT_EQ(d.samples[0].image, (dir.path / "train" / "000000.png").string());
  EXPECT_EQ(d.samples[0].text, read_jsonl(dir.path / "train.jsonl")[0]["text"]);
}

TEST(ToyData, HeldOutCaptionsNeverAppearInTraining) {
  TempDir dir("data_split");
  make(dir.path, 9, 400, 60);
  std::set<std::string> train;
  for (const auto& j : read_jsonl(dir.path / "train.jsonl")) train.insert(j["text"].get<std::string>());
  for (const auto& j : read_jsonl(dir.path / "heldout.jsonl")) EXPECT_EQ(train.count(j["text"].get<std::string>()), 0u);
  // Nor in another seed's training set: the rule depends on the caption alone.
  for (uint64_t k = 0; k < 20000; ++k) {
    const auto text = caption(sample_scene(scene_seed(1234, k)));
    if (is_held_out(text)) {
      EXPECT_EQ(train.count(text), 0u);
    }
  }
}

TEST(ToyData, SubsetFilesAreTheTaggedLinesOfEachSplit) {
  TempDir dir("data_subsets");
  const auto sum = make(dir.path, 3, 200, 40);
  for (const auto& name : subset_names()) {
    for (const char* split : {"expert", "heldout"}) {
      const auto whole = read_jsonl(dir.path / (std::string(split) == "expert" ? "train.jsonl" : "heldout.jsonl"));
      std::vector<nlohmann::json> tagged;
      for (const auto& j : whole)
        for (const auto& t : j["subsets"])
          if (t == name) tagged.push_back(j);
      const auto lines = read_jsonl(dir.path / (std::string(split) + "_" + name + ".jsonl"));
      EXPECT_EQ(lines, tagged) << split << " " << name;
      if (std::string(split) == "expert") {
        EXPECT_EQ(int64_t(lines.size()), sum.train_subsets.count(name) ? sum.train_subsets.at(name) : 0);
        EXPECT_GT(lines.size(), 10u) << name;
      }
    }
  }
}

TEST(ToyData, BadOptionsNameTheOption) {
  TempDir dir("data_bad");
  ToyDataOptions o;
  o.output = dir.path.string();
  o.size = 100;
  EXPECT_THROW(write_toy_data(o), afa::Error);
  o.size = 64;
  o.count = 0;
  EXPECT_THROW(write_toy_data(o), afa::Error);
}

}  // namespace
}  // namespace afa::test
