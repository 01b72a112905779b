#include "afa/demo/toy_classifier.h"

#include <set>

#include "afa/io/safetensors.h"
#include "afa/util/error.h"

namespace afa::demo {

namespace {

constexpr int64_t kCells = kGrid * kGrid;
constexpr const char* kFormat = "afa-toy-classifier";

int64_t n_shapes() { return static_cast<int64_t>(shape_names().size()); }
int64_t n_colours() { return static_cast<int64_t>(colour_names().size()); }
int64_t n_sizes() { return static_cast<int64_t>(size_names().size()); }
int64_t n_backgrounds() { return static_cast<int64_t>(background_names().size()); }
int64_t n_background_colours() { return static_cast<int64_t>(background_colour_names().size()); }
int64_t n_cell_logits() { return 1 + n_shapes() + n_colours() + n_sizes(); }

// Stride-2 stages down to a 16x16 map: about 5x5 positions per grid cell, enough to tell shapes apart.
int64_t n_downsamples(int64_t image_size) {
  int64_t n = 0;
  for (int64_t s = image_size; s > 16; s /= 2) ++n;
  return n;
}

}  // namespace

nlohmann::json ToyClassifierConfig::to_json() const {
  return {{"image_size", image_size}, {"width", width}, {"hidden", hidden}};
}

ToyClassifierConfig ToyClassifierConfig::from_json(const nlohmann::json& j) {
  ToyClassifierConfig c;
  c.image_size = j.value("image_size", c.image_size);
  c.width = j.value("width", c.width);
  c.hidden = j.value("hidden", c.hidden);
  AFA_CHECK(c.image_size >= 16 && (c.image_size & (c.image_size - 1)) == 0,
            "toy classifier image_size must be a power of two >= 16 (got ", c.image_size, ")");
  AFA_CHECK(c.width >= 4 && c.hidden >= 4, "toy classifier width/hidden too small");
  return c;
}

ToyClassifierImpl::ToyClassifierImpl(const ToyClassifierConfig& config) : config_(config) {
  namespace nn = torch::nn;
  trunk_ = nn::Sequential();
  auto block = [&](int64_t in, int64_t out, int64_t stride) {
    trunk_->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
    trunk_->push_back(nn::GroupNorm(nn::GroupNormOptions(std::min<int64_t>(8, out / 2), out)));
    trunk_->push_back(nn::ReLU());
  };
  int64_t c = config.width, in = 3;
  const int64_t downs = n_downsamples(config.image_size);
  for (int64_t i = 0; i < downs; ++i) {
    block(in, c, 1);
    const int64_t next = i + 1 < downs ? std::min(c * 2, config.width * 4) : c;
    block(c, next, 2);
    in = c = next;
  }
  // Two more at 16x16 widen the receptive field to a whole cell's object.
  block(c, c, 1);
  block(c, c, 1);
  register_module("trunk", trunk_);
  cell_hidden_ = register_module("cell_hidden", nn::Conv2d(nn::Conv2dOptions(c, config.hidden, 1)));
  cell_heads_ = register_module("cell_heads", nn::Conv2d(nn::Conv2dOptions(config.hidden, n_cell_logits(), 1)));
  background_hidden_ = register_module("background_hidden", nn::Linear(c, config.hidden));
  background_heads_ =
      register_module("background_heads", nn::Linear(config.hidden, n_backgrounds() + n_background_colours()));
}

ToyLogits ToyClassifierImpl::forward(const torch::Tensor& x) {
  AFA_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == config_.image_size && x.size(3) == config_.image_size,
            "toy classifier input must be [B, 3, ", config_.image_size, ", ", config_.image_size, "], got ",
            x.sizes());
  ToyLogits out;
  auto map = trunk_->forward(x);
  // The strongest response in each cell: an object's features, wherever in its cell it sits.
  auto pooled = std::get<0>(torch::adaptive_max_pool2d(map, {kGrid, kGrid}));
  auto cells = torch::relu(cell_hidden_->forward(pooled));
  auto background = torch::relu(background_hidden_->forward(map.mean({2, 3})));
  out.features = torch::cat({cells.flatten(1), background}, 1);
  // [B, logits, 3, 3] -> [B, 9, logits], cells in row-major order as the positions.
  auto c = cell_heads_->forward(cells).flatten(2).transpose(1, 2);
  out.shape = c.narrow(2, 0, 1 + n_shapes());
  out.colour = c.narrow(2, 1 + n_shapes(), n_colours());
  out.size = c.narrow(2, 1 + n_shapes() + n_colours(), n_sizes());
  auto g = background_heads_->forward(background);
  out.background = g.narrow(1, 0, n_backgrounds());
  out.background_colour = g.narrow(1, n_backgrounds(), n_background_colours());
  return out;
}

torch::Tensor prepare_images(const torch::Tensor& hwc_u8, int64_t size) {
  auto x = hwc_u8.dim() == 3 ? hwc_u8.unsqueeze(0) : hwc_u8;
  AFA_CHECK(x.dim() == 4 && x.size(3) == 3, "images must be uint8 [B, H, W, 3], got ", hwc_u8.sizes());
  x = x.permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);
  const int64_t h = x.size(2), w = x.size(3);
  if (h == size && w == size) return x.contiguous();
  if (h == w && h % size == 0) return torch::avg_pool2d(x, h / size);
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{size, size})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

std::vector<ToyReading> read_logits(const ToyLogits& l) {
  auto shape = l.shape.argmax(2).to(torch::kCPU), colour = l.colour.argmax(2).to(torch::kCPU),
       size = l.size.argmax(2).to(torch::kCPU), bg = l.background.argmax(1).to(torch::kCPU),
       bgc = l.background_colour.argmax(1).to(torch::kCPU);
  auto s = shape.accessor<int64_t, 2>(), c = colour.accessor<int64_t, 2>(), z = size.accessor<int64_t, 2>();
  auto b = bg.accessor<int64_t, 1>(), bc = bgc.accessor<int64_t, 1>();
  std::vector<ToyReading> out(static_cast<size_t>(shape.size(0)));
  for (int64_t i = 0; i < shape.size(0); ++i) {
    auto& r = out[static_cast<size_t>(i)];
    for (int64_t k = 0; k < kCells; ++k) {
      r.shape[k] = static_cast<int>(s[i][k]) - 1;
      r.colour[k] = static_cast<int>(c[i][k]);
      r.size[k] = static_cast<int>(z[i][k]);
    }
    r.background = static_cast<int>(b[i]);
    r.background_colour = static_cast<int>(bc[i]);
  }
  return out;
}

ToyReading reading_of(const ToyScene& scene) {
  ToyReading r{};
  for (int k = 0; k < kCells; ++k) r.shape[k] = -1, r.colour[k] = 0, r.size[k] = 0;
  for (const auto& o : scene.objects) {
    r.shape[o.position] = o.shape;
    r.colour[o.position] = o.colour;
    r.size[o.position] = o.size;
  }
  r.background = scene.background;
  r.background_colour = scene.background_colour;
  return r;
}

ToyTargets targets_of(const std::vector<ToyScene>& scenes) {
  const int64_t b = static_cast<int64_t>(scenes.size());
  ToyTargets t;
  t.shape = torch::zeros({b, kCells}, torch::kLong);
  t.colour = torch::full({b, kCells}, -100, torch::kLong);
  t.size = torch::full({b, kCells}, -100, torch::kLong);
  t.background = torch::empty({b}, torch::kLong);
  t.background_colour = torch::empty({b}, torch::kLong);
  auto s = t.shape.accessor<int64_t, 2>(), c = t.colour.accessor<int64_t, 2>(), z = t.size.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& scene = scenes[static_cast<size_t>(i)];
    for (const auto& o : scene.objects) {
      s[i][o.position] = o.shape + 1;
      c[i][o.position] = o.colour;
      z[i][o.position] = o.size;
    }
    t.background[i] = scene.background;
    t.background_colour[i] = scene.background_colour;
  }
  return t;
}

torch::Tensor classifier_loss(const ToyLogits& l, const ToyTargets& t) {
  namespace F = torch::nn::functional;
  auto ce = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return F::cross_entropy(logits.reshape({-1, logits.size(-1)}), target.reshape({-1}),
                            F::CrossEntropyFuncOptions().ignore_index(-100));
  };
  // Most cells are empty: the 7-way "nothing or which shape" term alone gives shapes little weight, so
  // the shapes of occupied cells get their own term, averaged over objects as colour and size are.
  auto object_shape = torch::where(t.shape > 0, t.shape - 1, torch::full_like(t.shape, -100));
  return ce(l.shape, t.shape) + ce(l.shape.narrow(2, 1, n_shapes()), object_shape) + ce(l.colour, t.colour) +
         ce(l.size, t.size) + ce(l.background, t.background) + ce(l.background_colour, t.background_colour);
}

void save_classifier(const std::string& path, ToyClassifier& model,
                     const std::map<std::string, std::string>& extra_metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model->named_parameters()) tensors.emplace_back(p.key(), p.value().detach());
  auto meta = extra_metadata;
  meta["format"] = kFormat;
  meta["config"] = model->config().to_json().dump();
  io::save_safetensors(path, tensors, meta);
}

ToyClassifier load_classifier(const std::string& path) {
  io::SafeTensorsFile f(path);
  auto it = f.metadata().find("format");
  AFA_CHECK(it != f.metadata().end() && it->second == kFormat, path,
            ": not a toy classifier (no metadata format=", kFormat, "; make one with afa toyscore --train)");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(f.metadata().at("config"));
  } catch (const std::exception& e) {
    fail(path, ": toy classifier config in the metadata is missing or not JSON (", e.what(), ")");
  }
  ToyClassifier model(ToyClassifierConfig::from_json(config));
  torch::NoGradGuard no_grad;
  std::set<std::string> seen;
  for (auto& p : model->named_parameters()) {
    AFA_CHECK(f.contains(p.key()), path, ": tensor ", p.key(), " missing");
    auto t = f.get(p.key());
    AFA_CHECK(t.sizes() == p.value().sizes(), path, ": tensor ", p.key(), " has shape ", t.sizes(), ", expected ",
              p.value().sizes());
    p.value().copy_(t.to(torch::kFloat32));
    seen.insert(p.key());
  }
  AFA_CHECK(seen.size() == f.names().size(), path, ": holds ", f.names().size() - seen.size(),
            " tensors a toy classifier does not have");
  model->eval();
  return model;
}

}  // namespace afa::demo
