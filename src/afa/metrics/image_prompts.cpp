#include "afa/metrics/image_prompts.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "afa/metrics/clip_metrics.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

namespace {

bool is_jsonl(const std::string& path) { return fs::path(path).extension() == ".jsonl"; }

std::string field(const nlohmann::json& j, const char* a, const char* b, const std::string& where) {
  for (const char* k : {a, b})
    if (j.contains(k)) {
      AFA_CHECK(j[k].is_string(), where, ": \"", k, "\" must be a string");
      return j[k];
    }
  fail(where, ": no \"", a, "\" (or \"", b, "\")");
}

}  // namespace

std::map<std::string, std::string> read_prompt_manifest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  AFA_CHECK(f, path, ": cannot read the prompts file");
  std::map<std::string, std::string> out;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + " line " + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(where, ": not a JSON object (", e.what(), ")");
    }
    AFA_CHECK(j.is_object(), where, ": expected a JSON object {\"image\": ..., \"prompt\": ...}");
    const std::string name = fs::path(field(j, "image", "file_name", where)).filename().string();
    const std::string prompt = field(j, "prompt", "text", where);
    const auto [it, fresh] = out.emplace(name, prompt);
    AFA_CHECK(fresh || it->second == prompt, where, ": image ", name, " was given another prompt before");
  }
  return out;
}

void write_prompt_manifest(const std::string& path, const std::map<std::string, std::string>& prompts) {
  std::string text;
  for (const auto& [name, prompt] : prompts) text += nlohmann::json{{"image", name}, {"prompt", prompt}}.dump() + "\n";
  write_text_atomic(path, text);
}

std::vector<std::string> folder_prompt_manifests(const std::string& folder) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && is_jsonl(name) && (name == "prompts.jsonl" || name.rfind("prompts.", 0) == 0))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> prompts_for_images(const std::vector<std::string>& files, const std::string& prompts_file,
                                            const std::vector<std::string>& folders) {
  if (!prompts_file.empty() && !is_jsonl(prompts_file)) {
    auto lines = read_prompts_file(prompts_file);
    std::string where;
    for (const auto& f : folders) where += (where.empty() ? "" : " + ") + f;
    AFA_CHECK(lines.size() == files.size(), "--prompts ", prompts_file, " has ", lines.size(), " prompts but ", where,
              " has ", files.size(), " images; give one prompt per image, in the images' sorted order");
    return lines;
  }
  std::map<std::string, std::string> by_name;
  std::string from;
  if (!prompts_file.empty()) {
    by_name = read_prompt_manifest(prompts_file);
    from = "--prompts " + prompts_file;
  } else {
    for (const auto& folder : folders)
      for (const auto& m : folder_prompt_manifests(folder)) {
        for (const auto& [name, prompt] : read_prompt_manifest(m)) {
          const auto [it, fresh] = by_name.emplace(name, prompt);
          AFA_CHECK(fresh || it->second == prompt, m, ": image ", name, " has another prompt in another manifest");
        }
        from += (from.empty() ? "" : ", ") + m;
      }
    AFA_CHECK(!from.empty(), "no --prompts FILE, and no prompts.jsonl in the images folder(s)");
  }
  std::vector<std::string> out;
  for (const auto& f : files) {
    const std::string name = fs::path(f).filename().string();
    const auto it = by_name.find(name);
    AFA_CHECK(it != by_name.end(), f, ": no prompt for this image in ", from);
    out.push_back(it->second);
  }
  return out;
}

}  // namespace afa::metrics
