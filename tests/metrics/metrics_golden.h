// Helpers of the metrics tests: the golden folder of metrics (../shared/golden/metrics, see its README).
#pragma once

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "golden.h"

namespace afa::test {

inline std::string metrics_golden(const std::string& rel) { return golden("metrics/" + rel); }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) ADD_FAILURE() << "cannot read " << path;
  return nlohmann::json::parse(f);
}

// AllClose that also prints the observed difference, so a run documents how close each golden is.
inline ::testing::AssertionResult GoldenClose(const torch::Tensor& actual, const torch::Tensor& expected, double atol,
                                              const std::string& label) {
  if (actual.sizes() == expected.sizes())
    std::cout << "[ golden   ] " << label << ": max |diff| " << max_abs_diff(actual, expected) << " (tolerance " << atol
              << ")\n";
  return AllClose(actual, expected, atol);
}

}  // namespace afa::test
