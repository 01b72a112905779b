#include "afa/demo/toy_classifier_train.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "afa/util/error.h"
#include "afa/util/progress.h"

namespace afa::demo {

namespace fs = std::filesystem;

nlohmann::json ValidationResult::to_json() const {
  return {{"images", images},
          {"true_pairs", true_pairs.accuracy()},
          {"shuffled_pairs", shuffled_pairs.accuracy()},
          {"chance", chance.accuracy()}};
}

ValidationResult validate_classifier(ToyClassifier& model, const std::vector<CaptionedImage>& items, uint64_t seed) {
  ValidationResult v;
  const auto scenes = parse_captions(items);
  const auto out = run_classifier(model, read_images(items));
  v.images = static_cast<int64_t>(items.size());
  for (size_t i = 0; i < items.size(); ++i) v.true_pairs.add(scenes[i], out.readings[i]);
  if (items.size() >= 2) {
    const auto caption_of = shuffled_pairing(items.size(), seed);
    for (size_t i = 0; i < items.size(); ++i) {
      v.shuffled_pairs.add(scenes[caption_of[i]], out.readings[i]);
      v.chance.add(scenes[caption_of[i]], reading_of(scenes[i]));
    }
  }
  return v;
}

namespace {

// Random blur (a 3x3 box mixed in with a random weight, on half the samples) and Gaussian noise.
torch::Tensor augment(const torch::Tensor& x, at::Generator& gen) {
  const int64_t b = x.size(0);
  auto blurred = torch::avg_pool2d(x, 3, 1, 1, false, false);
  auto amount = torch::rand({b, 1, 1, 1}, gen) * (torch::rand({b, 1, 1, 1}, gen) < 0.5).to(torch::kFloat32);
  auto sigma = torch::rand({b, 1, 1, 1}, gen) * 0.06;
  return x + amount * (blurred - x) + sigma * torch::randn(x.sizes(), gen);
}

}  // namespace

ToyClassifierTrainResult train_classifier(const ToyClassifierTrainOptions& o) {
  AFA_CHECK(!o.data.empty(), "toyscore --train: --data is required");
  AFA_CHECK(o.epochs >= 1, "--epochs must be at least 1 (got ", o.epochs, ")");
  AFA_CHECK(o.batch_size >= 1, "--batch-size must be at least 1 (got ", o.batch_size, ")");
  AFA_CHECK(o.lr > 0, "--lr must be positive (got ", o.lr, ")");
  const bool folder = fs::is_directory(o.data);
  const std::string train_file = folder ? (fs::path(o.data) / "train.jsonl").string() : o.data;
  std::string val_file = o.validation;
  if (val_file.empty() && folder && fs::exists(fs::path(o.data) / "heldout.jsonl"))
    val_file = (fs::path(o.data) / "heldout.jsonl").string();

  auto items = load_captioned_images(train_file);
  if (o.limit > 0 && int64_t(items.size()) > o.limit) items.resize(size_t(o.limit));
  const auto scenes = parse_captions(items);
  const auto images = read_images(items);
  AFA_CHECK(images.size(1) == images.size(2) && images.size(1) >= 16 && (images.size(1) & (images.size(1) - 1)) == 0,
            train_file, ": the classifier needs square images of a power-of-two size, got ", images.size(1), "x",
            images.size(2));
  const int64_t n = images.size(0);

  ToyClassifierConfig config = o.config;
  config.image_size = images.size(1);
  torch::manual_seed(o.seed);
  ToyClassifierTrainResult r;
  r.model = ToyClassifier(config);
  r.train_images = n;
  torch::optim::AdamW opt(r.model->parameters(),
                          torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed ^ 0x5EEDull);

  const int64_t steps_per_epoch = (n + o.batch_size - 1) / o.batch_size, total = steps_per_epoch * o.epochs;
  ProgressBar bar("toyscore train", total, o.progress && ProgressBar::stderr_is_terminal());
  std::vector<int64_t> order(static_cast<size_t>(n));
  int64_t step = 0;
  double epoch_loss = 0;
  r.model->train();
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    SplitMix64 rng(o.seed * 1000003u + static_cast<uint64_t>(epoch));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng.below(int(i + 1)))]);
    epoch_loss = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      const int64_t begin = s * o.batch_size, count = std::min(o.batch_size, n - begin);
      auto idx = torch::from_blob(order.data() + begin, {count}, torch::kLong).clone();
      std::vector<ToyScene> batch_scenes;
      for (int64_t k = 0; k < count; ++k) batch_scenes.push_back(scenes[size_t(order[size_t(begin + k)])]);
      auto x = prepare_images(images.index_select(0, idx), config.image_size);
      if (o.augment) x = augment(x, gen);
      // Linear decay of the learning rate to zero.
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(o.lr * (1.0 - double(step) / double(total)));
      opt.zero_grad();
      auto loss = classifier_loss(r.model->forward(x), targets_of(batch_scenes));
      loss.backward();
      opt.step();
      epoch_loss += loss.item<double>() * double(count);
      std::ostringstream extra;
      extra << "epoch " << epoch + 1 << " loss " << std::setprecision(4) << loss.item<double>();
      bar.update(step + 1, extra.str());
    }
    epoch_loss /= double(n);
    if (!bar.enabled() && o.progress)
      std::cerr << "toyscore train: epoch " << epoch + 1 << "/" << o.epochs << " loss " << epoch_loss << "\n";
  }
  bar.finish();
  r.final_loss = epoch_loss;
  r.model->eval();

  if (!val_file.empty()) r.validation = validate_classifier(r.model, load_captioned_images(val_file), o.seed);
  if (!o.output.empty()) {
    std::map<std::string, std::string> meta{{"train_data", train_file},
                                            {"train_images", std::to_string(n)},
                                            {"epochs", std::to_string(o.epochs)},
                                            {"seed", std::to_string(o.seed)},
                                            {"final_loss", std::to_string(r.final_loss)}};
    if (r.validation.images > 0) meta["validation"] = r.validation.to_json().dump();
    save_classifier(o.output, r.model, meta);
  }
  return r;
}

}  // namespace afa::demo
