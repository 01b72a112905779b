#include "afa/merge/lora.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "afa/io/config_from_weights.h"
#include "afa/io/ldm_names.h"
#include "afa/util/error.h"

namespace afa::merge {

namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

std::string strip_weight(const std::string& s) { return s.substr(0, s.size() - std::string(".weight").size()); }

}  // namespace

LoraSpec parse_lora_spec(const std::string& s) {
  LoraSpec spec{s, 1.0};
  auto pos = s.rfind(':');
  if (pos != std::string::npos && pos + 1 < s.size()) {
    const std::string tail = s.substr(pos + 1);
    char* end = nullptr;
    double v = std::strtod(tail.c_str(), &end);
    if (end && *end == '\0') {
      spec.path = s.substr(0, pos);
      spec.scale = v;
    }
  }
  AFA_CHECK(!spec.path.empty(), "--lora: no file in '", s, "'");
  return spec;
}

std::map<std::string, std::string> kohya_module_names(const io::ShapeMap& shapes) {
  std::map<std::string, std::string> out;
  auto add_component = [&](io::Component c, const char* kohya_prefix) {
    bool any = false;
    for (const auto& [k, s] : shapes) any = any || io::ldm_component(k) == c;
    if (!any) return;
    nlohmann::json structure = c == io::Component::UNet ? io::unet_structure_from_ldm(shapes, "the merged model")
                                                        : io::text_structure_from_ldm(shapes, "the merged model");
    const std::string ldm_prefix = io::ldm_prefix(c);
    for (const auto& e : io::component_params(c, structure, "the merged model")) {
      if (!ends_with(e.ldm, ".weight")) continue;
      out[kohya_prefix + underscored(strip_weight(e.diffusers))] = e.ldm;
      if (c == io::Component::UNet)
        out[kohya_prefix + underscored(strip_weight(e.ldm.substr(ldm_prefix.size())))] = e.ldm;
    }
  };
  add_component(io::Component::UNet, "lora_unet_");
  add_component(io::Component::TextEncoder, "lora_te_");
  return out;
}

LoraBaker::LoraBaker(const std::vector<LoraSpec>& loras, const io::ShapeMap& shapes) {
  if (loras.empty()) return;
  const auto names = kohya_module_names(shapes);
  for (const auto& spec : loras) {
    auto file = std::make_shared<io::SafeTensorsFile>(spec.path);
    std::set<std::string> modules;
    std::vector<std::string> unknown;
    for (const auto& n : file->names()) {
      bool known = false;
      for (const std::string suffix : {".lora_down.weight", ".lora_up.weight", ".alpha"}) {
        if (!known && ends_with(n, suffix)) {
          modules.insert(n.substr(0, n.size() - suffix.size()));
          known = true;
        }
      }
      if (!known) unknown.push_back(n + " (not a lora_down/lora_up/alpha key: LoHa, LoKr and DoRA are not supported)");
    }
    for (const auto& m : modules) {
      auto it = names.find(m);
      if (it == names.end()) {
        unknown.push_back(m + " (no such module in the model)");
        continue;
      }
      const std::string down = m + ".lora_down.weight", up = m + ".lora_up.weight";
      if (!file->contains(down) || !file->contains(up)) {
        unknown.push_back(m + " (needs both lora_down and lora_up)");
        continue;
      }
      const auto& di = file->info(down);
      const auto& ui = file->info(up);
      const auto& target = shapes.at(it->second);
      int64_t rank = di.shape.empty() ? 0 : di.shape[0];
      int64_t out_ch = ui.shape.empty() ? 0 : ui.shape[0];
      int64_t in_numel = 1, w_numel = 1;
      for (size_t i = 1; i < di.shape.size(); ++i) in_numel *= di.shape[i];
      for (int64_t s : target) w_numel *= s;
      int64_t up_rank = 1;
      for (size_t i = 1; i < ui.shape.size(); ++i) up_rank *= ui.shape[i];
      if (rank <= 0 || up_rank != rank || out_ch * in_numel != w_numel || target.empty() || target[0] != out_ch) {
        unknown.push_back(m + " (shapes do not fit " + it->second + ")");
        continue;
      }
      double alpha = static_cast<double>(rank);
      if (file->contains(m + ".alpha")) alpha = file->get(m + ".alpha").to(torch::kFloat64).item<double>();
      by_key_[it->second].push_back(Module{file, down, up, alpha, static_cast<double>(rank), spec.scale});
      ++modules_;
    }
    if (!unknown.empty()) {
      std::string list;
      for (size_t i = 0; i < unknown.size() && i < 8; ++i) list += (i ? "; " : "") + unknown[i];
      if (unknown.size() > 8) list += "; and " + std::to_string(unknown.size() - 8) + " more";
      fail(spec.path, ": LoRA keys this model cannot take: ", list);
    }
  }
}

void LoraBaker::apply(const std::string& key, torch::Tensor& w) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  for (const auto& m : it->second) {
    if (m.scale == 0.0) continue;
    // diffusers' order: up·alpha, then / rank, then the product, then W + scale·product.
    torch::Tensor up = m.file->get(m.up).to(torch::kFloat32).flatten(1) * m.alpha / m.rank;
    torch::Tensor down = m.file->get(m.down).to(torch::kFloat32).flatten(1);
    w = w + (torch::mm(up, down).reshape(w.sizes()) * m.scale);
  }
}

}  // namespace afa::merge
