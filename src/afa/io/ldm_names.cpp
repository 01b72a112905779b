#include "afa/io/ldm_names.h"

#include <algorithm>
#include <set>

#include "afa/io/config_defaults.h"
#include "afa/util/error.h"

namespace afa::io {

using nlohmann::json;
using Shape = std::vector<int64_t>;

const char* ldm_prefix(Component c) {
  switch (c) {
    case Component::UNet: return kLdmUNetPrefix;
    case Component::VAE: return kLdmVaePrefix;
    case Component::TextEncoder: return kLdmTextPrefix;
  }
  return "";
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}
std::string str(int64_t v) { return std::to_string(v); }

std::string where(const std::string& source) { return source.empty() ? "" : " (" + source + ")"; }

// Builds a table; every helper appends both names and the diffusers shape.
class Builder {
 public:
  explicit Builder(std::string ldm_prefix) : prefix_(std::move(ldm_prefix)) {}

  void add(const std::string& d, const std::string& l, Shape shape, bool conv1x1 = false) {
    table_.push_back({d, prefix_ + l, std::move(shape), conv1x1});
  }
  // weight + bias
  void wb(const std::string& d, const std::string& l, Shape w, bool conv1x1 = false) {
    int64_t out = w[0];
    add(d + ".weight", l + ".weight", std::move(w), conv1x1);
    add(d + ".bias", l + ".bias", {out});
  }
  void norm(const std::string& d, const std::string& l, int64_t c) { wb(d, l, {c}); }
  void conv(const std::string& d, const std::string& l, int64_t out, int64_t in, int64_t k) {
    wb(d, l, {out, in, k, k});
  }

  // U-Net resnet (ResnetBlock2D with a time embedding).
  void unet_resnet(const std::string& d, const std::string& l, int64_t in, int64_t out, int64_t temb) {
    norm(d + ".norm1", l + ".in_layers.0", in);
    conv(d + ".conv1", l + ".in_layers.2", out, in, 3);
    wb(d + ".time_emb_proj", l + ".emb_layers.1", {out, temb});
    norm(d + ".norm2", l + ".out_layers.0", out);
    conv(d + ".conv2", l + ".out_layers.3", out, out, 3);
    if (in != out) conv(d + ".conv_shortcut", l + ".skip_connection", out, in, 1);
  }

  // VAE resnet (no time embedding).
  void vae_resnet(const std::string& d, const std::string& l, int64_t in, int64_t out) {
    norm(d + ".norm1", l + ".norm1", in);
    conv(d + ".conv1", l + ".conv1", out, in, 3);
    norm(d + ".norm2", l + ".norm2", out);
    conv(d + ".conv2", l + ".conv2", out, out, 3);
    if (in != out) conv(d + ".conv_shortcut", l + ".nin_shortcut", out, in, 1);
  }

  // Transformer2DModel / SpatialTransformer: the names agree in both layouts.
  void transformer(const std::string& p, int64_t ch, int64_t inner, int64_t depth, int64_t cross,
                   bool linear) {
    norm(p + ".norm", p + ".norm", ch);
    if (linear) wb(p + ".proj_in", p + ".proj_in", {inner, ch});
    else conv(p + ".proj_in", p + ".proj_in", inner, ch, 1);
    for (int64_t t = 0; t < depth; ++t) {
      std::string b = p + ".transformer_blocks." + str(t);
      norm(b + ".norm1", b + ".norm1", inner);
      attention(b + ".attn1", inner, inner);
      norm(b + ".norm2", b + ".norm2", inner);
      attention(b + ".attn2", inner, cross);
      norm(b + ".norm3", b + ".norm3", inner);
      wb(b + ".ff.net.0.proj", b + ".ff.net.0.proj", {inner * 8, inner});  // GEGLU: 2 x 4 x inner
      wb(b + ".ff.net.2", b + ".ff.net.2", {inner, inner * 4});
    }
    if (linear) wb(p + ".proj_out", p + ".proj_out", {ch, inner});
    else conv(p + ".proj_out", p + ".proj_out", ch, inner, 1);
  }
  void attention(const std::string& p, int64_t inner, int64_t context) {
    add(p + ".to_q.weight", p + ".to_q.weight", {inner, inner});
    add(p + ".to_k.weight", p + ".to_k.weight", {inner, context});
    add(p + ".to_v.weight", p + ".to_v.weight", {inner, context});
    wb(p + ".to_out.0", p + ".to_out.0", {inner, inner});
  }

  // The VAE's mid block: resnet, single-head attention stored as 1x1 convs in LDM, resnet.
  void vae_mid(const std::string& d, const std::string& l, int64_t c, bool attention) {
    vae_resnet(d + ".resnets.0", l + ".block_1", c, c);
    if (attention) {
      norm(d + ".attentions.0.group_norm", l + ".attn_1.norm", c);
      wb(d + ".attentions.0.to_q", l + ".attn_1.q", {c, c}, true);
      wb(d + ".attentions.0.to_k", l + ".attn_1.k", {c, c}, true);
      wb(d + ".attentions.0.to_v", l + ".attn_1.v", {c, c}, true);
      wb(d + ".attentions.0.to_out.0", l + ".attn_1.proj_out", {c, c}, true);
    }
    vae_resnet(d + ".resnets.1", l + ".block_2", c, c);
  }

  ParamTable take() { return std::move(table_); }

 private:
  std::string prefix_;
  ParamTable table_;
};

// An int-or-list config value expanded to one value per block.
std::vector<int64_t> per_block(const json& cfg, const char* key, size_t n, const std::string& source) {
  const json& v = cfg.at(key);
  if (v.is_number_integer()) return std::vector<int64_t>(n, v.get<int64_t>());
  if (v.is_array() && v.size() == n) {
    std::vector<int64_t> out;
    for (const auto& x : v) out.push_back(x.get<int64_t>());
    return out;
  }
  fail("unet config", where(source), ": ", key, " must be an integer or a list of ", n,
       " integers, not ", v.dump());
}

void require_null_or(const json& cfg, const char* key, const json& allowed, const std::string& what,
                     const std::string& source) {
  const json& v = cfg.at(key);
  if (!v.is_null() && v != allowed) {
    fail(what, " config", where(source), ": ", key, " = ", v.dump(), " is not supported");
  }
}

ParamTable build_unet(const json& cfg, const std::string& source) {
  for (const char* key : {"class_embed_type", "num_class_embeds", "addition_embed_type",
                          "encoder_hid_dim", "encoder_hid_dim_type", "time_cond_proj_dim",
                          "class_embeddings_concat", "dual_cross_attention", "only_cross_attention"}) {
    require_null_or(cfg, key, false, "unet", source);
  }
  require_null_or(cfg, "resnet_time_scale_shift", "default", "unet", source);
  require_null_or(cfg, "time_embedding_type", "positional", "unet", source);
  require_null_or(cfg, "attention_type", "default", "unet", source);
  require_null_or(cfg, "mid_block_type", "UNetMidBlock2DCrossAttn", "unet", source);
  if (cfg.at("mid_block_type").is_null()) fail("unet config", where(source), ": a U-Net without a mid block is not supported");

  std::vector<int64_t> ch = cfg.at("block_out_channels").get<std::vector<int64_t>>();
  const size_t n = ch.size();
  auto down = cfg.at("down_block_types").get<std::vector<std::string>>();
  auto up = cfg.at("up_block_types").get<std::vector<std::string>>();
  if (n == 0 || down.size() != n || up.size() != n) {
    fail("unet config", where(source), ": block_out_channels, down_block_types and up_block_types must have the same, non-zero length");
  }
  auto layers = per_block(cfg, "layers_per_block", n, source);
  auto depth = per_block(cfg, "transformer_layers_per_block", n, source);
  auto cross = per_block(cfg, "cross_attention_dim", n, source);
  // diffusers' quirk: attention_head_dim holds the head count unless num_attention_heads is set.
  auto heads = per_block(cfg, cfg.at("num_attention_heads").is_null() ? "attention_head_dim" : "num_attention_heads", n, source);
  const bool linear = cfg.at("use_linear_projection").get<bool>();
  const int64_t in_ch = cfg.at("in_channels").get<int64_t>(), out_ch = cfg.at("out_channels").get<int64_t>();
  const int64_t kin = cfg.at("conv_in_kernel").get<int64_t>(), kout = cfg.at("conv_out_kernel").get<int64_t>();
  const int64_t temb = cfg.at("time_embedding_dim").is_null() ? ch[0] * 4 : cfg.at("time_embedding_dim").get<int64_t>();
  // Transformer2DModel's width is heads x (channels / heads): the channels when the heads divide them,
  // which LDM requires too.
  auto inner = [&](int64_t c, int64_t h) {
    AFA_CHECK(h > 0 && c % h == 0, "unet config", where(source), ": ", c, " channels do not split into ", h, " heads");
    return c;
  };

  Builder b(kLdmUNetPrefix);
  b.conv("conv_in", "input_blocks.0.0", ch[0], in_ch, kin);
  b.wb("time_embedding.linear_1", "time_embed.0", {temb, ch[0]});
  b.wb("time_embedding.linear_2", "time_embed.2", {temb, temb});

  int64_t idx = 1;  // LDM input block counter: conv_in is block 0
  int64_t out = ch[0];
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[i];
    bool attn = down[i] == "CrossAttnDownBlock2D";
    if (!attn && down[i] != "DownBlock2D") fail("unet config", where(source), ": down block type ", down[i], " is not supported");
    std::string d = "down_blocks." + str(i);
    for (int64_t j = 0; j < layers[i]; ++j, ++idx) {
      std::string l = "input_blocks." + str(idx);
      b.unet_resnet(d + ".resnets." + str(j), l + ".0", j == 0 ? in : out, out, temb);
      if (attn) {
        // Same names on both sides except the block prefix.
        Builder t("");
        t.transformer("X", out, inner(out, heads[i]), depth[i], cross[i], linear);
        for (auto& e : t.take()) {
          b.add(d + ".attentions." + str(j) + e.diffusers.substr(1), l + ".1" + e.ldm.substr(1), e.shape);
        }
      }
    }
    if (i + 1 < n) {
      b.conv(d + ".downsamplers.0.conv", "input_blocks." + str(idx) + ".0.op", out, out, 3);
      ++idx;
    }
  }

  const int64_t cm = ch[n - 1];
  b.unet_resnet("mid_block.resnets.0", "middle_block.0", cm, cm, temb);
  {
    Builder t("");
    t.transformer("X", cm, inner(cm, heads[n - 1]), depth[n - 1], cross[n - 1], linear);
    for (auto& e : t.take()) {
      b.add("mid_block.attentions.0" + e.diffusers.substr(1), "middle_block.1" + e.ldm.substr(1), e.shape);
    }
  }
  b.unet_resnet("mid_block.resnets.1", "middle_block.2", cm, cm, temb);

  idx = 0;  // LDM output block counter
  out = ch[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // reversed index into the per-block lists
    const int64_t prev = out;
    out = ch[r];
    const int64_t skip_in = ch[i + 1 < n ? r - 1 : 0];
    bool attn = up[i] == "CrossAttnUpBlock2D";
    if (!attn && up[i] != "UpBlock2D") fail("unet config", where(source), ": up block type ", up[i], " is not supported");
    std::string d = "up_blocks." + str(i);
    const int64_t nl = layers[r] + 1;
    for (int64_t j = 0; j < nl; ++j) {
      std::string l = "output_blocks." + str(idx);
      const int64_t skip = j == nl - 1 ? skip_in : out;
      b.unet_resnet(d + ".resnets." + str(j), l + ".0", (j == 0 ? prev : out) + skip, out, temb);
      if (attn) {
        Builder t("");
        t.transformer("X", out, inner(out, heads[r]), depth[r], cross[r], linear);
        for (auto& e : t.take()) {
          b.add(d + ".attentions." + str(j) + e.diffusers.substr(1), l + ".1" + e.ldm.substr(1), e.shape);
        }
      }
      if (j == nl - 1 && i + 1 < n) {
        // LDM appends the upsampler to the block's last layer, after its attention if any.
        b.conv(d + ".upsamplers.0.conv", l + (attn ? ".2" : ".1") + ".conv", out, out, 3);
      }
      ++idx;
    }
  }
  b.norm("conv_norm_out", "out.0", ch[0]);
  b.conv("conv_out", "out.2", out_ch, ch[0], kout);
  return b.take();
}

ParamTable build_vae(const json& cfg, const std::string& source) {
  std::vector<int64_t> ch = cfg.at("block_out_channels").get<std::vector<int64_t>>();
  const size_t n = ch.size();
  auto down = cfg.at("down_block_types").get<std::vector<std::string>>();
  auto up = cfg.at("up_block_types").get<std::vector<std::string>>();
  if (n == 0 || down.size() != n || up.size() != n) {
    fail("vae config", where(source), ": block_out_channels, down_block_types and up_block_types must have the same, non-zero length");
  }
  for (auto& t : down) if (t != "DownEncoderBlock2D") fail("vae config", where(source), ": down block type ", t, " is not supported");
  for (auto& t : up) if (t != "UpDecoderBlock2D") fail("vae config", where(source), ": up block type ", t, " is not supported");
  const int64_t layers = cfg.at("layers_per_block").get<int64_t>();
  const int64_t latent = cfg.at("latent_channels").get<int64_t>();
  const int64_t in_ch = cfg.at("in_channels").get<int64_t>(), out_ch = cfg.at("out_channels").get<int64_t>();
  const bool mid_attn = cfg.value("mid_block_add_attention", true);
  const bool quant = cfg.value("use_quant_conv", true), post_quant = cfg.value("use_post_quant_conv", true);

  Builder b(kLdmVaePrefix);
  b.conv("encoder.conv_in", "encoder.conv_in", ch[0], in_ch, 3);
  int64_t out = ch[0];
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[i];
    std::string d = "encoder.down_blocks." + str(i), l = "encoder.down." + str(i);
    for (int64_t j = 0; j < layers; ++j) {
      b.vae_resnet(d + ".resnets." + str(j), l + ".block." + str(j), j == 0 ? in : out, out);
    }
    if (i + 1 < n) b.conv(d + ".downsamplers.0.conv", l + ".downsample.conv", out, out, 3);
  }
  b.vae_mid("encoder.mid_block", "encoder.mid", ch[n - 1], mid_attn);
  b.norm("encoder.conv_norm_out", "encoder.norm_out", ch[n - 1]);
  b.conv("encoder.conv_out", "encoder.conv_out", 2 * latent, ch[n - 1], 3);  // mean and log-variance
  if (quant) b.conv("quant_conv", "quant_conv", 2 * latent, 2 * latent, 1);
  if (post_quant) b.conv("post_quant_conv", "post_quant_conv", latent, latent, 1);

  b.conv("decoder.conv_in", "decoder.conv_in", ch[n - 1], latent, 3);
  b.vae_mid("decoder.mid_block", "decoder.mid", ch[n - 1], mid_attn);
  out = ch[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // LDM numbers decoder levels from the output side
    const int64_t prev = out;
    out = ch[r];
    std::string d = "decoder.up_blocks." + str(i), l = "decoder.up." + str(r);
    for (int64_t j = 0; j < layers + 1; ++j) {
      b.vae_resnet(d + ".resnets." + str(j), l + ".block." + str(j), j == 0 ? prev : out, out);
    }
    if (i + 1 < n) b.conv(d + ".upsamplers.0.conv", l + ".upsample.conv", out, out, 3);
  }
  b.norm("decoder.conv_norm_out", "decoder.norm_out", ch[0]);
  b.conv("decoder.conv_out", "decoder.conv_out", out_ch, ch[0], 3);
  return b.take();
}

ParamTable build_text(const json& cfg, const std::string& source) {
  const int64_t h = cfg.at("hidden_size").get<int64_t>();
  const int64_t inter = cfg.at("intermediate_size").get<int64_t>();
  const int64_t n = cfg.at("num_hidden_layers").get<int64_t>();
  const int64_t vocab = cfg.at("vocab_size").get<int64_t>();
  const int64_t pos = cfg.at("max_position_embeddings").get<int64_t>();
  // Names agree once the LDM prefix "cond_stage_model.transformer." is dropped.
  Builder b(kLdmTextPrefix);
  auto same = [&](const std::string& name, Shape s) { b.add(name, name, std::move(s)); };
  same("text_model.embeddings.token_embedding.weight", {vocab, h});
  same("text_model.embeddings.position_embedding.weight", {pos, h});
  for (int64_t i = 0; i < n; ++i) {
    std::string p = "text_model.encoder.layers." + str(i);
    for (const char* proj : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      b.wb(p + ".self_attn." + proj, p + ".self_attn." + proj, {h, h});
    }
    b.norm(p + ".layer_norm1", p + ".layer_norm1", h);
    b.wb(p + ".mlp.fc1", p + ".mlp.fc1", {inter, h});
    b.wb(p + ".mlp.fc2", p + ".mlp.fc2", {h, inter});
    b.norm(p + ".layer_norm2", p + ".layer_norm2", h);
  }
  b.norm("text_model.final_layer_norm", "text_model.final_layer_norm", h);
  return b.take();
}

}  // namespace

ParamTable component_params(Component c, const json& config, const std::string& source) {
  json cfg = complete_config(c, config);
  try {
    switch (c) {
      case Component::UNet: return build_unet(cfg, source);
      case Component::VAE: return build_vae(cfg, source);
      case Component::TextEncoder: return build_text(cfg, source);
    }
  } catch (const json::exception& e) {
    fail(component_name(c), " config", where(source), ": ", e.what());
  }
  return {};
}

ParamTable unet_params(const json& config, const std::string& source) {
  return component_params(Component::UNet, config, source);
}
ParamTable vae_params(const json& config, const std::string& source) {
  return component_params(Component::VAE, config, source);
}
ParamTable text_encoder_params(const json& config, const std::string& source) {
  return component_params(Component::TextEncoder, config, source);
}

std::vector<int64_t> ldm_shape(const ParamEntry& e) {
  Shape s = e.shape;
  if (e.ldm_conv1x1) {
    s.push_back(1);
    s.push_back(1);
  }
  return s;
}

bool ldm_shape_matches(const ParamEntry& e, const std::vector<int64_t>& stored) {
  return stored == ldm_shape(e) || (e.ldm_conv1x1 && stored == e.shape);
}

torch::Tensor ldm_to_diffusers(const ParamEntry& e, const torch::Tensor& t) {
  return e.ldm_conv1x1 ? t.view(e.shape) : t;
}

torch::Tensor diffusers_to_ldm(const ParamEntry& e, const torch::Tensor& t) {
  return e.ldm_conv1x1 ? t.reshape(ldm_shape(e)) : t;
}

std::optional<Component> ldm_component(const std::string& name) {
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    if (starts_with(name, ldm_prefix(c))) return c;
  }
  return std::nullopt;
}

std::string canonical_ldm_name(const std::string& name) {
  const std::string p = kLdmTextPrefix;
  if (starts_with(name, p) && !starts_with(name, p + "text_model.")) {
    return p + "text_model." + name.substr(p.size());
  }
  return name;
}

bool is_ignorable_ldm_key(const std::string& name) {
  static const std::set<std::string> ddpm_buffers = {
      "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
      "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
      "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
      "posterior_mean_coef1", "posterior_mean_coef2", "logvar", "lvlb_weights", "scale_factor"};
  if (ddpm_buffers.count(name)) return true;
  if (starts_with(name, "model_ema.")) return true;
  if (starts_with(name, "first_stage_model.loss.")) return true;
  if (ends_with(name, ".num_batches_tracked")) return true;
  return canonical_ldm_name(name) == std::string(kLdmTextPrefix) + "text_model.embeddings.position_ids";
}

bool is_ignorable_diffusers_key(const std::string& name) {
  return name == "text_model.embeddings.position_ids" || ends_with(name, ".num_batches_tracked");
}

std::vector<std::pair<std::string, torch::Tensor>> to_ldm_tensors(
    Component c, const json& config, const std::map<std::string, torch::Tensor>& tensors,
    const std::string& source) {
  ParamTable table = component_params(c, config, source);
  std::vector<std::string> problems;
  std::set<std::string> known;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(table.size());
  for (const auto& e : table) {
    known.insert(e.diffusers);
    auto it = tensors.find(e.diffusers);
    if (it == tensors.end()) {
      problems.push_back("missing " + e.diffusers);
      continue;
    }
    if (it->second.sizes().vec() != e.shape) {
      std::ostringstream os;
      os << e.diffusers << " has shape " << it->second.sizes() << ", the config needs " << c10::IntArrayRef(e.shape);
      problems.push_back(os.str());
      continue;
    }
    out.emplace_back(e.ldm, diffusers_to_ldm(e, it->second));
  }
  for (const auto& [name, t] : tensors) {
    if (!known.count(name) && !is_ignorable_diffusers_key(name)) problems.push_back("unexpected " + name);
  }
  if (!problems.empty()) {
    std::ostringstream os;
    for (size_t i = 0; i < problems.size() && i < 5; ++i) os << (i ? "; " : "") << problems[i];
    if (problems.size() > 5) os << "; ... (" << problems.size() << " problems)";
    fail(source, ": the ", component_name(c), " weights do not fit its config: ", os.str());
  }
  return out;
}

}  // namespace afa::io
