// The work of a quality benchmark run (afa bench-quality): every prompt gets `images_per_prompt` images,
// drawn in one batch from the seed `seed + prompt index` (diffusers' num_images_per_prompt), so any image
// can be remade alone and shards never depend on each other. Images are named p<index, 6 digits>_<k>.png,
// which sorts prompt-major; a shard i/n takes the prompts whose index is i mod n. A prompt whose images
// all exist is done: a rerun skips it (resuming), and shards written to different folders are merged by
// evaluating the union of the folders.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace afa::metrics {

struct Shard {
  int64_t index = 0, count = 1;
  // "i/n" with 0 <= i < n; throws afa::Error otherwise.
  static Shard parse(const std::string& text);
  bool owns(int64_t prompt_index) const { return prompt_index % count == index; }
  std::string suffix() const;  // "" for 0/1, else ".shard-i-of-n"
};

struct QualityJob {
  int64_t prompt_index = 0;
  std::string prompt;
  uint64_t seed = 0;
  std::vector<std::string> images;  // file names, k = 0 .. images_per_prompt - 1
};

std::string quality_image_name(int64_t prompt_index, int64_t k);

// The shard's jobs, in prompt order.
std::vector<QualityJob> plan_quality_run(const std::vector<std::string>& prompts, int64_t images_per_prompt,
                                         uint64_t seed, const Shard& shard);

// The job's images that are not yet in `folder` (regular, non-empty files count as written: PNGs are
// written atomically, so a file that exists is whole).
std::vector<int64_t> missing_images(const QualityJob& job, const std::string& folder);

}  // namespace afa::metrics
