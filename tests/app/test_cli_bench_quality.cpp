// End-to-end: afa bench-quality on the goldens' tiny SD model with the goldens' tiny CLIP (as clip-t's
// ViT-L/14) and tiny ImageReward: generate then evaluate; a rerun skips what exists and remakes a deleted
// image bit for bit; two shards in separate folders hold the same images, and afa eval over their union
// gives the unsharded run's numbers; a folder never mixes settings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"
#include "metrics/metrics_golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

nlohmann::json read_report(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

TEST(CliBenchQuality, GeneratesEvaluatesResumesAndShards) {
  const auto dir = temp_dir("bench_quality");
  fs::remove_all(dir);
  const auto w = dir / "weights";
  fs::create_directories(w);
  const auto cfg = read_json(metrics_golden("imagereward/imagereward_tiny_config.json"));
  fs::copy_file(metrics_golden("imagereward/imagereward_tiny.safetensors"), w / "ImageReward.safetensors");
  std::ofstream(w / "ImageReward.json")
      << nlohmann::json{{"med_config", cfg["tiny_med_config"]}, {"vision", cfg["tiny_vit"]}}.dump();
  fs::copy_file(metrics_golden("clip/clip_tiny_hf.safetensors"), w / "clip-vit-large-patch14.safetensors");
  std::ofstream(w / "clip-vit-large-patch14.json")
      << read_json(metrics_golden("clip/clip_tiny_configs.json"))["hf_clip_config_quick_gelu"].dump();
  std::ofstream(dir / "prompts.txt") << "a red circle\na photo of a cat\na blue square on a table\n";

  const std::string gen = "bench-quality --prompts " + quote((dir / "prompts.txt").string()) + " -m " +
                          quote(golden("pipelines/A")) + " --steps 2 --images-per-prompt 2 -W 64 -H 64 --threads 1 -q";
  const std::string metrics = " --metrics clip-t,ir --no-cache --weights " + quote(w.string());
  const auto full = dir / "full";
  auto r = run_afa(gen + metrics + " -o " + quote(full.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 to generate, 0 images already written"), std::string::npos) << r.out;
  const auto report = read_report(full / "report.json");
  EXPECT_EQ(report["count"], 6);
  ASSERT_EQ(report["imagereward"]["per_image"].size(), 6u);
  ASSERT_EQ(report["clip_t"]["per_image"].size(), 6u);
  const std::vector<std::string> names{"p000000_0.png", "p000000_1.png", "p000001_0.png",
                                       "p000001_1.png", "p000002_0.png", "p000002_1.png"};
  for (const auto& n : names) EXPECT_TRUE(fs::is_regular_file(full / "images" / n)) << n;

  // The manifest gives what a prompts text file in sorted order gives.
  std::ofstream(dir / "per_image.txt") << "a red circle\na red circle\na photo of a cat\na photo of a cat\n"
                                          "a blue square on a table\na blue square on a table\n";
  r = run_afa("eval --images " + quote((full / "images").string()) + " --prompts " +
              quote((dir / "per_image.txt").string()) + metrics + " -q --threads 1 -o " + quote((dir / "text.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_report(dir / "text.json")["imagereward"], report["imagereward"]);

  // Resume: only the deleted image is made again, the same bytes; the others are not touched.
  const std::string before = slurp(full / "images" / "p000001_1.png");
  const auto untouched = fs::last_write_time(full / "images" / "p000002_0.png");
  fs::remove(full / "images" / "p000001_1.png");
  r = run_afa(gen + " -o " + quote(full.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 to generate, 4 images already written"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(full / "images" / "p000001_1.png"), before);
  EXPECT_EQ(fs::last_write_time(full / "images" / "p000002_0.png"), untouched);

  // Other settings into the same folder are refused.
  r = run_afa(gen + " --seed 5 -o " + quote(full.string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("other settings (seed: 0, now 5)"), std::string::npos) << r.out;
  r = run_afa(gen + " --shard 2/2 -o " + quote((dir / "bad").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--shard '2/2'"), std::string::npos) << r.out;

  // Two shards, two folders: the same images, and afa eval over the union reports the same numbers.
  for (const char* s : {"0", "1"}) {
    r = run_afa(gen + metrics + " --shard " + s + "/2 -o " + quote((dir / ("s" + std::string(s))).string()));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("evaluate their union"), std::string::npos) << r.out;
  }
  for (const auto& n : names) {
    const auto in0 = dir / "s0" / "images" / n, in1 = dir / "s1" / "images" / n;
    EXPECT_NE(fs::exists(in0), fs::exists(in1)) << n;
    EXPECT_EQ(slurp(fs::exists(in0) ? in0 : in1), slurp(full / "images" / n)) << n;
  }
  r = run_afa("eval --images " + quote((dir / "s0" / "images").string()) + " --images " +
              quote((dir / "s1" / "images").string()) + metrics + " -q --threads 1 -o " + quote((dir / "union.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto merged = read_report(dir / "union.json");
  EXPECT_EQ(merged["count"], 6);
  EXPECT_EQ(merged["imagereward"], report["imagereward"]);
  EXPECT_EQ(merged["clip_t"], report["clip_t"]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
