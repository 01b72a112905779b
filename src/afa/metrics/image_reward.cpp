#include "afa/metrics/image_reward.h"

#include <cstdlib>
#include <filesystem>

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/image_folder.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

namespace {

struct Named : torch::nn::Module {};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ImageRewardImpl::ImageRewardImpl(const ImageRewardConfig& cfg) : cfg_(cfg) {
  AFA_CHECK(cfg.text.encoder_width == cfg.vision.embed_dim, "ImageReward: the text encoder's encoder_width ",
            cfg.text.encoder_width, " differs from the image encoder's width ", cfg.vision.embed_dim);
  auto blip = register_module("blip", std::make_shared<Named>());
  visual_encoder = blip->register_module("visual_encoder", BlipVit(cfg.vision));
  text_encoder = blip->register_module("text_encoder", MedBertModel(cfg.text));
  mlp = register_module("mlp", AestheticPredictor(cfg.text.hidden_size));
  eval();
}

torch::Tensor ImageRewardImpl::image_embeds(const torch::Tensor& pixel_values) {
  return visual_encoder->forward(pixel_values);
}

torch::Tensor ImageRewardImpl::text_features(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                             const torch::Tensor& image_embeds) {
  return text_encoder->forward(input_ids, attention_mask, image_embeds).select(1, 0);
}

torch::Tensor ImageRewardImpl::raw_reward(const torch::Tensor& text_features) { return mlp->forward(text_features); }

torch::Tensor ImageRewardImpl::reward(const torch::Tensor& text_features) {
  return (raw_reward(text_features) - cfg_.mean) / cfg_.std;
}

void load_image_reward_weights(ImageReward& model, const io::StateDict& weights, const std::string& source) {
  io::StateDict sd;
  for (const auto& [name, t] : weights) {
    if (ends_with(name, "position_ids") || starts_with(name, "blip.vision_proj.") ||
        starts_with(name, "blip.text_proj."))
      continue;
    sd.emplace(name, t);
  }
  io::load_state_dict(*model, sd, source);
}

ImageRewardConfig image_reward_config_for(const std::string& safetensors_path) {
  const std::string json = fs::path(safetensors_path).replace_extension(".json").string();
  std::error_code ec;
  return fs::is_regular_file(json, ec) ? ImageRewardConfig::from_file(json) : ImageRewardConfig();
}

ImageReward load_image_reward(const std::string& safetensors_path, const ImageRewardConfig& cfg,
                              const torch::Device& device) {
  auto model = models::build_for_loading<ImageReward>(cfg);
  load_image_reward_weights(model, io::load_safetensors(safetensors_path), safetensors_path);
  model->eval();
  model->to(device);
  return model;
}

std::string default_bert_vocab() {
  if (const char* env = std::getenv("AFA_DATA_DIR"); env && *env)
    return (fs::path(env) / "bert_tokenizer" / "vocab.txt").string();
  return (fs::path(AFA_DATA_DIR) / "bert_tokenizer" / "vocab.txt").string();
}

torch::Tensor image_reward_scores(ImageReward& model, const text::BertTokenizer& tokenizer,
                                  const std::vector<std::string>& files, const std::vector<std::string>& prompts,
                                  int64_t batch_size, const torch::Device& device,
                                  const std::function<void(int64_t)>& progress) {
  AFA_CHECK(files.size() == prompts.size(), "ImageReward: ", files.size(), " images but ", prompts.size(),
            " prompts (one prompt per image)");
  torch::NoGradGuard no_grad;
  const auto& cfg = model->config();
  std::vector<torch::Tensor> scores;
  int64_t done = 0;
  for_each_image_batch(files, batch_size, [&](const torch::Tensor& batch_u8) {
    const int64_t n = batch_u8.size(0);
    const std::vector<std::string> chunk(prompts.begin() + done, prompts.begin() + done + n);
    const auto [ids, mask] = tokenizer.encode_batch(chunk, cfg.max_length);
    const auto x = clip_preprocess_batch(batch_u8, ClipPreprocess::kTvPil, cfg.vision.img_size).to(device);
    const auto feats = model->text_features(ids.to(device), mask.to(device), model->image_embeds(x));
    scores.push_back(model->reward(feats).to(torch::kCPU, torch::kFloat32));
    done += n;
    if (progress) progress(done);
  });
  return torch::cat(scores);
}

}  // namespace afa::metrics
