#include "afa/metrics/image_folder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "afa/io/image.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

namespace {

std::string lower_extension(const fs::path& p) {
  std::string e = p.extension().string();
  if (!e.empty() && e[0] == '.') e.erase(0, 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e;
}

}  // namespace

std::vector<std::string> list_image_files(const std::string& folder) {
  std::error_code ec;
  AFA_CHECK(fs::is_directory(folder, ec), folder, ": not a folder of images");
  static const std::set<std::string> readable{"png", "jpg", "jpeg"};
  static const std::set<std::string> other_images{"bmp", "pgm", "ppm", "tif", "tiff", "webp"};
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = lower_extension(entry.path());
    if (readable.count(ext)) {
      files.push_back(entry.path().string());
    } else if (other_images.count(ext)) {
      fail(entry.path().string(), ": afa reads PNG and JPEG images only (convert the folder's .", ext,
           " files, or move them out)");
    }
  }
  AFA_CHECK(!files.empty(), folder, ": no .png, .jpg or .jpeg images in this folder");
  std::sort(files.begin(), files.end());
  return files;
}

void for_each_image_batch(const std::vector<std::string>& files, int64_t batch_size,
                          const std::function<void(const torch::Tensor&)>& fn) {
  AFA_CHECK(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  std::vector<torch::Tensor> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    fn(torch::stack(batch).permute({0, 3, 1, 2}).contiguous());
    batch.clear();
  };
  for (const auto& f : files) {
    auto img = io::read_image(f);  // uint8 [H, W, 3]
    if (!batch.empty() && (img.sizes() != batch.front().sizes() || int64_t(batch.size()) == batch_size)) flush();
    batch.push_back(std::move(img));
  }
  flush();
}

}  // namespace afa::metrics
