// afa demo's parts: the protocol's prompt draws, the chained three-model MBW merge, the statistics and
// the report written from a made-up result (the end-to-end run is tests/app/test_cli_demo.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "afa/demo/demo_methods.h"
#include "afa/demo/demo_protocol.h"
#include "afa/demo/demo_report.h"
#include "afa/demo/toy_render.h"
#include "afa/demo/toy_score.h"
#include "afa/demo/toy_split.h"
#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "afa/merge/diffusers_output.h"
#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"
#include "demo_test_util.h"
#include "tiny_models.h"

namespace fs = std::filesystem;
using namespace afa;

TEST(DemoProtocol, HeldOutAndTrainingScenesFollowTheSplitAndTheStream) {
  const auto held = demo::heldout_scenes(30);
  const auto train = demo::training_scenes(30, demo::kDemoDataSeed);
  ASSERT_EQ(held.size(), 30u);
  for (const auto& s : held) EXPECT_TRUE(demo::is_held_out(demo::caption(s)));
  for (const auto& s : train) EXPECT_FALSE(demo::is_held_out(demo::caption(s)));
  // The first held-out scene is the first scene of the stream whose caption is held out.
  for (uint64_t k = 0;; ++k) {
    auto s = demo::sample_scene(demo::scene_seed(demo::kDemoDataSeed, k));
    if (demo::is_held_out(demo::caption(s))) {
      EXPECT_EQ(demo::caption(s), demo::caption(held[0]));
      break;
    }
  }
  EXPECT_EQ(demo::caption(demo::heldout_scenes(30)[29]), demo::caption(held[29]));
}

TEST(DemoProtocol, PromptsFileIsParsedAndBadLinesAreNamed) {
  test::TempDir dir("demo_prompts");
  const std::string file = (dir.path / "prompts.txt").string();
  std::ofstream(file) << "a small red circle at the top left on a plain grey background\n\n"
                         "a purple elephant\n";
  demo::DemoOptions o;
  o.prompts_file = file;
  const std::string e = test::error_of([&] { demo::demo_prompts(o); });
  EXPECT_NE(e.find(file + ":3"), std::string::npos) << e;
  EXPECT_NE(e.find("a purple elephant"), std::string::npos) << e;
  std::ofstream(file) << "a small red circle at the top left on a plain grey background\n";
  const auto p = demo::demo_prompts(o);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(demo::caption(p[0]), "a small red circle at the top left on a plain grey background");
  o.steps = {};
  EXPECT_NE(test::error_of([&] { demo::validate(o); }).find("--steps"), std::string::npos);
}

TEST(DemoMeasures, MeanAndStandardError) {
  const auto m = demo::mean_se({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.se, std::sqrt(5.0 / 3.0) / 2.0, 1e-12);  // sample sd sqrt(5/3), n = 4
  EXPECT_EQ(m.n, 4);
  EXPECT_TRUE(std::isnan(demo::mean_se({}).mean));
  EXPECT_EQ(demo::mean_se({7}).se, 0.0);
}

TEST(DemoMeasures, PairedDifferenceSeesAConsistentGapThatUnpairedStandardErrorsHide) {
  // Rows vary a lot (0.1 .. 0.9), the methods differ by 0.01 on every row.
  const auto a = demo::mean_se({0.11, 0.51, 0.91, 0.31}), b = demo::mean_se({0.10, 0.50, 0.90, 0.30});
  const auto d = demo::paired_difference(a, b);
  EXPECT_NEAR(d.mean, 0.01, 1e-12);
  EXPECT_LT(d.se, 1e-12);
  EXPECT_GT(a.se, 0.1);  // unpaired, the gap is lost in the spread
  EXPECT_TRUE(std::isnan(demo::paired_difference(a, demo::mean_se({1, 2})).mean));
}

namespace {
// The golden tiny pipelines A, B, C as diffusers folders (the demo merges folders).
std::vector<std::string> tiny_folders(const fs::path& dir) {
  std::vector<std::string> out;
  for (const char* m : {"A", "B", "C"}) {
    merge::MergeOptions o;
    o.models = {test::golden(std::string("pipelines/") + m + ".safetensors")};
    o.dtype = "f32";
    o.hash_inputs = false;
    const std::string folder = (dir / m).string();
    merge::merge_to_diffusers(merge::Merger(o), folder, test::tiny_single_file_configs());
    out.push_back(folder);
  }
  return out;
}
std::map<std::string, torch::Tensor> unet_of(const std::string& folder) {
  return io::load_safetensors((fs::path(folder) / "unet" / "diffusion_pytorch_model.safetensors").string());
}
}  // namespace

// The demo's ceiling: true images through the shipped base's VAE. The round trip is wired right when it
// changes pixels by about the VAE's recorded held-out L1 (0.0446 on [-1, 1], 5.7 levels of 255) and keeps
// what the 8x8 latent does keep: the backgrounds (1.000 and 0.998 on 600 held-out images, models/README.md).
TEST(DemoMeasures, VaeRoundTripOfTheShippedBaseKeepsBackgrounds) {
  torch::NoGradGuard no_grad;
  pipeline::LoadOptions lo;
  const auto base = pipeline::load_stable_diffusion(std::string(AFA_SOURCE_DIR) + "/models/base", lo);
  const auto scenes = demo::heldout_scenes(96);
  std::vector<torch::Tensor> images;
  for (const auto& s : scenes) images.push_back(demo::render(s, 64));
  const auto x = torch::stack(images);
  const auto y = demo::vae_round_trip(base, x);
  ASSERT_EQ(y.sizes(), x.sizes());
  ASSERT_EQ(y.scalar_type(), torch::kUInt8);
  const double mad = (y.to(torch::kFloat32) - x.to(torch::kFloat32)).abs().mean().item<double>();
  EXPECT_GT(mad, 1.0);
  EXPECT_LT(mad, 12.0);
  auto classifier = demo::load_classifier(std::string(AFA_SOURCE_DIR) + "/models/toy_classifier.safetensors");
  const auto out = demo::run_classifier(classifier, y);
  demo::FidelityTally t;
  for (size_t i = 0; i < scenes.size(); ++i) t.add(scenes[i], out.readings[i]);
  const auto acc = t.accuracy();
  std::cerr << "through the VAE: " << acc.dump() << " (mean |difference| " << mad << " levels)\n";
  EXPECT_GE(acc["background"].get<double>(), 0.95);
  EXPECT_GE(acc["background_colour"].get<double>(), 0.95);
}

TEST(DemoMethods, ChainedMbwIsEqualThirdsAtOneHalfAndFollowsItsFormulaPerBlock) {
  test::TempDir dir("demo_mbw");
  const auto models = tiny_folders(dir.path);
  merge::BlockWeights half;
  half.alpha.fill(0.5);
  demo::write_chained_mbw(models, half, (dir.path / "chained").string(), dir.path.string());
  demo::write_weighted_merge(models, (dir.path / "thirds").string());
  const auto chained = unet_of((dir.path / "chained").string()), thirds = unet_of((dir.path / "thirds").string());
  ASSERT_EQ(chained.size(), thirds.size());
  for (const auto& [k, t] : thirds) {
    const double scale = t.abs().max().item<double>() + 1e-12;
    EXPECT_LE((chained.at(k) - t).abs().max().item<double>() / scale, 1e-6) << k;
  }
  EXPECT_FALSE(fs::exists(dir.path / "mbw-stage1"));  // the intermediate merge is cleaned up

  // GRAD_V: IN04 (down_blocks.1.resnets.0) has p = |4 - 12| / 12 = 2/3; M00 (mid_block) has p = 0.
  demo::write_chained_mbw(models, demo::mbw_preset_weights(), (dir.path / "gradv").string(), dir.path.string());
  const auto g = unet_of((dir.path / "gradv").string());
  const auto a = unet_of(models[0]), b = unet_of(models[1]), c = unet_of(models[2]);
  const std::string in04 = "down_blocks.1.resnets.0.conv1.weight", mid = "mid_block.resnets.0.conv1.weight";
  ASSERT_TRUE(g.count(in04) && g.count(mid));
  const double p = 2.0 / 3.0, q = 2.0 * p / 3.0;
  auto expected = (1 - q) * ((1 - p) * a.at(in04) + p * b.at(in04)) + q * c.at(in04);
  EXPECT_LE((g.at(in04) - expected).abs().max().item<double>(), 1e-6 * expected.abs().max().item<double>());
  EXPECT_TRUE(torch::equal(g.at(mid), a.at(mid)));  // p = 0: model A's block, bit for bit
}

namespace {
demo::MethodResult made_up(const std::string& id, const std::string& label, const std::string& group, double mse,
                           double fidelity, const std::vector<int64_t>& steps) {
  demo::MethodResult r;
  r.method.id = id, r.method.label = label, r.method.group = group, r.method.recipe = "made up";
  for (int64_t s : steps) {
    demo::FidelityScore f;
    // Four images per step count; fidelity falls with fewer steps.
    const double v = fidelity - 0.01 * (50 - s) / 10.0;
    f.all = demo::mean_se({v, v, v, v});
    f.attributes = demo::mean_se({v - 0.01, v + 0.01, v - 0.01, v + 0.01});
    f.toy_fid = 10 * (1 - v);
    f.accuracy = {{"all", v}};
    r.fidelity[s] = f;
    r.seconds_per_image[s] = 0.1;
    for (int i = 0; i < 2; ++i) r.images[s].push_back("images/" + id + "/s" + std::to_string(s) + "_" + std::to_string(i) + ".png");
  }
  r.mse.all = demo::mean_se({mse - 0.001, mse + 0.001, mse - 0.001, mse + 0.001});
  r.mse.by_subset["round"] = r.mse.all;
  return r;
}
}  // namespace

TEST(DemoReport, FindingsTableAndHtmlFollowTheNumbers) {
  test::TempDir dir("demo_report");
  demo::DemoResult r;
  r.options.steps = {50, 10};
  r.options.seeds = 1;
  r.prompts = demo::heldout_scenes(2);
  // AFA: best MSE against the expert, a tie on fidelity with it, and beaten by an ablation on fidelity.
  r.methods.push_back(made_up("expert-round", "expert round", "base models", 0.30, 0.50, r.options.steps));
  r.methods.push_back(made_up("afa", "AFA", "ensembles", 0.20, 0.50, r.options.steps));
  r.methods.push_back(made_up("ablation-scalar", "AFA scalar", "ablations", 0.25, 0.70, r.options.steps));
  for (const auto& m : r.methods)
    for (const auto& [s, files] : m.images)
      for (const auto& f : files) {
        fs::create_directories((dir.path / f).parent_path());
        io::write_png((dir.path / f).string(), torch::zeros({8, 8, 3}, torch::kUInt8));
      }
  r.grid = "grid.png";
  io::write_png((dir.path / r.grid).string(), torch::zeros({8, 8, 3}, torch::kUInt8));

  const auto f = demo::findings(r);
  auto has = [&](const std::string& s) {
    for (const auto& line : f)
      if (line.find(s) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("On held-out denoising MSE against the base models, AFA beats every one (expert round)."));
  EXPECT_TRUE(has("On attribute accuracy against the base models, AFA ties with expert round."));
  EXPECT_TRUE(has("On attribute accuracy against the ablations, AFA LOSES to AFA scalar."));
  EXPECT_TRUE(has("On held-out denoising MSE against the ablations, AFA beats every one (AFA scalar)."));

  demo::write_report(r, dir.path.string());
  const std::string md = test::read_bytes(dir.path / "report.md"), html = test::read_bytes(dir.path / "report.html");
  // The best MSE (AFA's) and the best fidelity (the ablation's) are bold; every method has a row.
  EXPECT_NE(md.find("| ensembles | **AFA** | 0.500 ± 0.000 | 0.500 ± 0.006 | 5.0 | **0.2000 ± 0.0006** |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| ablations | AFA scalar | **0.700 ± 0.000** |"), std::string::npos) << md;
  // Self-contained: every image is a data URI.
  std::regex src("src=\"([^\"]*)\"");
  int images = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator(); ++it, ++images)
    EXPECT_EQ((*it)[1].str().rfind("data:image/png;base64,", 0), 0u) << (*it)[1].str().substr(0, 60);
  EXPECT_EQ(images, 3 * 2);  // 3 methods x 2 prompts at the main step count
  const std::string svg = test::read_bytes(dir.path / "fidelity_steps.svg");
  size_t lines = 0;
  for (size_t p = 0; (p = svg.find("<polyline", p)) != std::string::npos; ++p) ++lines;
  EXPECT_EQ(lines, 3u);
  const auto j = nlohmann::json::parse(test::read_bytes(dir.path / "results.json"));
  EXPECT_EQ(j["methods"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["methods"][1]["mse"]["all"]["mean"].get<double>(), 0.20);
  EXPECT_EQ(j["methods"][0]["steps"]["10"]["images"].size(), 2u);
}
