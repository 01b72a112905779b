#include "afa/ensemble/aggregators.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/layers.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::ensemble {

namespace fs = std::filesystem;

std::vector<torch::Tensor> AggregatorSet::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& a : aggregators)
    for (const auto& p : a->parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AggregatorSet::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < aggregators.size(); ++i)
    for (const auto& p : aggregators[i]->named_parameters()) out.emplace_back(key(i, p.key()), p.value());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AggregatorSet::named_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < aggregators.size(); ++i)
    for (const auto& [name, t] : io::state_dict(*aggregators[i])) out.emplace_back(key(i, name), t);
  return out;
}

void AggregatorSet::to(torch::Device device, torch::ScalarType dtype) {
  for (auto& a : aggregators) a->to(device, dtype);
}

void AggregatorSet::train(bool on) {
  for (auto& a : aggregators) a->train(on);
}

AggregatorSet create_aggregators(const std::vector<models::StageInfo>& stages, int64_t num_models,
                                 int64_t cross_attn_dim, int64_t temb_channels, const AggregatorOptions& o) {
  AFA_CHECK(num_models >= 2, "an ensemble needs at least 2 models (got ", num_models, ")");
  torch::manual_seed(o.seed);
  AggregatorSet set;
  set.num_models = num_models;
  for (int64_t k = 0; k < int64_t(stages.size()); ++k) {
    if (o.last_block_only && k + 1 != int64_t(stages.size())) continue;
    SABWConfig c;
    c.in_channels = stages[k].out_channels;
    c.hidden_size = o.hidden_size;
    c.num_experts = num_models;
    c.num_layers = o.num_layers;
    c.num_attn_heads = o.num_attn_heads;
    c.cross_attn_dim = cross_attn_dim;
    c.temb_channels = temb_channels;
    c.spatial = o.spatial;
    c.use_timestep = o.use_timestep;
    c.use_text = o.use_text;
    // Validate through the same path a loaded config takes.
    c = SABWConfig::from_json(c.to_json(), "new aggregator " + std::to_string(k));
    set.stages.push_back(k);
    set.aggregators.push_back(SABW(c));
  }
  return set;
}

void check_fits(const AggregatorSet& set, const std::vector<models::StageInfo>& stages, int64_t num_models,
                const std::string& source) {
  AFA_CHECK(set.num_models == num_models, source, ": aggregators were made for ", set.num_models,
            " models but ", num_models, " are given (-m)");
  for (size_t i = 0; i < set.aggregators.size(); ++i) {
    const int64_t k = set.stages[i];
    AFA_CHECK(k >= 0 && k < int64_t(stages.size()), source, ": aggregator ", i, " is for stage ", k,
              " but the U-Net has ", stages.size(), " stages");
    const auto& c = set.aggregators[i]->config();
    AFA_CHECK(c.in_channels == stages[k].out_channels, source, ": aggregator ", i, " takes ", c.in_channels,
              " channels but U-Net stage ", k, " (", stages[k].name, ") gives ", stages[k].out_channels);
    AFA_CHECK(c.num_experts == num_models, source, ": aggregator ", i, " has ", c.num_experts, " experts, not ",
              num_models);
  }
}

namespace {

nlohmann::json read_json(const std::string& path) { return read_json_file(path, "aggregator config"); }

std::vector<int64_t> stages_of(const nlohmann::json& model_config, int64_t n, const std::string& source) {
  std::vector<int64_t> stages;
  if (model_config.contains("stages")) {
    stages = model_config.at("stages").get<std::vector<int64_t>>();
    AFA_CHECK(int64_t(stages.size()) == n, source, ": 'stages' lists ", stages.size(), " entries for ", n,
              " aggregators");
  } else {
    for (int64_t i = 0; i < n; ++i) stages.push_back(i);
  }
  return stages;
}

nlohmann::json model_config_of(const AggregatorSet& set) {
  nlohmann::json mc = {{"num_models", set.num_models}, {"num_aggregators", set.aggregators.size()}};
  bool identity = true;
  for (size_t i = 0; i < set.stages.size(); ++i) identity = identity && set.stages[i] == int64_t(i);
  if (!identity) mc["stages"] = set.stages;
  return mc;
}

AggregatorSet load_folder(const std::string& dir) {
  const std::string mc_path = (fs::path(dir) / "model_config.json").string();
  AFA_CHECK(fs::exists(mc_path), dir, ": not an aggregator checkpoint (no model_config.json)");
  auto mc = read_json(mc_path);
  AFA_CHECK(mc.contains("num_models") && mc.contains("num_aggregators"), mc_path,
            ": needs num_models and num_aggregators");
  AggregatorSet set;
  set.num_models = mc.at("num_models").get<int64_t>();
  const int64_t n = mc.at("num_aggregators").get<int64_t>();
  set.stages = stages_of(mc, n, mc_path);
  for (int64_t i = 0; i < n; ++i) {
    fs::path sub = fs::path(dir) / ("aggregator_" + std::to_string(i));
    const std::string cfg_path = (sub / "config.json").string();
    const std::string w_path = (sub / "aggregator.safetensors").string();
    AFA_CHECK(fs::exists(cfg_path) && fs::exists(w_path), dir, ": aggregator_", i,
              " is missing (config.json and aggregator.safetensors expected)");
    auto agg = models::build_for_loading<SABW>(SABWConfig::from_json(read_json(cfg_path), cfg_path));
    io::load_state_dict(*agg, io::load_safetensors(w_path), w_path);
    set.aggregators.push_back(agg);
  }
  return set;
}

AggregatorSet load_file(const std::string& path) {
  io::SafeTensorsFile f(path);
  const auto& meta = f.metadata();
  AFA_CHECK(meta.count("afa_format") && meta.at("afa_format") == "aggregators" && meta.count("model_config") &&
                meta.count("aggregator_configs"),
            path, ": not an afa aggregator file (metadata afa_format/model_config/aggregator_configs missing)");
  nlohmann::json mc, configs;
  try {
    mc = nlohmann::json::parse(meta.at("model_config"));
    configs = nlohmann::json::parse(meta.at("aggregator_configs"));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": bad JSON in metadata: ", e.what());
  }
  AggregatorSet set;
  set.num_models = mc.at("num_models").get<int64_t>();
  const int64_t n = mc.at("num_aggregators").get<int64_t>();
  AFA_CHECK(configs.is_array() && int64_t(configs.size()) == n, path, ": aggregator_configs must list ", n, " configs");
  set.stages = stages_of(mc, n, path);
  std::vector<io::StateDict> parts(n);
  for (const auto& name : f.names()) {
    auto dot = name.find('.');
    int64_t i = -1;
    if (name.rfind("aggregator_", 0) == 0 && dot != std::string::npos) {
      try {
        i = std::stoll(name.substr(11, dot - 11));
      } catch (...) {
      }
    }
    AFA_CHECK(i >= 0 && i < n, path, ": unexpected tensor '", name, "' (expected aggregator_<i>.<param>, i < ", n, ")");
    parts[i].emplace(name.substr(dot + 1), f.get(name));
  }
  for (int64_t i = 0; i < n; ++i) {
    auto agg = models::build_for_loading<SABW>(
        SABWConfig::from_json(configs[i], path + " (aggregator " + std::to_string(i) + ")"));
    io::load_state_dict(*agg, parts[i], path + " (aggregator_" + std::to_string(i) + ")");
    set.aggregators.push_back(agg);
  }
  return set;
}

}  // namespace

AggregatorSet load_aggregators(const std::string& path) {
  AFA_CHECK(fs::exists(path), path, ": no such aggregator checkpoint");
  AggregatorSet set = fs::is_directory(path) ? load_folder(path) : load_file(path);
  AFA_CHECK(set.num_models >= 1 && !set.aggregators.empty(), path, ": holds no aggregators");
  for (auto& a : set.aggregators) {
    a->eval();
  }
  return set;
}

void save_aggregators(const AggregatorSet& set, const std::string& path, torch::ScalarType file_dtype) {
  const nlohmann::json mc = model_config_of(set);
  if (fs::path(path).extension() == ".safetensors") {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    nlohmann::json configs = nlohmann::json::array();
    for (const auto& a : set.aggregators) configs.push_back(a->config().to_json());
    for (const auto& [name, t] : set.named_tensors())
      tensors.emplace_back(name, t.is_floating_point() ? t.to(torch::kCPU, file_dtype) : t.cpu());
    io::save_safetensors(path, tensors,
                         {{"afa_format", "aggregators"}, {"model_config", mc.dump()}, {"aggregator_configs", configs.dump()}});
    return;
  }
  // The folder is written next to its destination and renamed into place, so readers never see half of it.
  fs::path dst(path);
  fs::path tmp = dst.string() + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  auto write_text = [](const fs::path& file, const std::string& text) {
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    AFA_CHECK(f, file.string(), ": cannot write");
  };
  // A failed write (a full disk) removes the partial folder; the destination is untouched until the rename.
  try {
    fs::create_directories(tmp);
    for (size_t i = 0; i < set.aggregators.size(); ++i) {
      fs::path sub = tmp / ("aggregator_" + std::to_string(i));
      fs::create_directories(sub);
      std::map<std::string, torch::Tensor> sd;
      for (const auto& p : io::state_dict(*set.aggregators[i])) sd.emplace(p.first, p.second.to(torch::kFloat32));
      io::save_safetensors((sub / "aggregator.safetensors").string(), sd);
      write_text(sub / "config.json", set.aggregators[i]->config().to_json().dump());
    }
    write_text(tmp / "model_config.json", mc.dump());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::path old = dst.string() + ".old." + std::to_string(::getpid());
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::rename(tmp, dst);
  fs::remove_all(old);
}

}  // namespace afa::ensemble
