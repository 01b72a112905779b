// Folders of images for afa eval, and where the metric weights are looked for.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "afa/io/image.h"
#include "afa/metrics/image_folder.h"
#include "afa/metrics/metric_weights.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;
namespace fs = std::filesystem;

torch::Tensor solid(int64_t h, int64_t w, int value) {
  return torch::full({h, w, 3}, value, torch::kUInt8);
}

TEST(ImageFolder, ListsImagesSortedNotRecursiveAnyCase) {
  TempDir dir("image_folder_list");
  io::write_png((dir.path / "b.png").string(), solid(4, 5, 1));
  io::write_png((dir.path / "a.PNG").string(), solid(4, 5, 2));
  io::write_png((dir.path / "c.jpeg").string(), solid(4, 5, 3));  // PNG bytes: decoding goes by signature
  std::ofstream((dir.path / "notes.txt").string()) << "not an image";
  fs::create_directories(dir.path / "sub");
  io::write_png((dir.path / "sub" / "d.png").string(), solid(4, 5, 4));
  const auto files = list_image_files(dir.path.string());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(fs::path(files[0]).filename(), "a.PNG");
  EXPECT_EQ(fs::path(files[1]).filename(), "b.png");
  EXPECT_EQ(fs::path(files[2]).filename(), "c.jpeg");
}

TEST(ImageFolder, RefusesWhatItCannotReadInsteadOfSkippingIt) {
  TempDir dir("image_folder_refuse");
  EXPECT_NE(error_of([&] { list_image_files(dir.path.string()); }).find("no .png, .jpg or .jpeg images"), std::string::npos);
  EXPECT_NE(error_of([&] { list_image_files((dir.path / "missing").string()); }).find("not a folder"), std::string::npos);
  io::write_png((dir.path / "a.png").string(), solid(4, 5, 1));
  std::ofstream((dir.path / "b.webp").string()) << "x";
  const auto msg = error_of([&] { list_image_files(dir.path.string()); });
  EXPECT_NE(msg.find("b.webp"), std::string::npos) << msg;
  EXPECT_NE(msg.find("PNG and JPEG"), std::string::npos) << msg;
}

TEST(ImageFolder, BatchesConsecutiveImagesOfOneSize) {
  TempDir dir("image_folder_batches");
  const std::vector<std::pair<int64_t, int>> sizes{{4, 1}, {4, 2}, {4, 3}, {6, 4}, {4, 5}};
  std::vector<std::string> files;
  for (size_t i = 0; i < sizes.size(); ++i) {
    files.push_back((dir.path / ("img" + std::to_string(i) + ".png")).string());
    io::write_png(files.back(), solid(sizes[i].first, 7, sizes[i].second));
  }
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int> firsts;
  for_each_image_batch(files, 2, [&](const torch::Tensor& b) {
    shapes.push_back(b.sizes().vec());
    firsts.push_back(b[0][0][0][0].item<uint8_t>());
    EXPECT_EQ(b.scalar_type(), torch::kUInt8);
  });
  // Batches of <= 2, split where the size changes; order kept; NCHW.
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{{2, 3, 4, 7}, {1, 3, 4, 7}, {1, 3, 6, 7}, {1, 3, 4, 7}}));
  EXPECT_EQ(firsts, (std::vector<int>{1, 3, 4, 5}));
}

TEST(MetricWeights, FolderComesFromFlagThenEnvironmentThenHome) {
  const char* old = std::getenv("AFA_WEIGHTS");
  const std::string saved = old ? old : "";
  setenv("AFA_WEIGHTS", "/from/env", 1);
  EXPECT_EQ(weights_folder("/from/flag"), "/from/flag");
  EXPECT_EQ(weights_folder(""), "/from/env");
  unsetenv("AFA_WEIGHTS");
  if (const char* home = std::getenv("HOME")) {
    EXPECT_EQ(weights_folder(""), std::string(home) + "/.cache/afa/weights");
  }
  if (old) setenv("AFA_WEIGHTS", saved.c_str(), 1);
}

TEST(MetricWeights, AMissingFileSaysWhoNeedsItWhereAndWhence) {
  TempDir dir("metric_weights");
  const auto msg = error_of([&] { require_weights_file(dir.path.string(), kFidInceptionWeights, "FID and IS"); });
  EXPECT_NE(msg.find("FID and IS needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find((dir.path / "pt_inception-2015-12-05.safetensors").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("pt_inception-2015-12-05-6726825d.pth"), std::string::npos) << msg;
  std::ofstream((dir.path / "pt_inception-2015-12-05.safetensors").string()) << "x";
  EXPECT_EQ(require_weights_file(dir.path.string(), kFidInceptionWeights, "FID"),
            (dir.path / "pt_inception-2015-12-05.safetensors").string());
}

}  // namespace
}  // namespace afa::test
