// End-to-end: afa eval checks its arguments and the weights file before any work, and reports FID and IS
// as the metrics library computes them (full-size FID Inception with the goldens' formula weights).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "afa/metrics/frechet_distance.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/metrics/inception_score.h"
#include "afa/metrics/inception_v3.h"
#include "cli.h"
#include "golden.h"
#include "metrics/formula_weights.h"
#include "metrics/metrics_golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

TEST(CliEval, ChecksArgumentsAndWeightsBeforeAnyWork) {
  const auto dir = temp_dir("eval_args");
  const auto images = dir / "images", weights = dir / "weights";
  fs::create_directories(images);
  fs::create_directories(weights);
  io::write_png((images / "a.png").string(), torch::zeros({8, 8, 3}, torch::kUInt8));
  const std::string base = "eval --images " + quote(images.string()) + " --weights " + quote(weights.string());

  auto r = run_afa(base + " --reference " + quote(images.string()) + " --metrics fid,is");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("FID and IS needs the weights file " + (weights / "pt_inception-2015-12-05.safetensors").string()),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pt_inception-2015-12-05-6726825d.pth"), std::string::npos) << r.out;

  r = run_afa(base + " --metrics is");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("IS needs the weights file"), std::string::npos) << r.out;

  // $AFA_WEIGHTS is the default folder.
  setenv("AFA_WEIGHTS", (dir / "env_weights").c_str(), 1);
  r = run_afa("eval --images " + quote(images.string()) + " --metrics is");
  unsetenv("AFA_WEIGHTS");
  EXPECT_NE(r.out.find((dir / "env_weights" / "pt_inception-2015-12-05.safetensors").string()), std::string::npos) << r.out;

  r = run_afa(base + " --metrics fid");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--metrics fid needs --reference"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics kid");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown metric 'kid'"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics is -o " + quote((dir / "nodir" / "r.json").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("nodir"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(CliEval, ReportsFidAndIsAsTheLibraryComputesThem) {
  const auto dir = temp_dir("eval_run");
  const auto gen = dir / "generated", ref = dir / "reference", weights = dir / "weights";
  for (const auto& d : {gen, ref, weights}) fs::create_directories(d);
  // Weights: the formula weights (exact in F16), written for this run only.
  const auto sd = formula_weights(read_json(metrics_golden("inception/inception_keys.json"))["keys"], std::sqrt(24.0));
  std::map<std::string, torch::Tensor> f16;
  for (const auto& [k, v] : sd) f16.emplace(k, v.to(torch::kHalf));
  io::save_safetensors((weights / "pt_inception-2015-12-05.safetensors").string(), f16);
  // Generated: four images of three sizes (listed by name); reference: three others.
  afa::io::SafeTensorsFile imgs(metrics_golden("images.safetensors"));
  const std::vector<torch::Tensor> generated{imgs.get("img_a"), imgs.get("img_b"), imgs.get("img_c"), imgs.get("img_s")};
  const std::vector<torch::Tensor> reference{imgs.get("img_s").flip(1).contiguous(), imgs.get("img_c").flip(0).contiguous(),
                                             imgs.get("img_b").flip(1).contiguous()};
  for (size_t i = 0; i < generated.size(); ++i) io::write_png((gen / ("g" + std::to_string(i) + ".png")).string(), generated[i]);
  for (size_t i = 0; i < reference.size(); ++i) io::write_png((ref / ("r" + std::to_string(i) + ".png")).string(), reference[i]);

  const auto report_path = dir / "report.json";
  auto r = run_afa("eval --images " + quote(gen.string()) + " --reference " + quote(ref.string()) +
                   " --metrics fid,is --splits 2 --threads 1 -q --no-cache --weights " + quote(weights.string()) + " -o " +
                   quote(report_path.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(report_path);
  const auto report = nlohmann::json::parse(f);
  EXPECT_EQ(report["count"], 4);
  EXPECT_EQ(report["reference_count"], 3);

  // The same numbers in process, one image at a time.
  torch::NoGradGuard no_grad;
  metrics::InceptionV3 model;
  metrics::load_inception_weights(model, sd, "formula weights");
  auto nchw = [](const torch::Tensor& hwc) { return hwc.permute({2, 0, 1}).unsqueeze(0).contiguous(); };
  std::vector<torch::Tensor> pool_gen, pool_ref, logits;
  for (const auto& g : generated) {
    pool_gen.push_back(model->fid_features(metrics::uint8_to_float01(nchw(g))));
    logits.push_back(model->fidelity_features(nchw(g)).logits_unbiased);
  }
  for (const auto& g : reference) pool_ref.push_back(model->fid_features(metrics::uint8_to_float01(nchw(g))));
  const double fid = metrics::frechet_distance(torch::cat(pool_gen), torch::cat(pool_ref));
  metrics::InceptionScoreOptions o;
  o.splits = 2;
  const auto is = metrics::inception_score(torch::cat(logits), o);
  // Batching (img_a with img_b) changes float32 sums in the last bits only.
  EXPECT_NEAR(report["fid"].get<double>(), fid, 1e-4 * std::max(1.0, fid));
  EXPECT_NEAR(report["inception_score"]["mean"].get<double>(), is.mean, 1e-5 * is.mean);
  EXPECT_NEAR(report["inception_score"]["std"].get<double>(), is.std, 1e-5 * is.mean);
  std::cout << "[ eval     ] fid " << report["fid"].get<double>() << " (|diff| to in process "
            << std::abs(report["fid"].get<double>() - fid) << "), IS " << report["inception_score"]["mean"].get<double>()
            << " (|diff| " << std::abs(report["inception_score"]["mean"].get<double>() - is.mean) << ")\n";
  EXPECT_GT(fid, 0.0);
  EXPECT_GT(is.mean, 1.0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
