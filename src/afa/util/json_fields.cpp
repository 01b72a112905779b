#include "afa/util/json_fields.h"

#include <cmath>

#include "afa/util/error.h"

namespace afa {

void JsonFields::bad(const std::string& key, const std::string& why) const {
  fail(source, ": config field '", key, "' ", why);
}

int64_t JsonFields::get_int(const std::string& key, int64_t def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (v.is_number_integer()) return v.get<int64_t>();
  // diffusers configs sometimes write integral values as floats (e.g. 1.0)
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
  }
  bad(key, "must be an integer, got " + v.dump());
}

double JsonFields::get_double(const std::string& key, double def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (v.is_string()) {
    const std::string t = v.get<std::string>();
    if (t == "-inf" || t == "-Infinity") return -INFINITY;
    if (t == "inf" || t == "Infinity") return INFINITY;
  }
  if (!v.is_number()) bad(key, "must be a number, got " + v.dump());
  return v.get<double>();
}

bool JsonFields::get_bool(const std::string& key, bool def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (!v.is_boolean()) bad(key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string JsonFields::get_string(const std::string& key, const std::string& def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (!v.is_string()) bad(key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> JsonFields::get_int_list(const std::string& key, const std::vector<int64_t>& def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (!v.is_array() || v.empty()) bad(key, "must be a non-empty list of integers, got " + v.dump());
  std::vector<int64_t> out;
  for (const auto& e : v) {
    const bool integral = e.is_number_integer() || (e.is_number_float() && std::isfinite(e.get<double>()) &&
                                                    e.get<double>() == std::floor(e.get<double>()));
    if (!integral) bad(key, "must be a list of integers, got " + v.dump());
    out.push_back(e.is_number_integer() ? e.get<int64_t>() : static_cast<int64_t>(e.get<double>()));
  }
  return out;
}

std::vector<std::string> JsonFields::get_string_list(const std::string& key,
                                                     const std::vector<std::string>& def) const {
  if (!has(key)) return def;
  const auto& v = j.at(key);
  if (!v.is_array() || v.empty()) bad(key, "must be a non-empty list of strings, got " + v.dump());
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) bad(key, "must be a list of strings, got " + v.dump());
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int64_t> JsonFields::get_per_block(const std::string& key, int64_t def, size_t n) const {
  if (!has(key)) return std::vector<int64_t>(n, def);
  const auto& v = j.at(key);
  if (v.is_number()) return std::vector<int64_t>(n, get_int(key, def));
  auto list = get_int_list(key, {});
  if (list.size() != n)
    bad(key, "has " + std::to_string(list.size()) + " entries but there are " + std::to_string(n) + " blocks");
  return list;
}

void JsonFields::require_default(const std::string& key, const nlohmann::json& expected) const {
  if (!has(key)) return;
  const auto& v = j.at(key);
  bool same = (v == expected);
  // 1 and 1.0 are the same setting
  if (!same && v.is_number() && expected.is_number()) same = v.get<double>() == expected.get<double>();
  if (!same) bad(key, "= " + v.dump() + " is not supported (only " + expected.dump() + ")");
}

}  // namespace afa
