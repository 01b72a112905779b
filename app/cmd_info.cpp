// afa info PATH: what a checkpoint holds and the configs afa inferred for it.
#include <iostream>

#include "afa/io/checkpoint.h"
#include "commands.h"

namespace afa::app {

namespace {

struct InfoArgs {
  std::string path;
  std::vector<std::string> configs;
  bool json = false;
};

int64_t count_parameters(const io::ComponentWeights& c) {
  int64_t n = 0;
  for (const auto& kv : c.tensors) n += kv.second.numel();
  return n;
}

std::string human(int64_t n) {
  char buf[32];
  if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", (long long)n);
  return buf;
}

int run_info(const InfoArgs& a) {
  io::Checkpoint ck = io::load_checkpoint(a.path, a.configs);
  nlohmann::ordered_json out;
  out["path"] = ck.path;
  out["format"] = ck.format;
  out["dtype"] = ck.dtype;
  out["tokenizer"] = ck.tokenizer_dir.empty() ? "(none: afa's CLIP vocabulary)" : ck.tokenizer_dir;
  const std::pair<const char*, const io::ComponentWeights*> parts[] = {
      {"unet", &ck.unet}, {"vae", &ck.vae}, {"text_encoder", &ck.text_encoder}};
  int64_t total = 0;
  for (const auto& [name, c] : parts) {
    if (!c->loaded()) continue;
    int64_t n = count_parameters(*c);
    total += n;
    out["components"][name] = {{"tensors", c->tensors.size()}, {"parameters", n}, {"source", c->source}};
  }
  out["parameters"] = total;
  out["configs"]["unet"] = ck.unet.config;
  out["configs"]["vae"] = ck.vae.config;
  out["configs"]["text_encoder"] = ck.text_encoder.config;
  out["configs"]["scheduler"] = ck.scheduler_config;
  if (a.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "path:       " << ck.path << "\n"
            << "format:     " << ck.format << "\n"
            << "dtype:      " << ck.dtype << "\n"
            << "tokenizer:  " << out["tokenizer"].get<std::string>() << "\n"
            << "parameters: " << human(total) << " (" << total << ")\n";
  for (const auto& [name, c] : parts) {
    if (!c->loaded()) continue;
    int64_t n = count_parameters(*c);
    std::cout << "  " << name << ": " << human(n) << " parameters in " << c->tensors.size() << " tensors\n";
  }
  std::cout << "inferred config:\n" << out["configs"].dump(2) << "\n";
  return 0;
}

}  // namespace

Run add_info(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  app.add_option("path", a->path, "diffusers folder or single file (.safetensors or pickled .ckpt/.pt/.pth)")->required();
  app.add_option("--config", a->configs,
                 "config for a single file: LDM yaml and/or JSON (repeatable; see README)");
  app.add_flag("--json", a->json, "print everything as one JSON object");
  return [a] { return run_info(*a); };
}

}  // namespace afa::app
