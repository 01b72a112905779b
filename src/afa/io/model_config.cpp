#include "afa/io/model_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::io {

using nlohmann::json;
namespace fs = std::filesystem;

unsigned component_bit(Component c) {
  switch (c) {
    case Component::UNet: return kUNet;
    case Component::VAE: return kVAE;
    case Component::TextEncoder: return kTextEncoder;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Class defaults and SD 1.5's configs

namespace {

// UNet2DConditionModel.__init__ defaults (diffusers 0.20).
const json& unet_defaults() {
  static const json d = {
      {"_class_name", "UNet2DConditionModel"},
      {"sample_size", nullptr},
      {"in_channels", 4},
      {"out_channels", 4},
      {"center_input_sample", false},
      {"flip_sin_to_cos", true},
      {"freq_shift", 0},
      {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
      {"mid_block_type", "UNetMidBlock2DCrossAttn"},
      {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
      {"only_cross_attention", false},
      {"block_out_channels", {320, 640, 1280, 1280}},
      {"layers_per_block", 2},
      {"downsample_padding", 1},
      {"mid_block_scale_factor", 1},
      {"act_fn", "silu"},
      {"norm_num_groups", 32},
      {"norm_eps", 1e-5},
      {"cross_attention_dim", 1280},
      {"transformer_layers_per_block", 1},
      {"encoder_hid_dim", nullptr},
      {"encoder_hid_dim_type", nullptr},
      {"attention_head_dim", 8},
      {"num_attention_heads", nullptr},
      {"dual_cross_attention", false},
      {"use_linear_projection", false},
      {"class_embed_type", nullptr},
      {"addition_embed_type", nullptr},
      {"addition_time_embed_dim", nullptr},
      {"num_class_embeds", nullptr},
      {"upcast_attention", false},
      {"resnet_time_scale_shift", "default"},
      {"resnet_skip_time_act", false},
      {"resnet_out_scale_factor", 1.0},
      {"time_embedding_type", "positional"},
      {"time_embedding_dim", nullptr},
      {"time_embedding_act_fn", nullptr},
      {"timestep_post_act", nullptr},
      {"time_cond_proj_dim", nullptr},
      {"conv_in_kernel", 3},
      {"conv_out_kernel", 3},
      {"projection_class_embeddings_input_dim", nullptr},
      {"attention_type", "default"},
      {"class_embeddings_concat", false},
      {"mid_block_only_cross_attention", nullptr},
      {"cross_attention_norm", nullptr},
      {"addition_embed_type_num_heads", 64},
  };
  return d;
}

// AutoencoderKL.__init__ defaults (diffusers 0.20).
const json& vae_defaults() {
  static const json d = {
      {"_class_name", "AutoencoderKL"},
      {"in_channels", 3},
      {"out_channels", 3},
      {"down_block_types", {"DownEncoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D"}},
      {"block_out_channels", {64}},
      {"layers_per_block", 1},
      {"act_fn", "silu"},
      {"latent_channels", 4},
      {"norm_num_groups", 32},
      {"sample_size", 32},
      {"scaling_factor", 0.18215},
      {"force_upcast", true},
  };
  return d;
}

// CLIPTextConfig defaults. bos/eos are 0/2 as in SD 1.x's text encoder configs (and transformers
// before 4.36); pooling then takes the argmax token, which SD does not use anyway.
const json& text_defaults() {
  static const json d = {
      {"architectures", {"CLIPTextModel"}},
      {"model_type", "clip_text_model"},
      {"vocab_size", 49408},
      {"hidden_size", 512},
      {"intermediate_size", 2048},
      {"projection_dim", 512},
      {"num_hidden_layers", 12},
      {"num_attention_heads", 8},
      {"max_position_embeddings", 77},
      {"hidden_act", "quick_gelu"},
      {"layer_norm_eps", 1e-5},
      {"attention_dropout", 0.0},
      {"initializer_range", 0.02},
      {"initializer_factor", 1.0},
      {"pad_token_id", 1},
      {"bos_token_id", 0},
      {"eos_token_id", 2},
  };
  return d;
}

json merged(json base, const json& over) {
  for (auto it = over.begin(); it != over.end(); ++it) base[it.key()] = it.value();
  return base;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

}  // namespace

json complete_config(Component c, const json& partial) {
  if (!partial.is_null() && !partial.is_object()) fail(component_name(c), " config is not a JSON object: ", partial.dump());
  const json& d = c == Component::UNet ? unet_defaults() : c == Component::VAE ? vae_defaults() : text_defaults();
  return partial.is_null() ? d : merged(d, partial);
}

json sd15_unet_config() {
  return complete_config(Component::UNet, {{"block_out_channels", {320, 640, 1280, 1280}},
                                           {"cross_attention_dim", 768},
                                           {"attention_head_dim", 8},
                                           {"layers_per_block", 2},
                                           {"sample_size", 64}});
}

json sd15_vae_config() {
  return complete_config(Component::VAE,
                         {{"block_out_channels", {128, 256, 512, 512}},
                          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
                          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}},
                          {"layers_per_block", 2},
                          {"sample_size", 512},
                          {"scaling_factor", 0.18215}});
}

// CLIP ViT-L/14's text tower.
json sd15_text_encoder_config() {
  return complete_config(Component::TextEncoder, {{"hidden_size", 768},
                                                  {"intermediate_size", 3072},
                                                  {"projection_dim", 768},
                                                  {"num_hidden_layers", 12},
                                                  {"num_attention_heads", 12}});
}

json sd15_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"},
          {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"},
          {"beta_start", 0.00085},
          {"clip_sample", false},
          {"num_train_timesteps", 1000},
          {"prediction_type", "epsilon"},
          {"set_alpha_to_one", false},
          {"skip_prk_steps", true},
          {"steps_offset", 1},
          {"timestep_spacing", "leading"},
          {"trained_betas", nullptr}};
}

// ---------------------------------------------------------------------------------------------
// Structure from the weights

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

bool is_sd15_component(Component c, const ShapeMap& shapes) {
  static const ParamTable tables[3] = {unet_params(sd15_unet_config()), vae_params(sd15_vae_config()),
                                       text_encoder_params(sd15_text_encoder_config())};
  const ParamTable& t = tables[int(c)];
  for (const auto& e : t) {
    auto it = shapes.find(e.ldm);
    if (it == shapes.end() || !ldm_shape_matches(e, it->second)) return false;
  }
  // No extra weights either (a deeper transformer would add some).
  size_t n = 0;
  for (const auto& [name, shape] : shapes) {
    if (ldm_component(name) == c && !is_ignorable_ldm_key(name)) ++n;
  }
  return n == t.size();
}

bool is_sd15(const ShapeMap& shapes) {
  return is_sd15_component(Component::UNet, shapes) && is_sd15_component(Component::VAE, shapes) &&
         is_sd15_component(Component::TextEncoder, shapes);
}

// ---------------------------------------------------------------------------------------------
// Config files

namespace {

// YAML scalars become the JSON type they spell: integer, float, bool, else string.
json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& x : n) a.push_back(yaml_to_json(x));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      if (n.Tag() == "!") return n.as<std::string>();  // quoted
      int64_t i;
      double d;
      bool b;
      if (YAML::convert<int64_t>::decode(n, i)) return i;
      if (YAML::convert<double>::decode(n, d)) return d;
      if (YAML::convert<bool>::decode(n, b)) return b;
      return n.as<std::string>();
    }
  }
  return nullptr;
}

struct YamlReader {
  const std::string& path;
  const json& at(const json& obj, const std::string& key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) fail("LDM config ", path, ": ", where, key, " is missing");
    return obj.at(key);
  }
  int64_t integer(const json& obj, const std::string& key, const std::string& where) const {
    const json& v = at(obj, key, where);
    if (!v.is_number_integer()) fail("LDM config ", path, ": ", where, key, " must be an integer, not ", v.dump());
    return v.get<int64_t>();
  }
  std::vector<int64_t> ints(const json& obj, const std::string& key, const std::string& where) const {
    const json& v = at(obj, key, where);
    std::vector<int64_t> out;
    if (v.is_array()) {
      for (const auto& x : v) {
        if (!x.is_number_integer()) fail("LDM config ", path, ": ", where, key, " must be a list of integers, not ", v.dump());
        out.push_back(x.get<int64_t>());
      }
      return out;
    }
    fail("LDM config ", path, ": ", where, key, " must be a list of integers, not ", v.dump());
  }
  // Present and not one of the values LDM's code treats as "off".
  bool set(const json& obj, const std::string& key) const {
    return obj.contains(key) && !obj[key].is_null() && obj[key] != false && obj[key] != json(json::array());
  }
};

}  // namespace

json configs_from_ldm_yaml(const std::string& path) {
  json root;
  try {
    root = yaml_to_json(YAML::LoadFile(path));
  } catch (const YAML::Exception& e) {
    fail("LDM config ", path, ": cannot read it as YAML: ", e.what());
  }
  YamlReader r{path};
  const json& params = r.at(r.at(root, "model", ""), "params", "model.");
  const std::string up = "model.params.unet_config.params.";
  const json& unet_cfg = r.at(params, "unet_config", "model.params.");
  const std::string unet_target = unet_cfg.value("target", "");
  if (unet_target.find("openaimodel.UNetModel") == std::string::npos) {
    fail("LDM config ", path, ": U-Net target '", unet_target, "' is not supported (only SD 1.x/2.x's openaimodel.UNetModel)");
  }
  const json& u = r.at(unet_cfg, "params", "model.params.unet_config.");
  for (const char* key : {"num_classes", "adm_in_channels", "use_scale_shift_norm", "resblock_updown",
                          "disable_self_attentions", "num_attention_blocks", "use_new_attention_order"}) {
    if (r.set(u, key)) fail("LDM config ", path, ": ", up, key, " is not supported");
  }
  if (!u.value("use_spatial_transformer", false)) fail("LDM config ", path, ": ", up, "use_spatial_transformer must be true (a text-conditioned U-Net)");

  const int64_t mc = r.integer(u, "model_channels", up);
  std::vector<int64_t> mult = r.ints(u, "channel_mult", up);
  std::vector<int64_t> res = r.ints(u, "attention_resolutions", up);
  std::vector<int64_t> boc;
  json down = json::array(), upt = json::array();
  for (size_t i = 0; i < mult.size(); ++i) {
    boc.push_back(mc * mult[i]);
    // LDM puts attention at the levels whose downsampling factor is listed.
    bool attn = std::find(res.begin(), res.end(), int64_t(1) << i) != res.end();
    down.push_back(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
  }
  for (size_t i = 0; i < down.size(); ++i) {
    upt.push_back(down[down.size() - 1 - i] == "CrossAttnDownBlock2D" ? "CrossAttnUpBlock2D" : "UpBlock2D");
  }
  json unet = {{"in_channels", r.integer(u, "in_channels", up)},
               {"out_channels", r.integer(u, "out_channels", up)},
               {"block_out_channels", boc},
               {"down_block_types", down},
               {"up_block_types", upt},
               {"layers_per_block", r.at(u, "num_res_blocks", up)},
               {"cross_attention_dim", r.at(u, "context_dim", up)},
               {"transformer_layers_per_block", u.value("transformer_depth", json(1))},
               {"use_linear_projection", u.value("use_linear_in_transformer", false)}};
  // Head count: num_heads, or channels / num_head_channels per level (diffusers' attention_head_dim
  // holds head counts for these models).
  const int64_t heads = u.contains("num_heads") ? r.integer(u, "num_heads", up) : -1;
  const int64_t head_ch = u.contains("num_head_channels") ? r.integer(u, "num_head_channels", up) : -1;
  if (heads > 0) {
    unet["attention_head_dim"] = heads;
  } else if (head_ch > 0) {
    std::vector<int64_t> h;
    for (int64_t c : boc) {
      if (c % head_ch) fail("LDM config ", path, ": ", c, " channels do not split into heads of ", head_ch);
      h.push_back(c / head_ch);
    }
    unet["attention_head_dim"] = h;
  } else {
    fail("LDM config ", path, ": ", up, "num_heads or num_head_channels must be positive");
  }
  if (params.contains("image_size") && params["image_size"].is_number_integer()) unet["sample_size"] = params["image_size"];

  const std::string vp = "model.params.first_stage_config.params.ddconfig.";
  const json& fs_params = r.at(r.at(params, "first_stage_config", "model.params."), "params", "model.params.first_stage_config.");
  const json& dd = r.at(fs_params, "ddconfig", "model.params.first_stage_config.params.");
  if (r.set(dd, "attn_resolutions")) fail("LDM config ", path, ": ", vp, "attn_resolutions is not supported by diffusers' AutoencoderKL");
  if (dd.contains("double_z") && dd["double_z"] != true) fail("LDM config ", path, ": ", vp, "double_z must be true");
  const int64_t z = r.integer(dd, "z_channels", vp);
  if (fs_params.contains("embed_dim") && r.integer(fs_params, "embed_dim", "model.params.first_stage_config.params.") != z) {
    fail("LDM config ", path, ": embed_dim differs from z_channels, which diffusers' AutoencoderKL does not support");
  }
  const int64_t ch = r.integer(dd, "ch", vp);
  std::vector<int64_t> vmult = r.ints(dd, "ch_mult", vp), vboc;
  json vdown = json::array(), vup = json::array();
  for (int64_t m : vmult) vboc.push_back(ch * m), vdown.push_back("DownEncoderBlock2D"), vup.push_back("UpDecoderBlock2D");
  json vae = {{"in_channels", r.integer(dd, "in_channels", vp)},
              {"out_channels", r.integer(dd, "out_ch", vp)},
              {"block_out_channels", vboc},
              {"down_block_types", vdown},
              {"up_block_types", vup},
              {"layers_per_block", r.integer(dd, "num_res_blocks", vp)},
              {"latent_channels", z},
              // diffusers' single-file loader assumes SD's factor when the yaml has none.
              {"scaling_factor", params.value("scale_factor", 0.18215)}};
  if (unet.contains("sample_size")) {
    vae["sample_size"] = unet["sample_size"].get<int64_t>() << (vmult.size() - 1);
  }

  json sched = sd15_scheduler_config();
  if (params.contains("linear_start")) sched["beta_start"] = params["linear_start"];
  if (params.contains("linear_end")) sched["beta_end"] = params["linear_end"];
  if (params.contains("timesteps")) sched["num_train_timesteps"] = params["timesteps"];
  if (params.value("parameterization", "eps") == "v") sched["prediction_type"] = "v_prediction";
  // LDM's "linear" schedule is linear in sqrt(beta): diffusers' scaled_linear.
  if (params.value("beta_schedule", "linear") != "linear") {
    fail("LDM config ", path, ": beta_schedule '", params["beta_schedule"].get<std::string>(), "' is not supported");
  }

  json text_target = nullptr;
  if (params.contains("cond_stage_config") && params["cond_stage_config"].is_object()) {
    text_target = params["cond_stage_config"].value("target", json(nullptr));
  }
  return {{"unet", unet}, {"vae", vae}, {"scheduler", sched}, {"text_target", text_target}};
}

namespace {

bool has_ext(const std::string& path, const std::string& ext) {
  std::string e = fs::path(path).extension().string();
  for (auto& ch : e) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return e == ext;
}

void add_overlay(json& overlay, const std::string& comp, const json& cfg, const std::string& path) {
  if (!cfg.is_object()) fail("config ", path, ": \"", comp, "\" must be a JSON object");
  json& o = overlay[comp];
  if (o.is_null()) o = json::object();
  // A scheduler of another class replaces the default one instead of mixing with it.
  if (comp == "scheduler" && cfg.contains("_class_name")) o = json{{"_replace", true}};
  for (auto it = cfg.begin(); it != cfg.end(); ++it) o[it.key()] = it.value();
}

void read_json_config(ConfigFiles& out, const std::string& path) {
  json j = read_json_file(path, "config");
  if (!j.is_object()) fail("config ", path, ": expected a JSON object");
  const std::string cls = j.value("_class_name", "");
  const std::string model_type = j.value("model_type", "");
  if (model_type == "clip_text_model") return add_overlay(out.overlay, "text_encoder", j, path);
  if (model_type == "clip" && j.contains("text_config")) return add_overlay(out.overlay, "text_encoder", j["text_config"], path);
  if (cls == "UNet2DConditionModel") return add_overlay(out.overlay, "unet", j, path);
  if (cls == "AutoencoderKL") return add_overlay(out.overlay, "vae", j, path);
  if (cls.size() > 9 && cls.compare(cls.size() - 9, 9, "Scheduler") == 0) return add_overlay(out.overlay, "scheduler", j, path);
  bool any = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "unet" || k == "vae" || k == "text_encoder" || k == "scheduler") {
      add_overlay(out.overlay, k, it.value(), path);
      any = true;
    } else if (k.empty() || k[0] != '_') {
      fail("config ", path, ": unknown key \"", k, "\" (expected unet, vae, text_encoder, scheduler)");
    }
  }
  if (!any) {
    fail("config ", path, ": not a recognised config: expected {\"unet\"|\"vae\"|\"text_encoder\"|\"scheduler\": {...}}, "
         "a CLIPTextConfig (model_type clip_text_model) or a diffusers config with _class_name");
  }
}

}  // namespace

ConfigFiles read_config_files(const std::vector<std::string>& paths) {
  ConfigFiles out;
  out.files = paths;
  for (const auto& p : paths) {
    if (!fs::is_regular_file(p)) fail("config ", p, ": no such file");
    if (has_ext(p, ".json")) {
      read_json_config(out, p);
    } else if (has_ext(p, ".yaml") || has_ext(p, ".yml")) {
      json y = configs_from_ldm_yaml(p);
      y["file"] = p;
      out.yaml = y;  // a later yaml replaces an earlier one
    } else {
      fail("config ", p, ": unknown kind of file (expected .yaml/.yml for an LDM config or .json)");
    }
  }
  return out;
}

std::vector<std::string> configs_beside(const std::string& checkpoint_path) {
  std::vector<std::string> out;
  fs::path p(checkpoint_path);
  for (const char* ext : {".yaml", ".yml"}) {
    fs::path c = p;
    c.replace_extension(ext);
    if (fs::is_regular_file(c)) {
      out.push_back(c.string());
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Single-file configs

namespace {

std::string files_str(const ConfigFiles& files) {
  std::string s = "the config files";
  for (const auto& f : files.files) s += " " + f;
  return s;
}

json component_config(Component c, const std::string& path, const ShapeMap& shapes, const ConfigFiles& files) {
  const std::string name = component_name(c);
  json cfg;
  if (c != Component::TextEncoder && files.yaml.contains(name)) {
    cfg = files.yaml[name];
  } else if (is_sd15_component(c, shapes)) {
    cfg = c == Component::UNet ? sd15_unet_config() : c == Component::VAE ? sd15_vae_config() : sd15_text_encoder_config();
  } else if (c == Component::UNet) {
    cfg = unet_structure_from_ldm(shapes, path);
  } else if (c == Component::VAE) {
    cfg = vae_structure_from_ldm(shapes, path);
  } else {
    cfg = text_structure_from_ldm(shapes, path);
  }
  if (files.overlay.contains(name)) cfg = merged(cfg, files.overlay[name]);

  // What the weights cannot tell must have come from somewhere.
  const std::string given = files.files.empty() ? "no --config given" : files_str(files) + " do not say";
  const char* yaml_or = "give --config FILE with an LDM yaml (like v1-inference.yaml) or a JSON file";
  if (c == Component::UNet && !cfg.contains("attention_head_dim") && !cfg.contains("num_attention_heads")) {
    fail(path, ": its U-Net is not SD 1.5's (block_out_channels ", cfg["block_out_channels"].dump(),
         ", cross_attention_dim ", cfg["cross_attention_dim"].dump(), ") and its head count is not stored in the weights (",
         given, "); ", yaml_or, " {\"unet\": {\"attention_head_dim\": HEADS}}");
  }
  if (c == Component::VAE && !cfg.contains("scaling_factor")) {
    fail(path, ": its VAE is not SD 1.5's (block_out_channels ", cfg["block_out_channels"].dump(),
         ") and its latent scaling factor is not stored in the weights (", given, "); ", yaml_or,
         " {\"vae\": {\"scaling_factor\": F}}");
  }
  if (c == Component::TextEncoder && !cfg.contains("num_attention_heads")) {
    fail(path, ": its text encoder is not CLIP ViT-L/14's (hidden_size ", cfg["hidden_size"].dump(), ", ",
         cfg["num_hidden_layers"].dump(), " layers) and its head count is not stored in the weights (", given,
         "); give --config FILE with a JSON file {\"text_encoder\": {\"num_attention_heads\": HEADS}} or the "
         "model's CLIPTextConfig (config.json)");
  }
  return complete_config(c, cfg);
}

}  // namespace

ModelConfigs single_file_configs(const std::string& path, const ShapeMap& shapes, const ConfigFiles& files,
                                 unsigned components) {
  ModelConfigs out;
  if ((components & kTextEncoder) && files.yaml.contains("text_target") && files.yaml["text_target"].is_string()) {
    const std::string t = files.yaml["text_target"];
    if (t.find("FrozenCLIPEmbedder") == std::string::npos) {
      fail("LDM config ", files.yaml.value("file", ""), ": text encoder ", t, " is not supported (only FrozenCLIPEmbedder, CLIP's text model)");
    }
  }
  if (components & kUNet) out.unet = component_config(Component::UNet, path, shapes, files);
  if (components & kVAE) out.vae = component_config(Component::VAE, path, shapes, files);
  if (components & kTextEncoder) out.text_encoder = component_config(Component::TextEncoder, path, shapes, files);

  out.scheduler = files.yaml.contains("scheduler") ? files.yaml["scheduler"] : sd15_scheduler_config();
  if (files.overlay.contains("scheduler")) {
    json o = files.overlay["scheduler"];
    if (o.value("_replace", false)) out.scheduler = json::object();
    o.erase("_replace");
    out.scheduler = merged(out.scheduler, o);
  }
  return out;
}

}  // namespace afa::io
