#include "afa/metrics/quality_plan.h"

#include <cstdio>
#include <filesystem>

#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

Shard Shard::parse(const std::string& text) {
  Shard s;
  long long i = -1, n = -1;
  char tail = 0;
  const int got = std::sscanf(text.c_str(), "%lld/%lld%c", &i, &n, &tail);
  AFA_CHECK(got == 2 && n >= 1 && i >= 0 && i < n && text.find_first_of("+- ") == std::string::npos,
            "--shard '", text, "': expected i/n with 0 <= i < n (e.g. 0/4 .. 3/4)");
  s.index = i;
  s.count = n;
  return s;
}

std::string Shard::suffix() const {
  if (count == 1) return "";
  return ".shard-" + std::to_string(index) + "-of-" + std::to_string(count);
}

std::string quality_image_name(int64_t prompt_index, int64_t k) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "p%06lld_%lld.png", static_cast<long long>(prompt_index), static_cast<long long>(k));
  return buf;
}

std::vector<QualityJob> plan_quality_run(const std::vector<std::string>& prompts, int64_t images_per_prompt,
                                         uint64_t seed, const Shard& shard) {
  AFA_CHECK(images_per_prompt >= 1, "images per prompt must be at least 1, got ", images_per_prompt);
  std::vector<QualityJob> jobs;
  for (int64_t p = 0; p < int64_t(prompts.size()); ++p) {
    if (!shard.owns(p)) continue;
    QualityJob j;
    j.prompt_index = p;
    j.prompt = prompts[size_t(p)];
    j.seed = seed + uint64_t(p);
    for (int64_t k = 0; k < images_per_prompt; ++k) j.images.push_back(quality_image_name(p, k));
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::vector<int64_t> missing_images(const QualityJob& job, const std::string& folder) {
  std::vector<int64_t> out;
  for (int64_t k = 0; k < int64_t(job.images.size()); ++k) {
    std::error_code ec;
    const auto p = fs::path(folder) / job.images[size_t(k)];
    if (!fs::is_regular_file(p, ec) || fs::file_size(p, ec) == 0) out.push_back(k);
  }
  return out;
}

}  // namespace afa::metrics
