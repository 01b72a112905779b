#include "afa/io/model_config.h"

#include "afa/io/config_defaults.h"
#include "afa/io/config_from_weights.h"
#include "afa/io/ldm_names.h"
#include "afa/io/sd15.h"
#include "afa/util/error.h"

namespace afa::io {

using nlohmann::json;

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
  if (files.overlay.contains(name)) cfg = merge_keys(cfg, files.overlay[name]);

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
    out.scheduler = merge_keys(out.scheduler, o);
  }
  return out;
}

}  // namespace afa::io
