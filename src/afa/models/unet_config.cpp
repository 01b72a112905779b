#include "afa/models/unet_config.h"

#include <fstream>

#include "afa/util/json_fields.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::models {

namespace {
using nlohmann::json;
}

UNet2DConditionConfig UNet2DConditionConfig::from_json(const json& j, const std::string& source) {
  AFA_CHECK(j.is_object(), source, ": a UNet config must be a JSON object");
  JsonFields f{j, source};
  UNet2DConditionConfig c;
  if (f.has("_class_name")) {
    auto cls = f.get_string("_class_name", "");
    AFA_CHECK(cls == "UNet2DConditionModel", source, ": _class_name is '", cls,
              "', expected UNet2DConditionModel");
  }

  // Options of UNet2DConditionModel that this implementation does not have (SD 1.x/2.x need none).
  f.require_default("act_fn", "silu");
  f.require_default("addition_embed_type", nullptr);
  f.require_default("addition_time_embed_dim", nullptr);
  f.require_default("class_embed_type", nullptr);
  f.require_default("num_class_embeds", nullptr);
  f.require_default("projection_class_embeddings_input_dim", nullptr);
  f.require_default("class_embeddings_concat", false);
  f.require_default("encoder_hid_dim", nullptr);
  f.require_default("encoder_hid_dim_type", nullptr);
  f.require_default("time_cond_proj_dim", nullptr);
  f.require_default("time_embedding_type", "positional");
  f.require_default("time_embedding_dim", nullptr);
  f.require_default("time_embedding_act_fn", nullptr);
  f.require_default("timestep_post_act", nullptr);
  f.require_default("conv_in_kernel", 3);
  f.require_default("conv_out_kernel", 3);
  f.require_default("resnet_time_scale_shift", "default");
  f.require_default("resnet_skip_time_act", false);
  f.require_default("resnet_out_scale_factor", 1.0);
  f.require_default("mid_block_type", "UNetMidBlock2DCrossAttn");
  if (j.contains("mid_block_type") && j.at("mid_block_type").is_null())
    f.bad("mid_block_type", "= null (no mid block) is not supported");
  f.require_default("mid_block_only_cross_attention", nullptr);
  f.require_default("dual_cross_attention", false);
  f.require_default("only_cross_attention", false);
  f.require_default("cross_attention_norm", nullptr);
  f.require_default("attention_type", "default");

  c.in_channels = f.get_int("in_channels", c.in_channels);
  c.out_channels = f.get_int("out_channels", c.out_channels);
  c.center_input_sample = f.get_bool("center_input_sample", c.center_input_sample);
  c.flip_sin_to_cos = f.get_bool("flip_sin_to_cos", c.flip_sin_to_cos);
  c.freq_shift = f.get_double("freq_shift", c.freq_shift);
  c.down_block_types = f.get_string_list("down_block_types", c.down_block_types);
  c.up_block_types = f.get_string_list("up_block_types", c.up_block_types);
  c.block_out_channels = f.get_int_list("block_out_channels", c.block_out_channels);
  const size_t n = c.block_out_channels.size();
  c.layers_per_block = f.get_per_block("layers_per_block", 2, n);
  c.transformer_layers_per_block = f.get_per_block("transformer_layers_per_block", 1, n);
  // num_attention_heads = num_attention_heads or attention_head_dim (diffusers' naming quirk).
  if (f.has("num_attention_heads"))
    c.num_attention_heads = f.get_per_block("num_attention_heads", 8, n);
  else
    c.num_attention_heads = f.get_per_block("attention_head_dim", 8, n);
  c.downsample_padding = f.get_int("downsample_padding", c.downsample_padding);
  c.mid_block_scale_factor = f.get_double("mid_block_scale_factor", c.mid_block_scale_factor);
  c.norm_num_groups = f.get_int("norm_num_groups", c.norm_num_groups);
  c.norm_eps = f.get_double("norm_eps", c.norm_eps);
  if (f.has("cross_attention_dim") && j.at("cross_attention_dim").is_array()) {
    auto dims = f.get_int_list("cross_attention_dim", {});
    for (auto d : dims)
      if (d != dims[0]) f.bad("cross_attention_dim", "as a list of different values is not supported");
    c.cross_attention_dim = dims[0];
  } else {
    c.cross_attention_dim = f.get_int("cross_attention_dim", c.cross_attention_dim);
  }
  c.use_linear_projection = f.get_bool("use_linear_projection", c.use_linear_projection);
  c.upcast_attention = f.get_bool("upcast_attention", c.upcast_attention);
  // sample_size may be an int or an [H, W] pair; it is informational only
  if (f.has("sample_size") && j.at("sample_size").is_array())
    c.sample_size = f.get_int_list("sample_size", {}).at(0);
  else
    c.sample_size = f.get_int("sample_size", c.sample_size);
  c.validate(source);
  return c;
}

UNet2DConditionConfig UNet2DConditionConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path, "U-Net config"), path);
}

void UNet2DConditionConfig::validate(const std::string& source) const {
  const size_t n = block_out_channels.size();
  AFA_CHECK(n >= 1, source, ": block_out_channels is empty");
  AFA_CHECK(down_block_types.size() == n && up_block_types.size() == n, source,
            ": down_block_types (", down_block_types.size(), "), up_block_types (", up_block_types.size(),
            ") and block_out_channels (", n, ") must have the same length");
  AFA_CHECK(layers_per_block.size() == n && transformer_layers_per_block.size() == n &&
                num_attention_heads.size() == n,
            source, ": per-block lists must have ", n, " entries");
  for (const auto& t : down_block_types)
    AFA_CHECK(t == "CrossAttnDownBlock2D" || t == "DownBlock2D", source, ": down block type '", t,
              "' is not supported (CrossAttnDownBlock2D, DownBlock2D)");
  for (const auto& t : up_block_types)
    AFA_CHECK(t == "CrossAttnUpBlock2D" || t == "UpBlock2D", source, ": up block type '", t,
              "' is not supported (CrossAttnUpBlock2D, UpBlock2D)");
  AFA_CHECK(in_channels > 0 && out_channels > 0, source, ": in_channels and out_channels must be positive");
  AFA_CHECK(norm_num_groups > 0, source, ": norm_num_groups must be positive");
  AFA_CHECK(norm_eps > 0, source, ": norm_eps must be positive");
  AFA_CHECK(cross_attention_dim > 0, source, ": cross_attention_dim must be positive");
  AFA_CHECK(downsample_padding == 0 || downsample_padding == 1, source, ": downsample_padding must be 0 or 1");
  AFA_CHECK(block_out_channels[0] % 2 == 0, source, ": block_out_channels[0] (the sinusoidal embedding size) must be even");
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = block_out_channels[i];
    AFA_CHECK(ch > 0 && ch % norm_num_groups == 0, source, ": block_out_channels[", i, "] = ", ch,
              " is not a positive multiple of norm_num_groups = ", norm_num_groups);
    AFA_CHECK(layers_per_block[i] >= 1, source, ": layers_per_block must be >= 1");
    AFA_CHECK(transformer_layers_per_block[i] >= 1, source, ": transformer_layers_per_block must be >= 1");
    AFA_CHECK(num_attention_heads[i] >= 1 && ch % num_attention_heads[i] == 0, source,
              ": block ", i, " has ", ch, " channels, not divisible by its ", num_attention_heads[i],
              " attention heads");
  }
}

}  // namespace afa::models
