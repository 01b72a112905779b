#include "afa/io/diffusers_folder.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "afa/io/safetensors.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace afa::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_json(const fs::path& path, const json& j) { write_text_atomic(path.string(), j.dump(2) + "\n"); }

void write_component(const fs::path& dir, const std::string& weights_name, const FolderComponent& c,
                     const json& class_keys, torch::ScalarType dtype) {
  fs::create_directories(dir);
  json cfg = c.config;
  for (auto it = class_keys.begin(); it != class_keys.end(); ++it) cfg[it.key()] = it.value();
  write_json(dir / "config.json", cfg);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : c.tensors)
    tensors.emplace_back(name, t.is_floating_point() ? t.to(torch::kCPU, dtype) : t.to(torch::kCPU));
  save_safetensors((dir / weights_name).string(), tensors, {{"format", "pt"}});
}

}  // namespace

nlohmann::json model_index_json(const std::string& scheduler_class) {
  return {{"_class_name", "StableDiffusionPipeline"},
          {"_diffusers_version", "0.20.2"},
          {"feature_extractor", {nullptr, nullptr}},
          {"requires_safety_checker", false},
          {"safety_checker", {nullptr, nullptr}},
          {"scheduler", {"diffusers", scheduler_class}},
          {"text_encoder", {"transformers", "CLIPTextModel"}},
          {"tokenizer", {"transformers", "CLIPTokenizer"}},
          {"unet", {"diffusers", "UNet2DConditionModel"}},
          {"vae", {"diffusers", "AutoencoderKL"}}};
}

void save_diffusers_folder(const std::string& dir, const PipelineFolder& p, bool replace) {
  const fs::path target(dir);
  if (fs::exists(target)) {
    AFA_CHECK(replace, dir, ": exists; choose another output folder");
    AFA_CHECK(fs::is_regular_file(target / "model_index.json"), dir,
              ": exists and is not a diffusers folder; it will not be replaced");
  }
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path tmp = target.string() + ".tmp" + std::to_string(::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    const std::string diffusers_version = "0.20.2";  // the layout and config keys of this version
    write_component(tmp / "unet", "diffusion_pytorch_model.safetensors", p.unet,
                    {{"_class_name", "UNet2DConditionModel"}, {"_diffusers_version", diffusers_version}}, p.dtype);
    write_component(tmp / "vae", "diffusion_pytorch_model.safetensors", p.vae,
                    {{"_class_name", "AutoencoderKL"}, {"_diffusers_version", diffusers_version}}, p.dtype);
    write_component(tmp / "text_encoder", "model.safetensors", p.text_encoder,
                    {{"architectures", {"CLIPTextModel"}}, {"model_type", "clip_text_model"}}, p.dtype);
    fs::create_directories(tmp / "tokenizer");
    for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
      const fs::path src = fs::path(p.tokenizer_dir) / f;
      if (fs::is_regular_file(src)) fs::copy_file(src, tmp / "tokenizer" / f);
    }
    AFA_CHECK(fs::is_regular_file(tmp / "tokenizer" / "vocab.json") && fs::is_regular_file(tmp / "tokenizer" / "merges.txt"),
              p.tokenizer_dir, ": no vocab.json and merges.txt to copy into the tokenizer folder");
    fs::create_directories(tmp / "scheduler");
    json sched = p.scheduler_config;
    if (!sched.contains("_class_name")) sched["_class_name"] = "PNDMScheduler";
    write_json(tmp / "scheduler" / "scheduler_config.json", sched);
    write_json(tmp / "model_index.json", model_index_json(sched["_class_name"].get<std::string>()));
    if (fs::exists(target)) {
      const fs::path old = target.string() + ".old" + std::to_string(::getpid());
      fs::rename(target, old);
      fs::rename(tmp, target);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace afa::io
