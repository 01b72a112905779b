// Helpers shared by the test programs: temporary folders, the message of an expected afa::Error, configs
// without diffusers' bookkeeping keys.
#pragma once

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "afa/util/error.h"

namespace afa::test {

// A fresh folder under the system's temp directory, removed at the end unless AFA_KEEP_TEST_FILES is set.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name) {
    path = std::filesystem::temp_directory_path() / ("afa_test_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    if (!std::getenv("AFA_KEEP_TEST_FILES")) std::filesystem::remove_all(path);
  }
};

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
