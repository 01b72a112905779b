// ImageReward (THUDM/ImageReward, ImageReward.score): a BLIP ViT encodes the image; BLIP's BERT text
// encoder reads the prompt while cross-attending to every image token; an MLP maps the [CLS] feature to a
// raw reward, normalised as (raw - 0.16717) / 1.03334. Parameter names are the published state_dict's:
// blip.visual_encoder.*, blip.text_encoder.*, mlp.layers.{0,2,4,6,7}.* (the same head as the aesthetic
// predictor, here on the text width). BLIP's contrastive projections blip.vision_proj/text_proj and the
// int64 position_ids buffer are in published files but unused by the score; they are accepted and dropped.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "afa/io/state_dict.h"
#include "afa/metrics/aesthetic_predictor.h"
#include "afa/metrics/blip_vit.h"
#include "afa/metrics/image_reward_config.h"
#include "afa/metrics/med_bert.h"
#include "afa/text/bert_tokenizer.h"

namespace afa::metrics {

class ImageRewardImpl : public torch::nn::Module {
 public:
  explicit ImageRewardImpl(const ImageRewardConfig& cfg);

  // blip.visual_encoder(pixel_values): [N, 1 + patches, vision width].
  torch::Tensor image_embeds(const torch::Tensor& pixel_values);
  // last_hidden_state[:, 0] of the text encoder, [N, hidden].
  torch::Tensor text_features(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                              const torch::Tensor& image_embeds);
  // mlp(text features) [N] (before normalisation) and the normalised reward [N].
  torch::Tensor raw_reward(const torch::Tensor& text_features);
  torch::Tensor reward(const torch::Tensor& text_features);

  const ImageRewardConfig& config() const { return cfg_; }

  BlipVit visual_encoder{nullptr};
  MedBertModel text_encoder{nullptr};
  AestheticPredictor mlp{nullptr};

 private:
  ImageRewardConfig cfg_;
};
TORCH_MODULE(ImageReward);

// Copies published-named weights into the model (see above for the keys dropped). Missing, unknown or
// misshapen keys are an afa::Error naming `source` and listing them.
void load_image_reward_weights(ImageReward& model, const io::StateDict& weights, const std::string& source);

// The architecture of a weights file: FILE.json beside FILE.safetensors (ImageRewardConfig::from_json's
// format) if it exists, else the published model's.
ImageRewardConfig image_reward_config_for(const std::string& safetensors_path);

// The model in evaluation mode from a .safetensors file, on `device`.
ImageReward load_image_reward(const std::string& safetensors_path, const ImageRewardConfig& cfg,
                              const torch::Device& device);

// bert-base-uncased's vocab.txt as shipped in afa's data folder ($AFA_DATA_DIR/bert_tokenizer/vocab.txt
// when that variable is set).
std::string default_bert_vocab();

// The reward of image i for prompt i (ImageReward.score for each pair), [N] float32 on the CPU. Images
// are decoded and preprocessed (_transform: ClipPreprocess::kTvPil) batch by batch; `progress` (may be
// empty) gets the number of images done.
torch::Tensor image_reward_scores(ImageReward& model, const text::BertTokenizer& tokenizer,
                                  const std::vector<std::string>& files, const std::vector<std::string>& prompts,
                                  int64_t batch_size, const torch::Device& device,
                                  const std::function<void(int64_t)>& progress = {});

}  // namespace afa::metrics
