// End-to-end: the `afa` program on the tiny golden models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"

namespace afa::test {
namespace {

std::string tiny(const std::string& m) {
  return "-m " + quote(golden("pipelines/" + m + ".safetensors")) + " ";
}
std::string tiny_configs() {
  return "--config " + quote(golden("pipelines/ldm_config.yaml")) + " --config " +
         quote(golden("pipelines/text_encoder_config.json")) + " ";
}

TEST(Cli, BadArgumentsExitWith2AndAMessage) {
  const std::string base = "generate -m " + quote(golden("pipelines/A")) + " -p x --threads 2 ";
  struct Case {
    std::string args, needle;
  } cases[] = {
      {base + "-W 100", "multiples of 8"},
      {base + "--steps 0", "--steps"},
      {base + "--sampler nope", "nope"},
      {"generate -m /nonexistent/model -p x", "/nonexistent/model"},
      {"generate -p x", "model"},
      {base + "--dtype f16", "cuda"},
      {base + "-m " + quote(golden("pipelines/A")), "--aggregator"},
      {"info /nonexistent.safetensors", "/nonexistent.safetensors"},
  };
  for (const auto& c : cases) {
    auto r = run_afa(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
  }
}

TEST(Cli, TokenizePrintsTheGoldenIds) {
  std::ifstream f(golden("tokenizer/token_ids.json"));
  auto cases = nlohmann::json::parse(f);
  const auto& c = cases[0];
  auto r = run_afa("tokenize -m " + quote(golden("pipelines/A")) + " -p " + quote(c["text"].get<std::string>()));
  ASSERT_EQ(r.code, 0) << r.out;
  auto line = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(nlohmann::json::parse(line), c["input_ids"]);
  EXPECT_NE(r.out.find(std::to_string(c["n_real"].get<int>() - 2) + " tokens"), std::string::npos) << r.out;
}

TEST(Cli, InfoDescribesFolderAndSingleFile) {
  auto r = run_afa("info " + quote(golden("pipelines/A")));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("diffusers"), std::string::npos);
  auto s = run_afa("info --json " + tiny_configs() + quote(golden("pipelines/B.safetensors")));
  ASSERT_EQ(s.code, 0) << s.out;
  auto j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["format"], "ldm-single-file");
  EXPECT_EQ(j["dtype"], "F16");
  EXPECT_EQ(j["configs"]["unet"]["attention_head_dim"], 8);
}

TEST(Cli, Ddim10ReproducesDiffusersWithParametersInThePng) {
  auto dir = temp_dir("ddim10");
  auto png = (dir / "a.png").string(), lat = (dir / "lat.safetensors").string();
  auto r = run_afa("generate -m " + quote(golden("pipelines/A")) +
                   " -p 'a photo of an astronaut riding a horse on mars' --sampler ddim --steps 10 --seed 42"
                   " --cfg-scale 7.5 -W 128 -H 128 -o " + quote(png) + " --latents-out " + quote(lat));
  ASSERT_EQ(r.code, 0) << r.out;
  auto io = io::load_safetensors(golden("t2i/ddim10_io.safetensors"));
  auto ref = io.at("latents_final");
  EXPECT_TRUE(AllClose(io::load_safetensors(lat).at("latents"), ref, 2e-5 * ref.abs().max().item<double>()));
  auto img = io::read_image(png).to(torch::kInt32), want = io.at("image_u8").to(torch::kInt32);
  auto off = (img - want).abs();
  EXPECT_LE(off.max().item<int>(), 1);
  EXPECT_LE(off.gt(0).sum().item<int64_t>(), want.numel() / 200);
  auto text = io::read_png_text(png).at("parameters");
  EXPECT_NE(text.find("a photo of an astronaut"), std::string::npos);
  EXPECT_NE(text.find("Steps: 10, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 128x128"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
}

TEST(Cli, AfaTextToImageReproducesTheOfficialPipeline) {
  auto dir = temp_dir("afa_t2i");
  auto png = (dir / "afa.png").string(), lat = (dir / "lat.safetensors").string(), maps = (dir / "maps").string();
  auto r = run_afa("generate " + tiny("A") + tiny("B") + tiny("C") + tiny_configs() + "--aggregator " +
                   quote(golden("afa/aggregators_perturbed")) +
                   " -p 'a red cube on a blue sphere' --sampler ddim --steps 10 --seed 43 --cfg-scale 7.5"
                   " -W 128 -H 128 -o " + quote(png) + " --latents-out " + quote(lat) + " --attn-maps " + quote(maps) +
                   " --attn-blocks 0,12,24");
  ASSERT_EQ(r.code, 0) << r.out;
  auto io = io::load_safetensors(golden("afa/afa_t2i_io.safetensors"));
  auto ref = io.at("latents_final");
  EXPECT_TRUE(AllClose(io::load_safetensors(lat).at("latents"), ref, 2e-5 * ref.abs().max().item<double>()));
  auto img = io::read_image(png).to(torch::kInt32), want = io.at("image_u8").to(torch::kInt32);
  EXPECT_LE((img - want).abs().max().item<int>(), 1);
  // Attention maps: first and last step, three blocks, three models, and the grids.
  for (const char* f : {"step00_block00_model0.png", "step09_block24_model2.png", "step00_grid.png", "step09_grid.png"})
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(maps) / f)) << f;
  auto grid = io::read_image((std::filesystem::path(maps) / "step00_grid.png").string());
  EXPECT_EQ(grid.size(0), 3 * (128 + 4));
  EXPECT_EQ(grid.size(1), 3 * (128 + 4));
  std::filesystem::remove_all(dir);
}

TEST(Cli, EveryEnsembleMethodMakesADistinctImage) {
  auto dir = temp_dir("methods");
  std::map<std::string, torch::Tensor> images;
  for (const std::string method : {"afa", "noise-avg", "block-avg"}) {
    auto png = (dir / (method + ".png")).string();
    std::string extra = method == "afa" ? "--aggregator " + quote(golden("afa/aggregators_perturbed")) + " " : "";
    auto r = run_afa("generate " + tiny("A") + tiny("B") + tiny("C") + tiny_configs() + extra + "--method " + method +
                     " -p 'a house by a lake' --sampler dpm++2m --steps 4 -W 64 -H 96 -b 2 --seed 1 -o " + quote(png));
    ASSERT_EQ(r.code, 0) << method << "\n" << r.out;
    auto img = io::read_image(png);
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{96, 64, 3})) << method;
    EXPECT_GT(img.to(torch::kFloat32).std().item<float>(), 1.0f) << method << ": a flat image";
    auto second = (dir / (method + "_1.png")).string();
    ASSERT_TRUE(std::filesystem::exists(second)) << method;
    EXPECT_FALSE(torch::equal(io::read_image(second), img)) << method << ": batch images are identical";
    EXPECT_NE(io::read_png_text(png).at("parameters").find("Ensemble: " + method), std::string::npos);
    images[method] = img;
  }
  EXPECT_FALSE(torch::equal(images["afa"], images["noise-avg"]));
  EXPECT_FALSE(torch::equal(images["afa"], images["block-avg"]));
  EXPECT_FALSE(torch::equal(images["noise-avg"], images["block-avg"]));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
