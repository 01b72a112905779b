#include "afa/demo/toy_score.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "afa/io/image.h"
#include "afa/train/dataset.h"
#include "afa/util/error.h"

namespace afa::demo {

namespace fs = std::filesystem;

nlohmann::json FidelityTally::add(const ToyScene& expected, const ToyReading& read) {
  ++images;
  nlohmann::json rec{{"position", nlohmann::json::array()},
                     {"shape", nlohmann::json::array()},
                     {"colour", nlohmann::json::array()},
                     {"size", nlohmann::json::array()}};
  bool all_right = true;
  bool cells[kGrid * kGrid] = {};
  for (const auto& o : expected.objects) {
    const int k = o.position;
    cells[k] = true;
    const bool present = read.shape[k] >= 0;
    const bool ok_shape = present && read.shape[k] == o.shape, ok_colour = present && read.colour[k] == o.colour,
               ok_size = present && read.size[k] == o.size;
    ++objects;
    position += present, shape += ok_shape, colour += ok_colour, size += ok_size;
    rec["position"].push_back(present), rec["shape"].push_back(ok_shape), rec["colour"].push_back(ok_colour),
        rec["size"].push_back(ok_size);
    all_right = all_right && ok_shape && ok_colour && ok_size;
  }
  bool exact = true;
  for (int k = 0; k < kGrid * kGrid; ++k) exact = exact && (read.shape[k] >= 0) == cells[k];
  const bool ok_bg = read.background == expected.background,
             ok_bgc = read.background_colour == expected.background_colour;
  background += ok_bg, background_colour += ok_bgc, object_set += exact;
  all_right = all_right && ok_bg && ok_bgc && exact;
  all += all_right;
  rec["background"] = ok_bg;
  rec["background_colour"] = ok_bgc;
  rec["objects"] = exact;
  rec["all"] = all_right;
  return rec;
}

nlohmann::json FidelityTally::accuracy() const {
  auto frac = [](int64_t a, int64_t n) { return n ? double(a) / double(n) : 0.0; };
  return {{"position", frac(position, objects)},
          {"shape", frac(shape, objects)},
          {"colour", frac(colour, objects)},
          {"size", frac(size, objects)},
          {"background", frac(background, images)},
          {"background_colour", frac(background_colour, images)},
          {"objects", frac(object_set, images)},
          {"all", frac(all, images)}};
}

double FidelityTally::worst_attribute() const {
  const auto a = accuracy();
  double w = 1.0;
  for (const char* k : {"position", "shape", "colour", "size", "background", "background_colour"})
    w = std::min(w, a[k].get<double>());
  return w;
}

std::vector<CaptionedImage> load_captioned_images(const std::string& path) {
  AFA_CHECK(fs::exists(path), path, ": no such file or folder");
  std::vector<CaptionedImage> out;
  if (!fs::is_directory(path)) {
    for (const auto& s : train::load_dataset(path).samples) out.push_back({s.image, s.text});
    return out;
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path)) {
    auto ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (e.is_regular_file() && ext == ".png") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  AFA_CHECK(!files.empty(), path, ": no PNG images in the folder");
  for (const auto& f : files) {
    const auto text = io::read_png_text(f);
    auto it = text.find("parameters");
    AFA_CHECK(it != text.end(), f, ": no caption (no \"parameters\" text chunk; pass a JSON-lines file instead)");
    out.push_back({f, it->second.substr(0, it->second.find('\n'))});
  }
  return out;
}

torch::Tensor read_images(const std::vector<CaptionedImage>& items) {
  AFA_CHECK(!items.empty(), "no images to read");
  std::vector<torch::Tensor> images;
  images.reserve(items.size());
  for (const auto& it : items) {
    images.push_back(io::read_image(it.image));
    AFA_CHECK(images.back().sizes() == images.front().sizes(), it.image, ": size ", images.back().sizes(),
              " differs from the first image's ", images.front().sizes());
  }
  return torch::stack(images);
}

std::vector<ToyScene> parse_captions(const std::vector<CaptionedImage>& items) {
  std::vector<ToyScene> out;
  out.reserve(items.size());
  for (const auto& it : items) {
    auto s = parse_caption(it.text);
    AFA_CHECK(s.has_value(), it.image, ": caption \"", it.text, "\" is not a toy-world caption");
    out.push_back(*s);
  }
  return out;
}

ClassifierOutput run_classifier(ToyClassifier& model, const torch::Tensor& images_u8, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model->eval();
  ClassifierOutput out;
  std::vector<torch::Tensor> features;
  for (int64_t i = 0; i < images_u8.size(0); i += batch_size) {
    const int64_t n = std::min(batch_size, images_u8.size(0) - i);
    auto logits = model->forward(prepare_images(images_u8.narrow(0, i, n), model->config().image_size));
    for (auto& r : read_logits(logits)) out.readings.push_back(r);
    features.push_back(logits.features);
  }
  out.features = torch::cat(features);
  return out;
}

std::vector<size_t> shuffled_pairing(size_t n, uint64_t seed) {
  AFA_CHECK(n >= 2, "shuffled pairs need at least 2 images");
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = i;
  SplitMix64 rng(seed);
  for (size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[size_t(rng.below(int(i + 1)))]);
  std::vector<size_t> caption_of(n);
  for (size_t i = 0; i < n; ++i) caption_of[perm[i]] = perm[(i + 1) % n];
  return caption_of;
}

}  // namespace afa::demo
