// The golden metrics' "formula weights" (golden/metrics/README.md): full-size networks get deterministic
// weights computed from their key lists, so that no weight file is shipped. For key k (index in the
// sorted key list) and element i (row-major):
//   h = fmix32((i * 2654435761 + 97 k) mod 2^32),  u = h / 2^32 - 0.5,
//   value = float32(float16(float32(a + s u)))     (a + s u in double; torch's double -> half path)
// with (a, s) by the key's kind. Generated in memory on every run; nothing is cached on disk. Free of
// GoogleTest, so that bench/bench_metrics.cpp builds the same networks.
#pragma once

#include <c10/util/Half.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace afa::test {

inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6BU;
  h ^= h >> 13;
  h *= 0xC2B2AE35U;
  h ^= h >> 16;
  return h;
}

inline uint32_t formula_hash_before_mix(int64_t k, int64_t i) {
  return uint32_t(uint64_t(i) * 2654435761ULL + 97ULL * uint64_t(k));  // mod 2^32
}

inline double formula_u(int64_t k, int64_t i) {
  return double(fmix32(formula_hash_before_mix(k, i))) / 4294967296.0 - 0.5;
}

inline float formula_value(int64_t k, int64_t i, double a, double s) {
  const double v = a + s * formula_u(k, i);
  return float(c10::Half(float(v)));  // c10::Half rounds float -> half to nearest even
}

// (a, s) of a key by its kind, as the README's table: `gain` is sqrt(24) for InceptionV3.
inline std::pair<double, double> formula_a_s(const std::string& kind, const std::vector<int64_t>& shape,
                                             double gain) {
  if (kind == "running_mean") return {0.0, 0.0};
  if (kind == "running_var") return {1.0, 0.0};
  if (kind == "norm_weight") return {1.0, 0.1};
  if (kind == "norm_bias") return {0.0, 0.1};
  if (kind == "bias") return {0.0, 0.01};
  if (kind == "embedding") return {0.0, 0.02 * std::sqrt(12.0)};
  if (kind == "logit_scale") return {std::log(100.0), 0.0};
  if (kind == "weight") {
    int64_t numel = 1;
    for (auto d : shape) numel *= d;
    return {0.0, gain / std::sqrt(double(numel / shape.at(0)))};
  }
  throw std::runtime_error("formula weights: unknown kind " + kind);
}

inline torch::Tensor formula_tensor(int64_t k, const std::vector<int64_t>& shape, double a, double s) {
  auto t = torch::empty(shape, torch::kFloat32);
  float* p = t.data_ptr<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = formula_value(k, i, a, s);
  return t;
}

// All tensors of a key list (the JSON's "keys"), with k and (a, s) derived as the README says, not read.
inline std::map<std::string, torch::Tensor> formula_weights(const nlohmann::json& keys, double gain) {
  std::vector<std::string> names;
  for (const auto& e : keys) names.push_back(e["name"]);
  std::sort(names.begin(), names.end());  // as Python sorts str (byte order)
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : keys) {
    const std::string name = e["name"];
    const int64_t k = std::lower_bound(names.begin(), names.end(), name) - names.begin();
    const auto shape = e["shape"].get<std::vector<int64_t>>();
    const auto [a, s] = formula_a_s(e["kind"], shape, gain);
    out.emplace(name, formula_tensor(k, shape, a, s));
  }
  return out;
}

}  // namespace afa::test
