// Helpers for tests that compare against ../shared/golden (reference outputs of diffusers and the
// official AFA code; see its README for layouts and tolerances).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "afa/io/safetensors.h"

namespace afa::test {

// The golden folder: $AFA_GOLDEN if set, else ../shared/golden beside the source tree.
inline std::string golden_dir() {
  if (const char* env = std::getenv("AFA_GOLDEN")) return env;
  return AFA_GOLDEN_DIR;
}
inline std::string golden(const std::string& rel) { return golden_dir() + "/" + rel; }

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Asserts equal shapes and max |a - b| <= atol; reports the observed difference.
inline ::testing::AssertionResult AllClose(const torch::Tensor& actual, const torch::Tensor& expected,
                                           double atol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << actual.sizes() << " != expected " << expected.sizes();
  }
  if (!torch::isfinite(actual.to(torch::kFloat64)).all().item<bool>()) {
    return ::testing::AssertionFailure() << "actual has non-finite values";
  }
  double d = max_abs_diff(actual, expected);
  if (d <= atol) return ::testing::AssertionSuccess() << "max abs diff " << d;
  return ::testing::AssertionFailure() << "max abs diff " << d << " > atol " << atol
                                       << " (expected max abs "
                                       << expected.abs().max().item<double>() << ")";
}

}  // namespace afa::test
