// Shared by the fuzz targets: the parsers under test read files, so each input is written to a file in a
// private folder of this process (in /dev/shm where it exists: no disk traffic per execution). A parser
// may only answer bad bytes with afa::Error; anything else that escapes (another exception, a crash, a
// sanitizer report, a hang) is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "afa/util/error.h"

namespace afa::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    auto d = base / ("afa_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path.string();
}

// Runs `parse`; afa::Error is the expected answer to bad input.
template <typename F>
void expect_only_afa_errors(F&& parse) {
  try {
    parse();
  } catch (const afa::Error&) {
  }
}

// The input split at the first occurrences of a separator byte sequence "\n--8<--\n" into parts.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t max_parts) {
  static const std::string sep = "\n--8<--\n";
  std::string s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const size_t p = s.find(sep, start);
    if (p == std::string::npos) break;
    parts.push_back(s.substr(start, p - start));
    start = p + sep.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace afa::fuzz
