// Helpers shared by the test programs: the message of an expected afa::Error, configs without
// diffusers' bookkeeping keys, and the golden aggregator sets.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "afa/util/error.h"

namespace afa::test {

// The afa::Error message `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const afa::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Keys that describe the model, not diffusers' / transformers' bookkeeping.
inline nlohmann::json without_metadata(nlohmann::json j) {
  for (const char* k : {"_class_name", "_diffusers_version", "_name_or_path", "architectures", "torch_dtype",
                        "transformers_version"}) {
    j.erase(k);
  }
  return j;
}

}  // namespace afa::test
