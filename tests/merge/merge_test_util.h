// Helpers shared by the merge tests: golden paths, temporary folders, error messages.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "afa/util/error.h"
#include "golden.h"

namespace afa::test {

inline std::string tiny_file(const std::string& m) { return golden("pipelines/" + m + ".safetensors"); }

// A fresh folder under the system temp dir, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("afa_merge_" + std::to_string(::getpid()) + "_" + name)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Records an observed error in the test's XML output (--gtest_output=xml) as e.g. "3.1e-07".
inline void record_error(const std::string& name, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", value);
  ::testing::Test::RecordProperty(name, buf);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const afa::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace afa::test
