// Helpers of the demo tests: reading files and JSON lines, a small toydata folder.
#pragma once

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "afa/demo/toy_data.h"
#include "test_util.h"

namespace afa::test {

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

// A toydata folder of `count` training and `heldout` held-out images.
inline demo::ToyDataSummary make_toy_data(const std::filesystem::path& dir, uint64_t seed, int64_t count,
                                          int64_t heldout) {
  demo::ToyDataOptions o;
  o.output = dir.string();
  o.count = count;
  o.heldout_count = heldout;
  o.seed = seed;
  o.progress = false;
  return demo::write_toy_data(o);
}

}  // namespace afa::test
