// Helpers of the demo tests: a temporary folder and reading a JSON-lines file.
#pragma once

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace afa::test {

struct DemoTempDir {
  std::filesystem::path path;
  explicit DemoTempDir(const std::string& name) {
    path = std::filesystem::temp_directory_path() / ("afa_test_demo_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~DemoTempDir() {
    if (!std::getenv("AFA_KEEP_TEST_FILES")) std::filesystem::remove_all(path);
  }
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace afa::test
