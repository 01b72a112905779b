// The JSON-lines data file, the split and the image transform.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "afa/io/image.h"
#include "afa/train/dataset.h"
#include "afa/train/random_streams.h"
#include "afa/util/error.h"
#include "test_util.h"
#include "train_test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;
using train::load_dataset;

std::string write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  return p.string();
}

TEST(Dataset, ParsesBothKeyStylesAndResolvesPathsRelativeToTheFile) {
  TempDir dir("dataset");
  fs::create_directories(dir.path / "sub");
  auto file = write_file(dir.path / "sub" / "data.jsonl",
                         "{\"image\": \"a.png\", \"text\": \"a cat\"}\n"
                         "\n"
                         "{\"image_file\": \"imgs/b.jpg\", \"prompt\": \"a dog\", \"other\": 1}\r\n"
                         "{\"image\": \"/abs/c.png\", \"text\": \"\"}\n");
  auto d = load_dataset(file);
  ASSERT_EQ(d.samples.size(), 3u);
  EXPECT_EQ(d.samples[0].image, (dir.path / "sub" / "a.png").string());
  EXPECT_EQ(d.samples[0].text, "a cat");
  EXPECT_EQ(d.samples[1].image, (dir.path / "sub" / "imgs" / "b.jpg").string());
  EXPECT_EQ(d.samples[1].text, "a dog");
  EXPECT_EQ(d.samples[1].line, 3);
  EXPECT_EQ(d.samples[2].image, "/abs/c.png");
}

TEST(Dataset, ErrorsNameTheFileAndLine) {
  TempDir dir("dataset_err");
  auto bad_json = write_file(dir.path / "bad.jsonl", "{\"image\": \"a.png\", \"text\": \"x\"}\n{\"image\": \n");
  EXPECT_NE(error_of([&] { load_dataset(bad_json); }).find(bad_json + ":2: not valid JSON"), std::string::npos)
      << error_of([&] { load_dataset(bad_json); });
  auto no_text = write_file(dir.path / "nt.jsonl", "{\"image\": \"a.png\"}\n");
  EXPECT_NE(error_of([&] { load_dataset(no_text); }).find(no_text + ":1: no caption"), std::string::npos);
  auto no_image = write_file(dir.path / "ni.jsonl", "\n\n{\"text\": \"x\"}\n");
  EXPECT_NE(error_of([&] { load_dataset(no_image); }).find(no_image + ":3: no image path"), std::string::npos);
  auto not_string = write_file(dir.path / "ns.jsonl", "{\"image\": 3, \"text\": \"x\"}\n");
  EXPECT_NE(error_of([&] { load_dataset(not_string); }).find(not_string + ":1: 'image' must be a string"),
            std::string::npos);
  auto array = write_file(dir.path / "arr.jsonl", "[1, 2]\n");
  EXPECT_NE(error_of([&] { load_dataset(array); }).find(array + ":1: each line must be a JSON object"),
            std::string::npos);
  auto empty = write_file(dir.path / "empty.jsonl", "\n");
  EXPECT_NE(error_of([&] { load_dataset(empty); }).find("holds no samples"), std::string::npos);
  EXPECT_NE(error_of([&] { load_dataset((dir.path / "missing.jsonl").string()); }).find("cannot open"),
            std::string::npos);
}

TEST(Dataset, SplitIsDeterministicAndDisjoint) {
  auto a = train::split_dataset(20, 0.2, 7), b = train::split_dataset(20, 0.2, 7);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.val.size(), 4u);
  EXPECT_EQ(a.train.size(), 16u);
  std::vector<int64_t> all = a.train;
  all.insert(all.end(), a.val.begin(), a.val.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(all[i], i);
  EXPECT_EQ(train::split_dataset(20, 0.0, 7).val.size(), 0u);
  EXPECT_EQ(train::split_dataset(3, 0.01, 7).val.size(), 1u);  // a positive fraction holds out at least one
  EXPECT_THROW(train::split_dataset(2, 0.9, 7), afa::Error);
}

TEST(Dataset, ResizeShorterSideLikeTorchvision) {
  // 4x6 -> shorter side 2: 2x3 (int(2 * 6 / 4)); a bilinear halving of a linear ramp keeps it linear.
  auto img = torch::arange(0, 24, torch::kFloat32).reshape({4, 6, 1}).mul(10).repeat({1, 1, 3}).to(torch::kUInt8);
  auto r = train::resize_shorter_side(img, 2);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{3, 2, 3}));
  // align_corners=False halving samples at source coordinates 0.5, 2.5 (rows) and 0.5, 2.5, 4.5 (columns).
  auto expect = [](double y, double x) { return std::round((y * 6 + x) * 10); };
  EXPECT_EQ(r[0][0][0].item<int64_t>(), int64_t(expect(0.5, 0.5)));
  EXPECT_EQ(r[1][1][2].item<int64_t>(), int64_t(expect(2.5, 4.5)));
  // Already the right size: unchanged.
  auto same = train::resize_shorter_side(img, 4);
  EXPECT_TRUE(torch::equal(same, img.permute({2, 0, 1})));
  // 7x5 (H x W) -> width 3, height int(3 * 7 / 5) = 4.
  auto tall = train::resize_shorter_side(torch::zeros({7, 5, 3}, torch::kUInt8), 3);
  EXPECT_EQ(tall.sizes(), (std::vector<int64_t>{3, 4, 3}));
}

TEST(Dataset, TransformCropsToASquareInMinusOneToOne) {
  auto img = torch::randint(0, 256, {40, 60, 3}, torch::kUInt8);
  train::ImageTransform t;
  t.resolution = 32;
  auto gen = train::stream_generator(1, train::Stream::kAugment, 0, 0);
  auto x = train::transform_image(img, t, gen);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_GE(x.min().item<float>(), -1.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  // The same generator seed gives the same crop.
  auto gen2 = train::stream_generator(1, train::Stream::kAugment, 0, 0);
  EXPECT_TRUE(torch::equal(train::transform_image(img, t, gen2), x));
  // Centre crop of a 32x48 resize: columns 8..39.
  t.center_crop = true;
  auto c = train::transform_image(img, t, gen);
  auto resized = train::resize_shorter_side(img, 32).narrow(2, 8, 32);
  EXPECT_TRUE(torch::allclose(c, (resized.to(torch::kFloat32) / 255.0 - 0.5) / 0.5));
}

TEST(Dataset, UnreadableImagesAreSkippedWithOneWarning) {
  TempDir dir("dataset_img");
  io::write_png((dir.path / "ok.png").string(), torch::full({10, 12, 3}, 200, torch::kUInt8));
  write_file(dir.path / "corrupt.png", "\x89PNG\r\n\x1a\n this is not a png");
  train::ImageTransform t;
  t.resolution = 8;
  auto gen = train::stream_generator(0, train::Stream::kAugment);
  train::Sample ok{(dir.path / "ok.png").string(), "x", 1};
  train::Sample corrupt{(dir.path / "corrupt.png").string(), "x", 2};
  train::Sample missing{(dir.path / "missing.png").string(), "x", 3};
  auto x = train::load_training_image(ok, t, gen);
  ASSERT_TRUE(x.has_value());
  EXPECT_NEAR(x->mean().item<double>(), 200.0 / 127.5 - 1, 1e-6);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(train::load_training_image(corrupt, t, gen).has_value());
  EXPECT_FALSE(train::load_training_image(missing, t, gen).has_value());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("corrupt.png"), std::string::npos) << err;
  EXPECT_NE(err.find("missing.png"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
}

}  // namespace
}  // namespace afa::test
