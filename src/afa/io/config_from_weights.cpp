#include "afa/io/config_from_weights.h"

#include <sstream>
#include <vector>

#include "afa/io/ldm_names.h"
#include "afa/util/error.h"

namespace afa::io {

using nlohmann::json;

namespace {

class Shapes {
 public:
  Shapes(const ShapeMap& m, std::string prefix, std::string source)
      : m_(m), prefix_(std::move(prefix)), source_(std::move(source)) {}
  const std::vector<int64_t>* find(const std::string& name) const {
    auto it = m_.find(prefix_ + name);
    return it == m_.end() ? nullptr : &it->second;
  }
  bool has(const std::string& name) const { return find(name) != nullptr; }
  const std::vector<int64_t>& at(const std::string& name, size_t rank) const {
    const auto* s = find(name);
    if (!s) fail(source_, ": tensor ", prefix_, name, " is missing");
    if (s->size() != rank) fail(source_, ": tensor ", prefix_, name, " has shape ", shape_str(*s), ", expected rank ", rank);
    return *s;
  }

 private:
  const ShapeMap& m_;
  std::string prefix_, source_;
};

std::string str(int64_t v) { return std::to_string(v); }

// An int when all values agree, else a list (diffusers accepts both).
json int_or_list(const std::vector<int64_t>& v) {
  for (auto x : v) if (x != v[0]) return v;
  return v.empty() ? json(nullptr) : json(v[0]);
}

}  // namespace

json unet_structure_from_ldm(const ShapeMap& shapes, const std::string& source) {
  Shapes s(shapes, kLdmUNetPrefix, source);
  const auto& conv_in = s.at("input_blocks.0.0.weight", 4);
  const auto& conv_out = s.at("out.2.weight", 4);
  const auto& temb = s.at("time_embed.0.weight", 2);

  std::vector<int64_t> channels, layers, depth, cross;
  std::vector<bool> attn;
  int linear = -1;
  int64_t level_layers = 0, level_ch = 0;
  int level_attn = -1;
  for (int64_t idx = 1;; ++idx) {
    std::string b = "input_blocks." + str(idx);
    bool down = s.has(b + ".0.op.weight");
    if (!down && !s.has(b + ".0.in_layers.2.weight")) break;
    if (down) {
      if (level_layers == 0) fail(source, ": U-Net level ", channels.size(), " has no resnets");
      channels.push_back(level_ch), layers.push_back(level_layers), attn.push_back(level_attn == 1);
      level_layers = 0, level_attn = -1;
      continue;
    }
    level_ch = s.at(b + ".0.in_layers.2.weight", 4)[0];
    ++level_layers;
    bool has_attn = s.has(b + ".1.proj_in.weight");
    if (level_attn != -1 && level_attn != int(has_attn)) {
      fail(source, ": U-Net input block ", idx, ": attention in only some resnets of a level is not supported");
    }
    level_attn = has_attn;
    if (has_attn) {
      int64_t d = 0;
      while (s.has(b + ".1.transformer_blocks." + str(d) + ".norm1.weight")) ++d;
      int64_t c = s.at(b + ".1.transformer_blocks.0.attn2.to_k.weight", 2)[1];
      int lin = s.find(b + ".1.proj_in.weight")->size() == 2;
      if (linear != -1 && linear != lin) fail(source, ": U-Net mixes linear and convolutional transformer projections");
      linear = lin;
      if (depth.size() < channels.size() + 1) depth.resize(channels.size() + 1, 0), cross.resize(channels.size() + 1, 0);
      depth[channels.size()] = d, cross[channels.size()] = c;
    }
  }
  if (level_layers == 0) fail(source, ": no U-Net input blocks (model.diffusion_model.input_blocks.*) found");
  channels.push_back(level_ch), layers.push_back(level_layers), attn.push_back(level_attn == 1);
  const size_t n = channels.size();

  // Levels without attention take their neighbours' values, as diffusers' configs list them.
  if (!s.has("middle_block.1.proj_in.weight")) fail(source, ": a U-Net mid block without attention is not supported");
  depth.resize(n, 0), cross.resize(n, 0);
  {
    int64_t d = 0;
    while (s.has("middle_block.1.transformer_blocks." + str(d) + ".norm1.weight")) ++d;
    int64_t c = s.at("middle_block.1.transformer_blocks.0.attn2.to_k.weight", 2)[1];
    for (size_t i = 0; i < n; ++i) {
      if (!attn[i]) depth[i] = d, cross[i] = c;
    }
  }
  if (linear == -1) linear = s.find("middle_block.1.proj_in.weight")->size() == 2;

  json down_types = json::array(), up_types = json::array();
  for (size_t i = 0; i < n; ++i) down_types.push_back(attn[i] ? "CrossAttnDownBlock2D" : "DownBlock2D");
  for (size_t i = 0; i < n; ++i) up_types.push_back(attn[n - 1 - i] ? "CrossAttnUpBlock2D" : "UpBlock2D");

  json cfg = {
      {"in_channels", conv_in[1]},
      {"out_channels", conv_out[0]},
      {"conv_in_kernel", conv_in[2]},
      {"conv_out_kernel", conv_out[2]},
      {"block_out_channels", channels},
      {"layers_per_block", int_or_list(layers)},
      {"down_block_types", down_types},
      {"up_block_types", up_types},
      {"cross_attention_dim", int_or_list(cross)},
      {"transformer_layers_per_block", int_or_list(depth)},
      {"use_linear_projection", linear == 1},
  };
  if (temb[0] != 4 * channels[0]) cfg["time_embedding_dim"] = temb[0];
  return cfg;
}

json vae_structure_from_ldm(const ShapeMap& shapes, const std::string& source) {
  Shapes s(shapes, kLdmVaePrefix, source);
  const auto& conv_in = s.at("encoder.conv_in.weight", 4);
  std::vector<int64_t> channels;
  while (s.has("encoder.down." + str(channels.size()) + ".block.0.conv1.weight")) {
    channels.push_back(s.at("encoder.down." + str(channels.size()) + ".block.0.conv1.weight", 4)[0]);
  }
  if (channels.empty()) fail(source, ": no VAE encoder blocks (first_stage_model.encoder.down.*) found");
  int64_t layers = 0;
  while (s.has("encoder.down.0.block." + str(layers) + ".conv1.weight")) ++layers;
  json types_down = json::array(), types_up = json::array();
  for (size_t i = 0; i < channels.size(); ++i) types_down.push_back("DownEncoderBlock2D"), types_up.push_back("UpDecoderBlock2D");
  json cfg = {
      {"in_channels", conv_in[1]},
      {"out_channels", s.at("decoder.conv_out.weight", 4)[0]},
      {"block_out_channels", channels},
      {"down_block_types", types_down},
      {"up_block_types", types_up},
      {"layers_per_block", layers},
      {"latent_channels", s.at("decoder.conv_in.weight", 4)[1]},
  };
  if (!s.has("encoder.mid.attn_1.q.weight")) cfg["mid_block_add_attention"] = false;
  if (!s.has("quant_conv.weight")) cfg["use_quant_conv"] = false;
  if (!s.has("post_quant_conv.weight")) cfg["use_post_quant_conv"] = false;
  return cfg;
}

json text_structure_from_ldm(const ShapeMap& shapes, const std::string& source) {
  Shapes s(shapes, std::string(kLdmTextPrefix) + "text_model.", source);
  const auto& tok = s.at("embeddings.token_embedding.weight", 2);
  const auto& pos = s.at("embeddings.position_embedding.weight", 2);
  int64_t layers = 0;
  while (s.has("encoder.layers." + str(layers) + ".mlp.fc1.weight")) ++layers;
  if (layers == 0) fail(source, ": no text encoder layers (cond_stage_model.transformer.text_model.encoder.layers.*) found");
  return {
      {"vocab_size", tok[0]},
      {"hidden_size", tok[1]},
      {"projection_dim", tok[1]},
      {"max_position_embeddings", pos[0]},
      {"num_hidden_layers", layers},
      {"intermediate_size", s.at("encoder.layers.0.mlp.fc1.weight", 2)[0]},
  };
}

}  // namespace afa::io
