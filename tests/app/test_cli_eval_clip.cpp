// End-to-end: afa eval's CLIP-family metrics (clip-t, clip-i, aes, pick, hps). Arguments and every weights
// file are checked before any work; the scores are the goldens' tiny-CLIP numbers (cases 4 and 6), run
// through the program with a FILE.json beside each weights file that declares the tiny architecture.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/metrics/aesthetic_predictor.h"
#include "afa/metrics/clip_model.h"
#include "afa/metrics/clip_preprocess.h"
#include "cli.h"
#include "golden.h"
#include "metrics/metrics_golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

TEST(CliEvalClip, ChecksArgumentsAndEveryWeightsFileBeforeAnyWork) {
  const auto dir = temp_dir("eval_clip_args");
  const auto images = dir / "images", weights = dir / "weights";
  fs::create_directories(images);
  fs::create_directories(weights);
  io::write_png((images / "a.png").string(), torch::zeros({8, 8, 3}, torch::kUInt8));
  write_text(dir / "one.txt", "a cat\n");
  write_text(dir / "two.txt", "a cat\na dog\n");
  const std::string base = "eval --images " + quote(images.string()) + " --weights " + quote(weights.string());
  const std::string one = " --prompts " + quote((dir / "one.txt").string());

  auto r = run_afa(base + " --metrics clip-t,hps");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--metrics clip-t and hps needs --prompts FILE"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics aes" + one);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--prompts is used by clip-t, pick, hps and ir only"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics clip-i");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--metrics clip-i needs --reference"), std::string::npos) << r.out;

  // Each missing file names the metrics that need it, the path and where it comes from.
  r = run_afa(base + " --metrics clip-t,aes" + one);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("CLIP-T and the aesthetic score needs the weights file " +
                       (weights / "clip-vit-large-patch14.safetensors").string()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("huggingface.co/openai/clip-vit-large-patch14"), std::string::npos) << r.out;
  write_text(weights / "clip-vit-large-patch14.safetensors", "");  // only its presence is checked up front
  r = run_afa(base + " --metrics aes");
  EXPECT_NE(r.out.find("The aesthetic score needs the weights file " +
                       (weights / "sac+logos+ava1-l14-linearMSE.safetensors").string()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("improved-aesthetic-predictor"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics pick" + one);
  EXPECT_NE(r.out.find("PickScore needs the weights file " + (weights / "PickScore_v1.safetensors").string()),
            std::string::npos)
      << r.out;
  r = run_afa(base + " --metrics hps" + one);
  EXPECT_NE(r.out.find("HPSv2 needs the weights file " + (weights / "HPS_v2_compressed.safetensors").string()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("xswu/HPSv2"), std::string::npos) << r.out;

  // One prompt per image.
  r = run_afa(base + " --metrics clip-t --prompts " + quote((dir / "two.txt").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("has 2 prompts but"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("has 1 images"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(CliEvalClip, ReportsTheGoldensTinyClipScores) {
  const auto dir = temp_dir("eval_clip_run");
  const auto gen = dir / "generated", ref = dir / "reference", w = dir / "weights";
  for (const auto& d : {gen, ref, w}) fs::create_directories(d);
  const auto configs = read_json(metrics_golden("clip/clip_tiny_configs.json"));
  const std::string hf = metrics_golden("clip/clip_tiny_hf.safetensors");
  // The tiny CLIP in each role, its architecture in FILE.json beside it.
  fs::copy_file(hf, w / "clip-vit-large-patch14.safetensors");
  write_text(w / "clip-vit-large-patch14.json", configs["hf_clip_config_quick_gelu"].dump());
  fs::copy_file(hf, w / "PickScore_v1.safetensors");
  write_text(w / "PickScore_v1.json", configs["hf_clip_config_gelu"].dump());
  auto oc = io::load_safetensors(metrics_golden("clip/clip_tiny_openclip_minus_token_embedding.safetensors"));
  oc["token_embedding.weight"] = io::SafeTensorsFile(hf).get("text_model.embeddings.token_embedding.weight");
  io::save_safetensors((w / "HPS_v2_compressed.safetensors").string(), oc);
  write_text(w / "HPS_v2_compressed.json", configs["hf_clip_config_gelu"].dump());
  // An aesthetic MLP on the tiny 16-d embeddings, random.
  torch::manual_seed(12);
  metrics::AestheticPredictor mlp(16);
  io::save_safetensors((w / "sac+logos+ava1-l14-linearMSE.safetensors").string(), io::state_dict(*mlp));

  io::SafeTensorsFile imgs(metrics_golden("images.safetensors"));
  const char* names[] = {"img_a", "img_b", "img_c"};
  for (int i = 0; i < 3; ++i) io::write_png((gen / ("g" + std::to_string(i) + ".png")).string(), imgs.get(names[i]));
  for (int i = 0; i < 2; ++i) io::write_png((ref / ("r" + std::to_string(i) + ".png")).string(), imgs.get(names[i]));
  std::string prompts;
  for (const auto& p : configs["prompts"]) prompts += p.get<std::string>() + "\n";
  write_text(dir / "prompts.txt", prompts);

  const auto report_path = dir / "report.json";
  auto r = run_afa("eval --images " + quote(gen.string()) + " --reference " + quote(ref.string()) + " --prompts " +
                   quote((dir / "prompts.txt").string()) + " --metrics clip-t,clip-i,aes,pick,hps --threads 1 -q --no-cache" +
                   " --weights " + quote(w.string()) + " -o " + quote(report_path.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(report_path);
  const auto report = nlohmann::json::parse(f);
  auto vec = [](const nlohmann::json& j) { return torch::tensor(j.get<std::vector<double>>(), torch::kFloat64); };

  io::SafeTensorsFile g(metrics_golden("clip/clip_tiny_io.safetensors"));
  EXPECT_TRUE(GoldenClose(vec(report["clip_t"]["per_image"]), g.get("quick_gelu.torchmetrics_pair_scores"), 1e-4,
                          "afa eval clip-t per image"));
  EXPECT_NEAR(report["clip_t"]["score"].get<double>(), g.get("quick_gelu.torchmetrics_clip_score").item<double>(), 1e-4);
  // clip-i: all (generated, reference) pairs = the goldens' image-image matrix, reference columns a, b.
  const double clip_i = g.get("quick_gelu.clip_i_100cos").narrow(1, 0, 2).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(report["clip_i"]["score"].get<double>(), clip_i, 1e-4);
  EXPECT_EQ(report["clip_i"]["pairs"], 6);
  EXPECT_TRUE(GoldenClose(vec(report["pickscore"]["per_image"]), g.get("pickscore.scores").diagonal(), 1e-5,
                          "afa eval pick per image"));
  EXPECT_TRUE(GoldenClose(vec(report["hpsv2"]["per_image"]), g.get("hpsv2.scores").diagonal(), 1e-6,
                          "afa eval hps per image"));

  // aes: openai CLIP's preprocessing (here at the tiny model's 32 px), quick_gelu tower, then the MLP.
  torch::NoGradGuard no_grad;
  metrics::ClipModel m(metrics::ClipConfig::from_json(configs["hf_clip_config_quick_gelu"], "tiny"));
  metrics::load_clip_weights(m, io::load_safetensors(hf), hf);
  m->eval();
  std::vector<torch::Tensor> px;
  for (const char* n : names)
    px.push_back(metrics::clip_preprocess(imgs.get(n).permute({2, 0, 1}), metrics::ClipPreprocess::kTvPil, 32));
  mlp->eval();
  const auto aes = mlp->score_raw(m->image_features(torch::stack(px)));
  EXPECT_TRUE(GoldenClose(vec(report["aesthetic"]["per_image"]), aes, 1e-6, "afa eval aes vs in process"));
  EXPECT_NEAR(report["aesthetic"]["mean"].get<double>(), aes.mean().item<double>(), 1e-6);
  EXPECT_EQ(report["weights"]["aes"][1], (w / "sac+logos+ava1-l14-linearMSE.safetensors").string());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
