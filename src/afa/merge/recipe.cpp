#include "afa/merge/recipe.h"

#include <filesystem>

#include "afa/merge/merger.h"
#include "afa/io/sha256.h"

namespace afa::merge {

namespace fs = std::filesystem;
using nlohmann::json;

json describe_input(const std::string& path, bool hash) {
  json d;
  d["name"] = fs::path(path).filename().string();
  if (d["name"].get<std::string>().empty()) d["name"] = fs::path(path).parent_path().filename().string();
  if (fs::is_directory(path)) {
    d["id"] = "folder:" + d["name"].get<std::string>();
    d["format"] = "diffusers";
    return d;
  }
  const auto size = fs::file_size(path);
  d["size"] = size;
  d["format"] = "ldm-single-file";
  if (hash) {
    d["sha256"] = io::sha256_file(path);
    d["legacy_hash"] = io::legacy_model_hash(path);
    d["id"] = d["sha256"];
  } else {
    d["id"] = "size:" + std::to_string(size) + ":" + d["name"].get<std::string>();
  }
  return d;
}

namespace {

// A metadata value that holds JSON, or null when absent or unparsable.
json json_value(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) return nullptr;
  json j = json::parse(it->second, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

const char* a1111_method(Method m) {
  switch (m) {
    case Method::kWeighted: return "Weighted sum";
    case Method::kAddDifference: return "Add difference";
    case Method::kTies: return "TIES";
  }
  return "";
}

}  // namespace

std::map<std::string, std::string> merge_metadata(const Merger& m) {
  const MergeOptions& o = m.options();
  json models = json::array(), ancestry = json::object();
  for (const auto& in : m.inputs()) {
    json d = describe_input(in->path(), o.hash_inputs);
    json entry = {{"name", d["name"]}, {"legacy_hash", d.value("legacy_hash", json(nullptr))},
                  {"size", d.value("size", json(nullptr))},
                  {"sd_merge_recipe", json_value(in->metadata(), "sd_merge_recipe")}};
    json earlier = json_value(in->metadata(), "sd_merge_models");
    if (earlier.is_object()) ancestry.update(earlier);
    ancestry[d["id"].get<std::string>()] = entry;
    models.push_back(d);
  }
  json loras = json::array();
  for (const auto& l : o.loras) {
    json d = describe_input(l.path, o.hash_inputs);
    d["scale"] = l.scale;
    loras.push_back(d);
  }

  json r;
  r["type"] = "afa";
  r["method"] = method_name(o.method);
  r["models"] = models;
  r["alpha"] = o.alpha;
  r["block_weights"] = o.block_weights ? json(o.block_weights->to_string()) : json(nullptr);
  r["block_map"] = block_convention_name(o.block_map);
  if (o.method == Method::kTies) {
    r["density"] = o.density;
    r["dare"] = o.dare;
    if (o.dare) r["seed"] = o.seed;
  }
  r["dtype"] = o.dtype.empty() ? "as the first model" : o.dtype;
  r["loras"] = loras;
  r["merged_keys"] = "keys containing weight or bias of the U-Net, text encoder and VAE; others from model 1";
  // The fields A1111 writes, for tools that read only those.
  auto hash_of = [&](size_t i) { return i < models.size() ? models[i]["id"] : json(nullptr); };
  r["primary_model_hash"] = hash_of(0);
  r["secondary_model_hash"] = hash_of(1);
  r["tertiary_model_hash"] = hash_of(2);
  r["interp_method"] = a1111_method(o.method);
  r["multiplier"] = m.alpha_for_block(0);
  r["save_as_half"] = o.dtype == "f16";
  return {{"format", "pt"}, {"sd_merge_recipe", r.dump()}, {"sd_merge_models", ancestry.dump()}};
}

}  // namespace afa::merge
