// End-to-end: the `afa` program on the tiny golden models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"
#include "train/train_test_util.h"

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

TEST(Cli, PickleCheckpointsInfoConvertAndRefusal) {
  // afa info reads a .ckpt as it reads the .safetensors it was made from.
  auto s = run_afa("info --json " + tiny_configs() + quote(golden("ckpt/A_legacy.ckpt")));
  ASSERT_EQ(s.code, 0) << s.out;
  auto j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["format"], "ldm-single-file");
  EXPECT_EQ(j["dtype"], "F16");
  // afa convert writes the safetensors file to keep: A's tensors, bit for bit.
  auto dir = temp_dir("ckpt_convert");
  const auto out = (dir / "A.safetensors").string();
  auto r = run_afa("convert " + quote(golden("ckpt/A_f16.ckpt")) + " -o " + quote(out) + " --dtype f16");
  ASSERT_EQ(r.code, 0) << r.out;
  io::SafeTensorsFile got(out), want(golden("pipelines/A.safetensors"));
  size_t same = 0;
  for (const auto& n : want.names()) {
    if (!got.contains(n)) continue;
    EXPECT_TRUE(torch::equal(got.get(n), want.get(n))) << n;
    ++same;
  }
  EXPECT_GT(same, 900u);
  // A hostile pickle: exit 2 naming the call, and nothing ran.
  std::remove("/tmp/afa-ckpt-pwned");
  r = run_afa("info " + quote(golden("ckpt/evil_os_system.ckpt")));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("forbidden global 'posix.system'"), std::string::npos) << r.out;
  r = run_afa("merge -m " + quote(golden("ckpt/evil_os_system.ckpt")) + " -m " + quote(golden("pipelines/B.safetensors")) +
              " -o " + quote((dir / "m.safetensors").string()));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("posix.system"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists("/tmp/afa-ckpt-pwned"));
  std::filesystem::remove_all(dir);
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
  for (const std::string method : {"afa", "noise-avg", "block-avg", "magicfusion"}) {
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
  for (const char* other : {"afa", "noise-avg", "block-avg"})
    EXPECT_FALSE(torch::equal(images["magicfusion"], images[other])) << other;
  std::filesystem::remove_all(dir);
}

TEST(Cli, MagicFusionOutsideItsWindowIsTheChosenModel) {
  // Fusion only at t >= 2000 never happens: every step is model B's (index 1) own guided noise.
  auto dir = temp_dir("mf_window");
  const std::string common = "-p 'a red boat' --sampler ddim --steps 3 -W 64 -H 64 --seed 4 ";
  auto single = (dir / "b.safetensors").string(), mf = (dir / "mf.safetensors").string();
  auto r1 = run_afa("generate " + tiny("B") + tiny_configs() + common + "-o " + quote((dir / "b.png").string()) +
                    " --latents-out " + quote(single));
  ASSERT_EQ(r1.code, 0) << r1.out;
  auto r2 = run_afa("generate " + tiny("A") + tiny("B") + tiny_configs() + common +
                    "--method magicfusion --mf-threshold 2000 --mf-outside 1 --mf-temperature 1,2 -o " +
                    quote((dir / "mf.png").string()) + " --latents-out " + quote(mf));
  ASSERT_EQ(r2.code, 0) << r2.out;
  EXPECT_TRUE(torch::equal(io::load_safetensors(single).at("latents"), io::load_safetensors(mf).at("latents")));
  EXPECT_NE(io::read_png_text((dir / "mf.png").string()).at("parameters").find("MagicFusion: general 0 fuse above 2000"),
            std::string::npos);
  // Bad settings are refused before loading anything.
  auto bad = run_afa("generate " + tiny("A") + tiny("B") + tiny_configs() + common +
                     "--method magicfusion --cfg-scale 1 -o " + quote((dir / "x.png").string()));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("needs --cfg-scale > 1"), std::string::npos) << bad.out;
  auto bad_t = run_afa("generate " + tiny("A") + tiny("B") + tiny_configs() + common +
                       "--method magicfusion --mf-temperature 1,2,3 -o " + quote((dir / "x.png").string()));
  EXPECT_EQ(bad_t.code, 2);
  EXPECT_NE(bad_t.out.find("one temperature per model"), std::string::npos) << bad_t.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, AblationAggregatorsTrainAndGenerate) {
  // Each ablation architecture: `afa train --method X` writes an aggregator checkpoint that
  // `afa generate --aggregator` loads as it is and that changes the image (block-avg is the untrained
  // aggregator's image).
  auto dir = temp_dir("ablations");
  auto data = make_synthetic_data(dir / "data", 4);
  const std::string models = tiny("A") + tiny("B") + tiny_configs();
  const std::string gen = "-p 'a green square on blue' --sampler euler --steps 3 -W 128 -H 128 --seed 8 ";
  auto ref_lat = (dir / "block_avg.safetensors").string();
  auto ref = run_afa("generate " + models + gen + "--method block-avg -o " + quote((dir / "block_avg.png").string()) +
                     " --latents-out " + quote(ref_lat));
  ASSERT_EQ(ref.code, 0) << ref.out;
  auto block_avg = io::load_safetensors(ref_lat).at("latents");
  for (const std::string method : {"scalar", "no-time", "no-text", "last-block-only"}) {
    auto out = dir / method;
    auto t = run_afa("train " + models + "--data " + quote(data) + " -o " + quote(out.string()) + " --method " +
                     method + " --max-steps 2 --batch-size 2 --resolution 128 --hidden-size 32 --heads 2 --layers 1" +
                     " --lr 1e-2 --warmup-steps 0 --val-fraction 0 -q");
    ASSERT_EQ(t.code, 0) << method << "\n" << t.out;
    auto lat = (out / "latents.safetensors").string();
    auto g = run_afa("generate " + models + gen + "--aggregator " + quote(out.string()) + " -o " +
                     quote((out / "image.png").string()) + " --latents-out " + quote(lat));
    ASSERT_EQ(g.code, 0) << method << "\n" << g.out;
    auto img = io::read_image((out / "image.png").string());
    EXPECT_GT(img.to(torch::kFloat32).std().item<float>(), 1.0f) << method;
    auto l = io::load_safetensors(lat).at("latents");
    EXPECT_TRUE(torch::isfinite(l).all().item<bool>()) << method;
    EXPECT_GT((l - block_avg).abs().max().item<float>(), 1e-4f) << method << ": training changed nothing";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
