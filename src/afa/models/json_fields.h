// Reading diffusers config.json fields: defaults for absent keys, "int or per-block list" fields, and
// errors that name the file and the key. Internal to the models folder.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace afa::models::detail {

struct JsonFields {
  const nlohmann::json& j;
  std::string source;  // file name (or "config") for error messages

  bool has(const std::string& key) const { return j.contains(key) && !j.at(key).is_null(); }

  int64_t get_int(const std::string& key, int64_t def) const;
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

}  // namespace afa::models::detail
