#include "afa/demo/toy_data.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "afa/util/atomic_file.h"
#include "afa/demo/toy_render.h"
#include "afa/demo/toy_split.h"
#include "afa/demo/toy_tokenizer.h"
#include "afa/demo/toy_world.h"
#include "afa/io/image.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"

namespace afa::demo {

namespace fs = std::filesystem;

namespace {

std::string image_name(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06lld.png", static_cast<long long>(i));
  return buf;
}

}  // namespace

ToyDataSummary write_toy_data(const ToyDataOptions& o) {
  AFA_CHECK(!o.output.empty(), "toydata: -o/--output is required");
  AFA_CHECK(o.count >= 1, "toydata: --count must be at least 1 (got ", o.count, ")");
  AFA_CHECK(o.size == 64 || o.size == 128, "toydata: --size must be 64 or 128 (got ", o.size, ")");
  const int64_t heldout_count = o.heldout_count < 0 ? std::max<int64_t>(1, o.count / 10) : o.heldout_count;
  const fs::path root(o.output);
  std::error_code ec;
  for (const char* sub : {"train", "heldout"}) {
    fs::create_directories(root / sub, ec);
    AFA_CHECK(!ec, (root / sub).string(), ": cannot create the folder (", ec.message(), ")");
  }

  ToyDataSummary sum;
  std::string lines[2];  // train, heldout
  std::map<std::string, std::string> subset_lines[2];
  for (const auto& name : subset_names()) subset_lines[0][name], subset_lines[1][name];
  ProgressBar bar("toydata", o.count + heldout_count, o.progress);
  for (int64_t k = 0; sum.train < o.count || sum.heldout < heldout_count; ++k) {
    const ToyScene scene = sample_scene(scene_seed(o.seed, static_cast<uint64_t>(k)));
    const std::string text = caption(scene);
    const int split = is_held_out(text) ? 1 : 0;
    int64_t& n = split ? sum.heldout : sum.train;
    if (n >= (split ? heldout_count : o.count)) continue;
    const std::string rel = std::string(split ? "heldout/" : "train/") + image_name(n);
    io::write_png((root / rel).string(), render(scene, o.size), {{"parameters", text}});
    nlohmann::ordered_json line{{"image", rel}, {"text", text}};
    const auto attributes = attributes_json(scene);
    for (const auto& [key, val] : attributes.items()) line[key] = val;
    const auto tags = subsets(scene);
    line["subsets"] = tags;
    line["scene"] = k;
    const std::string s = line.dump() + "\n";
    lines[split] += s;
    for (const auto& t : tags) {
      subset_lines[split][t] += s;
      ++(split ? sum.heldout_subsets : sum.train_subsets)[t];
    }
    ++n;
    sum.scenes_drawn = k + 1;
    bar.update(sum.train + sum.heldout);
  }
  bar.finish();

  write_text_atomic((root / "train.jsonl").string(), lines[0]);
  write_text_atomic((root / "heldout.jsonl").string(), lines[1]);
  for (const auto& name : subset_names()) {
    write_text_atomic((root / ("expert_" + name + ".jsonl")).string(), subset_lines[0][name]);
    write_text_atomic((root / ("heldout_" + name + ".jsonl")).string(), subset_lines[1][name]);
  }
  sum.vocab_size = write_toy_tokenizer(o.tokenizer_dir.empty() ? (root / "tokenizer").string() : o.tokenizer_dir);

  nlohmann::ordered_json info{{"seed", o.seed},
                              {"size", o.size},
                              {"train", sum.train},
                              {"heldout", sum.heldout},
                              {"scenes_drawn", sum.scenes_drawn},
                              {"train_subsets", sum.train_subsets},
                              {"heldout_subsets", sum.heldout_subsets},
                              {"vocab_size", sum.vocab_size},
                              {"heldout_rule", "caption_hash(caption) % " + std::to_string(kHeldOutModulus) + " == 0"},
                              {"shapes", shape_names()},
                              {"colours", colour_names()},
                              {"sizes", size_names()},
                              {"positions", position_names()},
                              {"backgrounds", background_names()},
                              {"background_colours", background_colour_names()},
                              {"subsets", subset_names()}};
  write_text_atomic((root / "toydata.json").string(), info.dump(2) + "\n");
  return sum;
}

}  // namespace afa::demo
