// Reading config.json fields, one way for every config (U-Net, VAE, text encoder, scheduler, aggregators):
// defaults for absent or null keys, integral floats (768.0) read as integers as Python writes them,
// "int or per-block list" fields, and errors that name the file and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace afa {

struct JsonFields {
  JsonFields(const nlohmann::json& json, std::string where, std::set<std::string> defaults = {})
      : j(json), source(std::move(where)), use_default(std::move(defaults)) {}

  const nlohmann::json& j;
  std::string source;                 // what and where, for error messages: "scheduler config x.json"
  std::set<std::string> use_default;  // keys to treat as absent (diffusers' "_use_default_values")

  bool has(const std::string& key) const {
    return j.contains(key) && !j.at(key).is_null() && use_default.count(key) == 0;
  }

  int64_t get_int(const std::string& key, int64_t def) const;
  // Also "inf"/"-inf"/"Infinity" strings, as Python's json and diffusers' to_json_string write them.
  double get_double(const std::string& key, double def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::string get_string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& def) const;
  std::vector<std::string> get_string_list(const std::string& key, const std::vector<std::string>& def) const;
  // An int applies to every one of n blocks; a list must have n entries (diffusers' convention).
  std::vector<int64_t> get_per_block(const std::string& key, int64_t def, size_t n) const;

  // Rejects options we do not implement: the key must be absent, null, or equal `expected` (dumped JSON).
  void require_default(const std::string& key, const nlohmann::json& expected) const;
  [[noreturn]] void bad(const std::string& key, const std::string& why) const;
};

}  // namespace afa
