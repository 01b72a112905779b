// Helpers of the metrics tests: the golden folder of metrics (../shared/golden/metrics, see its README).
#pragma once

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "golden.h"

namespace afa::test {

inline std::string metrics_golden(const std::string& rel) { return golden("metrics/" + rel); }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) ADD_FAILURE() << "cannot read " << path;
  return nlohmann::json::parse(f);
}

}  // namespace afa::test
