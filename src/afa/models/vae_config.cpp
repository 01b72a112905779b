#include "afa/models/vae_config.h"

#include <fstream>

#include "afa/util/json_fields.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::models {

namespace {
using nlohmann::json;
}

AutoencoderKLConfig AutoencoderKLConfig::from_json(const json& j, const std::string& source) {
  AFA_CHECK(j.is_object(), source, ": a VAE config must be a JSON object");
  JsonFields f{j, source};
  AutoencoderKLConfig c;
  if (f.has("_class_name")) {
    auto cls = f.get_string("_class_name", "");
    AFA_CHECK(cls == "AutoencoderKL", source, ": _class_name is '", cls, "', expected AutoencoderKL");
  }
  f.require_default("act_fn", "silu");
  // Options of later diffusers versions, accepted only at their defaults.
  f.require_default("use_quant_conv", true);
  f.require_default("use_post_quant_conv", true);
  f.require_default("mid_block_add_attention", true);
  c.block_out_channels = f.get_int_list("block_out_channels", c.block_out_channels);
  const size_t n = c.block_out_channels.size();
  auto down = f.get_string_list("down_block_types", std::vector<std::string>(n, "DownEncoderBlock2D"));
  auto up = f.get_string_list("up_block_types", std::vector<std::string>(n, "UpDecoderBlock2D"));
  AFA_CHECK(down.size() == n && up.size() == n, source, ": down_block_types (", down.size(), ") and up_block_types (",
            up.size(), ") must have one entry per block_out_channels (", n, ")");
  for (const auto& t : down)
    AFA_CHECK(t == "DownEncoderBlock2D", source, ": down block type '", t, "' is not supported (DownEncoderBlock2D)");
  for (const auto& t : up)
    AFA_CHECK(t == "UpDecoderBlock2D", source, ": up block type '", t, "' is not supported (UpDecoderBlock2D)");
  c.in_channels = f.get_int("in_channels", c.in_channels);
  c.out_channels = f.get_int("out_channels", c.out_channels);
  c.layers_per_block = f.get_int("layers_per_block", c.layers_per_block);
  c.latent_channels = f.get_int("latent_channels", c.latent_channels);
  c.norm_num_groups = f.get_int("norm_num_groups", c.norm_num_groups);
  if (f.has("sample_size") && j.at("sample_size").is_array())
    c.sample_size = f.get_int_list("sample_size", {}).at(0);
  else
    c.sample_size = f.get_int("sample_size", c.sample_size);
  c.scaling_factor = f.get_double("scaling_factor", c.scaling_factor);
  c.force_upcast = f.get_bool("force_upcast", c.force_upcast);
  c.validate(source);
  return c;
}

AutoencoderKLConfig AutoencoderKLConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path, "VAE config"), path);
}

void AutoencoderKLConfig::validate(const std::string& source) const {
  AFA_CHECK(!block_out_channels.empty(), source, ": block_out_channels is empty");
  AFA_CHECK(in_channels > 0 && out_channels > 0 && latent_channels > 0, source,
            ": in_channels, out_channels and latent_channels must be positive");
  AFA_CHECK(layers_per_block >= 1, source, ": layers_per_block must be >= 1");
  AFA_CHECK(norm_num_groups > 0, source, ": norm_num_groups must be positive");
  AFA_CHECK(scaling_factor > 0, source, ": scaling_factor must be positive");
  for (size_t i = 0; i < block_out_channels.size(); ++i)
    AFA_CHECK(block_out_channels[i] > 0 && block_out_channels[i] % norm_num_groups == 0, source,
              ": block_out_channels[", i, "] = ", block_out_channels[i], " is not a positive multiple of norm_num_groups = ",
              norm_num_groups);
}

}  // namespace afa::models
