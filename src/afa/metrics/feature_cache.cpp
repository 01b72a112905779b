#include "afa/metrics/feature_cache.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "afa/io/safetensors.h"
#include "afa/io/sha256.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

namespace {

constexpr const char* kFormat = "afa-feature-cache/1";
constexpr const char* kMetaKey = "afa_feature_cache";

// [size, mtime in ns] of a file (stat's nanosecond time, so a rewrite within a second still counts).
nlohmann::json file_stamp(const std::string& path) {
  struct stat st {};
  AFA_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot stat the file");
  return {int64_t(st.st_size), int64_t(st.st_mtim.tv_sec) * 1000000000 + int64_t(st.st_mtim.tv_nsec)};
}

}  // namespace

std::string reference_cache_description(const std::string& kind, const std::vector<std::string>& files,
                                        const std::vector<std::string>& weights_files) {
  nlohmann::json d{{"format", kFormat}, {"kind", kind}};
  auto& w = d["weights"] = nlohmann::json::array();
  for (const auto& f : weights_files) {
    std::error_code ec;
    const auto canonical = fs::weakly_canonical(f, ec);
    w.push_back({{"path", ec ? f : canonical.string()}, {"stamp", file_stamp(f)}});
  }
  auto& list = d["files"] = nlohmann::json::array();
  for (const auto& f : files) list.push_back({fs::path(f).filename().string(), file_stamp(f)});
  return d.dump();
}

std::string default_feature_cache_dir() {
  if (const char* env = std::getenv("AFA_CACHE_DIR"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return (fs::path(xdg) / "afa" / "features").string();
  if (const char* home = std::getenv("HOME"); home && *home)
    return (fs::path(home) / ".cache" / "afa" / "features").string();
  return "";
}

std::string FeatureCache::path_for(const std::string& description) const {
  return (fs::path(dir_) / (io::sha256_hex(description) + ".safetensors")).string();
}

std::optional<std::map<std::string, torch::Tensor>> FeatureCache::load(const std::string& description) const {
  if (!enabled()) return std::nullopt;
  const std::string path = path_for(description);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  try {
    io::SafeTensorsFile f(path);
    const auto& meta = f.metadata();
    const auto it = meta.find(kMetaKey);
    if (it == meta.end() || it->second != description) return std::nullopt;
    std::map<std::string, torch::Tensor> out;
    for (const auto& n : f.names()) out[n] = f.get(n).clone();
    return out;
  } catch (const Error& e) {
    std::cerr << "warning: ignoring the unreadable feature cache file " << path << " (" << e.what() << ")\n";
    return std::nullopt;
  }
}

std::string FeatureCache::store(const std::string& description,
                                const std::map<std::string, torch::Tensor>& tensors) const {
  if (!enabled()) return "";
  const std::string path = path_for(description);
  try {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    AFA_CHECK(!ec, dir_, ": cannot create the cache folder (", ec.message(), ")");
    io::save_safetensors(path, tensors, {{kMetaKey, description}});
    return path;
  } catch (const Error& e) {
    std::cerr << "warning: the feature cache was not written: " << e.what() << "\n";
    return "";
  }
}

}  // namespace afa::metrics
