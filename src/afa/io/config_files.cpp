#include "afa/io/config_files.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "afa/io/sd15.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::io {

using nlohmann::json;
namespace fs = std::filesystem;

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

namespace {
json ldm_configs(const json& root, const std::string& path);
}  // namespace

json configs_from_ldm_yaml(const std::string& path) {
  json root;
  try {
    root = yaml_to_json(YAML::LoadFile(path));
  } catch (const YAML::Exception& e) {
    fail("LDM config ", path, ": cannot read it as YAML: ", e.what());
  }
  // A value of the wrong type anywhere (a string where LDM has a flag, ...) is the file's fault.
  try {
    return ldm_configs(root, path);
  } catch (const json::exception& e) {
    fail("LDM config ", path, ": a value has the wrong type (", e.what(), ")");
  }
}

namespace {
json ldm_configs(const json& root, const std::string& path) {
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
}  // namespace

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

}  // namespace afa::io
