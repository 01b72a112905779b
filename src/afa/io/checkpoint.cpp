#include "afa/io/checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "afa/io/ldm_names.h"
#include "afa/io/config_defaults.h"
#include "afa/io/config_from_weights.h"
#include "afa/io/sd15.h"
#include "afa/io/safetensors.h"
#include "afa/io/weights_file.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::io {

using nlohmann::json;
namespace fs = std::filesystem;

ComponentWeights& Checkpoint::component(Component c) {
  switch (c) {
    case Component::UNet: return unet;
    case Component::VAE: return vae;
    case Component::TextEncoder: return text_encoder;
  }
  return unet;
}

const ComponentWeights& Checkpoint::component(Component c) const {
  return const_cast<Checkpoint*>(this)->component(c);
}

namespace {

constexpr Component kComponents[] = {Component::UNet, Component::VAE, Component::TextEncoder};


bool is_float_dtype(const std::string& d) { return d == "F16" || d == "F32" || d == "BF16" || d == "F64"; }

// Collects what is wrong with a set of weights, to report the first few at once.
class Problems {
 public:
  void add(std::string p) { list_.push_back(std::move(p)); }
  bool empty() const { return list_.empty(); }
  [[noreturn]] void raise(const std::string& head) const {
    std::ostringstream os;
    os << head << ": ";
    for (size_t i = 0; i < list_.size() && i < kShown; ++i) os << (i ? "; " : "") << list_[i];
    if (list_.size() > kShown) os << "; and " << list_.size() - kShown << " more";
    fail(os.str());
  }
  void raise_if_any(const std::string& head) const {
    if (!empty()) raise(head);
  }

 private:
  static constexpr size_t kShown = 6;
  std::vector<std::string> list_;
};

// One stored tensor, wherever it lives.
struct Stored {
  const WeightsFile* file;
  std::string name;  // as stored
  const TensorInfo* info;
};

// Checks `stored` (keyed by the names `key` gives for table entries) against `table`, and returns
// the tensors under diffusers names. Keys of `stored` the table lacks are reported as unexpected.
std::map<std::string, torch::Tensor> take_tensors(const ParamTable& table, const std::map<std::string, Stored>& stored,
                                                  bool ldm_names, const std::string& head) {
  Problems problems;
  std::set<std::string> used;
  for (const auto& e : table) {
    const std::string& key = ldm_names ? e.ldm : e.diffusers;
    auto it = stored.find(key);
    if (it == stored.end()) {
      problems.add("missing key '" + key + "'");
      continue;
    }
    used.insert(key);
    const auto want = ldm_names ? ldm_shape(e) : e.shape;
    const TensorInfo& info = *it->second.info;
    if (ldm_names ? !ldm_shape_matches(e, info.shape) : info.shape != want) {
      problems.add("key '" + it->second.name + "' has shape " + shape_str(info.shape) + " but the config needs " + shape_str(want));
    } else if (!is_float_dtype(info.dtype)) {
      problems.add("key '" + it->second.name + "' has dtype " + info.dtype + ", not a floating-point type");
    }
  }
  for (const auto& [key, s] : stored) {
    if (!used.count(key)) problems.add("unexpected key '" + s.name + "'");
  }
  problems.raise_if_any(head);

  std::map<std::string, torch::Tensor> out;
  for (const auto& e : table) {
    const Stored& s = stored.at(ldm_names ? e.ldm : e.diffusers);
    torch::Tensor t = s.file->get(s.name);
    out.emplace(e.diffusers, ldm_names ? ldm_to_diffusers(e, t) : t);
  }
  return out;
}

std::string dtype_summary(const Checkpoint& ck) {
  std::set<std::string> names;
  for (Component c : kComponents) {
    for (const auto& [n, t] : ck.component(c).tensors) names.insert(dtype_name(t.scalar_type()));
  }
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : "+") + n;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Single files

Checkpoint load_single_file(const std::string& path, const std::vector<std::string>& config_files, unsigned components) {
  Checkpoint ck;
  ck.path = path;
  ck.format = "ldm-single-file";
  ck.components = components;
  auto file = open_weights_file(path);  // safetensors, or a pickle read without running it

  // Index the keys by their canonical LDM names, dropping what no model uses.
  std::map<std::string, Stored> stored;
  ShapeMap shapes;
  Problems unknown;
  size_t known_prefix = 0;
  for (const auto& name : file->names()) {
    if (is_ignorable_ldm_key(name)) continue;
    std::string key = canonical_ldm_name(name);
    if (!ldm_component(key)) {
      unknown.add("unexpected key '" + name + "'");
      continue;
    }
    ++known_prefix;
    const TensorInfo& info = file->info(name);
    if (!stored.emplace(key, Stored{file.get(), name, &info}).second) {
      unknown.add("key '" + name + "' appears twice (with and without text_model.)");
    }
    shapes[key] = info.shape;
  }
  if (known_prefix == 0) {
    fail(path, ": not an LDM single-file checkpoint: no model.diffusion_model.*, first_stage_model.* or "
         "cond_stage_model.transformer.* keys (", file->names().size(), " keys)");
  }
  unknown.raise_if_any(path + ": keys that belong to no supported model");

  for (Component c : kComponents) {
    if (!(components & component_bit(c))) continue;
    bool any = false;
    for (const auto& [key, s] : shapes) any = any || ldm_component(key) == c;
    if (!any) {
      fail(path, ": holds no ", component_name(c), " weights (no ", ldm_prefix(c), "* keys); load it without the ",
           component_name(c), " and take that model from elsewhere");
    }
  }

  std::vector<std::string> cfg_paths = config_files.empty() ? configs_beside(path) : config_files;
  ConfigFiles files = read_config_files(cfg_paths);
  ModelConfigs cfgs = single_file_configs(path, shapes, files, components);
  ck.scheduler_config = cfgs.scheduler;

  std::string cfg_src = cfg_paths.empty() ? "config inferred from the weights" : "config from";
  for (const auto& p : cfg_paths) cfg_src += " " + p;
  for (Component c : kComponents) {
    if (!(components & component_bit(c))) continue;
    const json& cfg = c == Component::UNet ? cfgs.unet : c == Component::VAE ? cfgs.vae : cfgs.text_encoder;
    ParamTable table = component_params(c, cfg, cfg_src);
    std::map<std::string, Stored> mine;
    for (const auto& [key, s] : stored) {
      if (ldm_component(key) == c) mine.emplace(key, s);
    }
    ComponentWeights& w = ck.component(c);
    w.config = cfg;
    w.source = path;
    w.tensors = take_tensors(table, mine, true,
                             path + ": the " + std::string(component_name(c)) + " weights do not fit its config (" + cfg_src + ")");
  }
  ck.dtype = dtype_summary(ck);
  return ck;
}

// ---------------------------------------------------------------------------------------------
// Diffusers folders

// The weights of one component folder: plain, fp16 variant, or sharded with an index.
std::vector<std::shared_ptr<WeightsFile>> open_component_weights(const fs::path& dir, const std::string& stem,
                                                                 std::string& source) {
  for (const std::string variant : {"", ".fp16"}) {
    fs::path single = dir / (stem + variant + ".safetensors");
    if (fs::is_regular_file(single)) {
      source = single.string();
      return {open_weights_file(single.string())};
    }
    fs::path index = dir / (stem + variant + ".safetensors.index.json");
    if (fs::is_regular_file(index)) {
      json j = read_json_file(index.string(), "the shard index");
      if (!j.contains("weight_map") || !j["weight_map"].is_object()) fail(index.string(), ": no weight_map object");
      std::set<std::string> shards;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it.value().is_string()) fail(index.string(), ": weight_map value of ", it.key(), " is not a file name");
        shards.insert(it.value().get<std::string>());
      }
      std::vector<std::shared_ptr<WeightsFile>> out;
      for (const auto& s : shards) out.push_back(open_weights_file((dir / s).string()));
      source = index.string();
      return out;
    }
  }
  // Older folders ship torch.save pickles (transformers names them pytorch_model.bin): the safe reader.
  const std::string bin_stem = stem == "model" ? "pytorch_model" : stem;
  for (const std::string variant : {"", ".fp16"}) {
    fs::path bin = dir / (bin_stem + variant + ".bin");
    if (fs::is_regular_file(bin)) {
      source = bin.string();
      return {open_weights_file(bin.string())};
    }
    if (fs::is_regular_file(dir / (bin_stem + variant + ".bin.index.json")))
      fail(dir.string(), ": sharded pickle (.bin) weights are not supported; convert them to .safetensors");
  }
  fail(dir.string(), ": no ", stem, ".safetensors (nor its .fp16 variant, a sharded index or a ", bin_stem, ".bin)");
}

// Names older diffusers versions gave the VAE's attention.
std::string modern_vae_name(const std::string& name) {
  static const std::pair<const char*, const char*> renames[] = {
      {".attentions.0.query.", ".attentions.0.to_q."}, {".attentions.0.key.", ".attentions.0.to_k."},
      {".attentions.0.value.", ".attentions.0.to_v."}, {".attentions.0.proj_attn.", ".attentions.0.to_out.0."}};
  for (const auto& [from, to] : renames) {
    auto pos = name.find(from);
    if (pos != std::string::npos) return name.substr(0, pos) + to + name.substr(pos + std::strlen(from));
  }
  return name;
}

void load_folder_component(Checkpoint& ck, Component c, const json& index) {
  const std::string name = component_name(c);
  static const std::map<std::string, std::string> expected_class = {
      {"unet", "UNet2DConditionModel"}, {"vae", "AutoencoderKL"}, {"text_encoder", "CLIPTextModel"}};
  const std::string index_path = (fs::path(ck.path) / "model_index.json").string();
  if (!index.contains(name) || !index[name].is_array() || index[name].size() != 2 || !index[name][1].is_string()) {
    fail(index_path, ": lists no ", name, " (expected \"", name, "\": [library, class])");
  }
  const std::string cls = index[name][1];
  if (cls != expected_class.at(name)) {
    fail(index_path, ": ", name, " is a ", cls, "; only ", expected_class.at(name), " is supported");
  }
  fs::path dir = fs::path(ck.path) / name;
  if (!fs::is_directory(dir)) fail(ck.path, ": no ", name, " folder");
  const std::string cfg_path = (dir / "config.json").string();
  if (!fs::is_regular_file(cfg_path)) fail(dir.string(), ": no config.json");
  json cfg = read_json_file(cfg_path, "the config");
  if (!cfg.is_object()) fail(cfg_path, ": not a JSON object");

  ComponentWeights& w = ck.component(c);
  auto files = open_component_weights(dir, c == Component::TextEncoder ? "model" : "diffusion_pytorch_model", w.source);
  std::map<std::string, Stored> stored;
  Problems dup;
  for (const auto& f : files) {
    for (const auto& n : f->names()) {
      if (is_ignorable_diffusers_key(n)) continue;
      std::string key = c == Component::VAE ? modern_vae_name(n) : n;
      if (!stored.emplace(key, Stored{f.get(), n, &f->info(n)}).second) dup.add("key '" + n + "' appears twice");
    }
  }
  dup.raise_if_any(w.source);
  w.config = complete_config(c, cfg);
  ParamTable table = component_params(c, w.config, cfg_path);
  w.tensors = take_tensors(table, stored, false, w.source + ": the " + name + " weights do not fit " + cfg_path);
}

Checkpoint load_folder(const std::string& path, unsigned components) {
  Checkpoint ck;
  ck.path = path;
  ck.format = "diffusers";
  ck.components = components;
  const fs::path root(path);
  const std::string index_path = (root / "model_index.json").string();
  if (!fs::is_regular_file(index_path)) {
    fail(path, ": a folder without model_index.json is not a diffusers pipeline");
  }
  json index = read_json_file(index_path, "model_index.json");
  if (!index.is_object()) fail(index_path, ": not a JSON object");

  for (Component c : kComponents) {
    if (components & component_bit(c)) load_folder_component(ck, c, index);
  }

  const fs::path sched = root / "scheduler" / "scheduler_config.json";
  if (fs::is_regular_file(sched)) {
    ck.scheduler_config = read_json_file(sched.string(), "the scheduler config");
  } else if (index.contains("scheduler") && index["scheduler"].is_array() && !index["scheduler"].empty() &&
             !index["scheduler"][0].is_null()) {
    fail(path, ": model_index.json lists a scheduler but ", sched.string(), " is missing");
  } else {
    ck.scheduler_config = sd15_scheduler_config();
  }
  const fs::path tok = root / "tokenizer";
  if (fs::is_regular_file(tok / "vocab.json") && fs::is_regular_file(tok / "merges.txt")) ck.tokenizer_dir = tok.string();
  ck.dtype = dtype_summary(ck);
  return ck;
}

}  // namespace

std::string checkpoint_format(const std::string& path) {
  if (fs::is_directory(path)) return "diffusers";
  if (!fs::exists(path)) fail(path, ": no such file or folder");
  return "ldm-single-file";  // .safetensors, or a pickle (.ckpt/.pt/.pth) with the same keys
}

Checkpoint load_checkpoint(const std::string& path, const std::vector<std::string>& config_files, unsigned components) {
  components &= kAllComponents;
  if (checkpoint_format(path) == "diffusers") return load_folder(path, components);
  return load_single_file(path, config_files, components);
}

}  // namespace afa::io
