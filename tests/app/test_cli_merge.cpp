// End-to-end: `afa merge` on the tiny golden models.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

std::string model(const std::string& m) { return "-m " + quote(golden("pipelines/" + m + ".safetensors")) + " "; }

TEST(CliMerge, WeightedMbwAndLoraWriteLoadableFilesWithTheirRecipe) {
  auto dir = temp_dir("merge");
  const std::string out = (dir / "ab.safetensors").string();
  auto r = run_afa("merge " + model("A") + model("B") + "-o " + quote(out) + " --alpha 0.3 --dtype f32");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("964 tensors"), std::string::npos) << r.out;
  {
    io::SafeTensorsFile f(out);
    auto a = io::SafeTensorsFile(golden("pipelines/A.safetensors"));
    auto b = io::SafeTensorsFile(golden("pipelines/B.safetensors"));
    const std::string k = "model.diffusion_model.out.2.weight";
    auto want = a.get(k).to(torch::kFloat64) * 0.7 + b.get(k).to(torch::kFloat64) * 0.3;
    EXPECT_LE(max_abs_diff(f.get(k), want), 1e-6);
    auto recipe = nlohmann::json::parse(f.metadata().at("sd_merge_recipe"));
    EXPECT_EQ(recipe["models"][1]["name"], "B.safetensors");
    EXPECT_EQ(recipe["models"][0]["sha256"].get<std::string>().size(), 64u);
  }
  const std::string mbw = (dir / "mbw.safetensors").string();
  r = run_afa("merge " + model("A") + model("B") + "-o " + quote(mbw) + " --preset GRAD_V --base-alpha 0.2 --no-hash " +
              "--lora " + quote(golden("lora/lora_kohya.safetensors") + ":0.5"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("51 changed by LoRA"), std::string::npos) << r.out;
  EXPECT_EQ(io::SafeTensorsFile(mbw).info("model.diffusion_model.out.2.weight").dtype, "F16");
  // The merged file loads and generates.
  const std::string png = (dir / "x.png").string();
  r = run_afa("generate -m " + quote(mbw) + " --config " + quote(golden("pipelines/ldm_config.yaml")) + " --config " +
              quote(golden("pipelines/text_encoder_config.json")) + " -p cat --steps 2 -W 64 -H 64 --threads 1 -o " +
              quote(png));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(png));
  // A diffusers folder.
  const std::string folder = (dir / "ab_folder").string();
  r = run_afa("merge " + model("A") + model("B") + "-o " + quote(folder) + " --format diffusers --no-hash --config " +
              quote(golden("pipelines/ldm_config.yaml")) + " --config " + quote(golden("pipelines/text_encoder_config.json")));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_afa("info " + quote(folder));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("diffusers"), std::string::npos) << r.out;
  // The same LoRA at load time instead.
  r = run_afa("generate " + model("A") + "--config " + quote(golden("pipelines/ldm_config.yaml")) + " --config " +
              quote(golden("pipelines/text_encoder_config.json")) + " -p cat --steps 2 -W 64 -H 64 --threads 1 -o " +
              quote(png) + " --lora " + quote(golden("lora/lora_kohya.safetensors") + ":0.5"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_afa("generate " + model("A") + "-p cat --lora /nonexistent/l.safetensors -o " + quote(png));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/l.safetensors"), std::string::npos) << r.out;
  r = run_afa("merge " + model("A") + model("B") + model("C") + "-o " + quote((dir / "t.safetensors").string()) +
              " --method ties --density 0.5 --dare --seed 3 --no-hash");
  EXPECT_EQ(r.code, 0) << r.out;
  fs::remove_all(dir);
}

TEST(CliMerge, SearchScoresTrialsResumesAndWritesTheBest) {
  auto dir = temp_dir("merge_search");
  const std::string scorer = (dir / "score.sh").string(), prompts = (dir / "prompts.txt").string();
  { std::ofstream(scorer) << "#!/bin/sh\necho scoring \"$1\"\ncat \"$1\"/*.png | wc -c\n"; }
  fs::permissions(scorer, fs::perms::owner_all);
  { std::ofstream(prompts) << "a cat\n\na dog\n"; }
  const std::string out = (dir / "best.safetensors").string(), sdir = (dir / "search").string();
  const std::string args = "merge " + model("A") + model("B") + "-o " + quote(out) + " --search --prompts " +
                           quote(prompts) + " --scorer " + quote(scorer) + " --search-dir " + quote(sdir) +
                           " --steps 2 --size 64 --threads 1 --no-hash --config " +
                           quote(golden("pipelines/ldm_config.yaml")) + " --config " +
                           quote(golden("pipelines/text_encoder_config.json"));
  auto r = run_afa(args + " --budget-images 6");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 trials scored (6 images)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("budget reached"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_TRUE(fs::exists(fs::path(sdir) / "trial_0" / "0001.png"));
  // Resumed: the 3 logged trials are replayed.
  r = run_afa(args + " --budget-images 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 replayed"), std::string::npos) << r.out;
  std::ifstream log(fs::path(sdir) / "search_log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 5);
  auto recipe = nlohmann::json::parse(io::SafeTensorsFile(out).metadata().at("sd_merge_recipe"));
  EXPECT_TRUE(recipe["block_weights"].is_string());
  // A scorer that prints no number is an error naming it.
  r = run_afa(args + " --scorer true");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--scorer"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(CliMerge, BadInputExitsWith2NamingIt) {
  auto dir = temp_dir("merge_bad");
  const std::string out = quote((dir / "o.safetensors").string());
  const std::string ab = "merge " + model("A") + model("B");
  struct Case {
    std::string args, needle;
  } cases[] = {
      {ab + "-o " + out + " --method nope", "nope"},
      {ab + "-o " + out + " --alpha x", "--alpha"},
      {ab + "-o " + out + " --block-weights 1,2,3", "--block-weights"},
      {ab + "-o " + out + " --preset NOPE", "NOPE"},
      {ab + "-o " + out + " --method add-difference", "three models"},
      {ab + "-o " + out + " --dtype f8", "--dtype"},
      {ab + "-o " + out + " --density 0.5", "--density"},
      {ab + "-o " + quote((dir / "o.ckpt").string()), "o.ckpt"},
      {ab + "-o " + out + " --format onnx", "--format"},
      {ab + "-o " + out + " --config x.yaml", "--config"},
      {ab + "-o " + quote(golden("pipelines/A.safetensors")), "is an input"},
      {ab + "-o " + out + " --lora /nonexistent/l.safetensors", "/nonexistent/l.safetensors"},
      {"merge -m /nonexistent/m.safetensors " + model("B") + "-o " + out, "/nonexistent/m.safetensors"},
      {"merge " + model("A") + "-m " + quote(golden("merge/merge_io.safetensors")) + " -o " + out, "merge_io"},
  };
  for (const auto& c : cases) {
    auto r = run_afa(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
