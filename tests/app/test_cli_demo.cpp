// End-to-end: `afa demo --quick` on the shipped demo models (models/), as CI runs the main job,
// `afa toyscore --through-vae --write-images`, and `afa convert` on an aggregator set.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "afa/io/image.h"
#include "cli.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(CliDemo, QuickRunReportsEveryMethodWithFiniteMeasuresAndASelfContainedPage) {
  const auto dir = temp_dir("demo") / "out";
  fs::remove_all(dir);
  const std::string models = std::string(AFA_SOURCE_DIR) + "/models";
  auto r = run_afa("demo --quick -q -o " + quote(dir.string()) + " --models " + quote(models));
  ASSERT_EQ(r.code, 0) << r.out;

  const auto j = nlohmann::json::parse(slurp(dir / "results.json"));
  EXPECT_FALSE(j["auto_mbw"]["searched_now"].get<bool>()) << "the shipped autoMBW search result was not used";
  const std::vector<std::string> ids = {"expert-round", "expert-warm", "expert-pair", "base", "merge-weighted",
                                        "merge-mbw", "merge-auto-mbw", "noise-avg", "block-avg", "magicfusion", "afa",
                                        "ablation-last-block-only", "ablation-scalar", "ablation-no-time",
                                        "ablation-no-text"};
  ASSERT_EQ(j["methods"].size(), ids.size());
  const std::string md = slurp(dir / "report.md");
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& m = j["methods"][i];
    EXPECT_EQ(m["id"], ids[i]);
    const auto& s = m["steps"]["10"];
    for (const char* k : {"all", "attributes"}) {
      const double v = s[k]["mean"].get<double>();
      EXPECT_TRUE(v >= 0 && v <= 1) << ids[i] << " " << k << " " << v;
    }
    EXPECT_TRUE(std::isfinite(s["toy_fid"].get<double>()) && s["toy_fid"].get<double>() >= 0) << ids[i];
    if (ids[i] != "magicfusion") {  // MagicFusion has no unguided prediction, hence no MSE
      const double mse = m["mse"]["all"]["mean"].get<double>();
      EXPECT_TRUE(mse > 0 && mse < 2) << ids[i] << " " << mse;
    }
    ASSERT_EQ(s["images"].size(), 4u) << ids[i];  // 4 prompts x 1 seed
    for (const auto& f : s["images"]) EXPECT_TRUE(fs::exists(dir / f.get<std::string>())) << f;
    EXPECT_NE(md.find("| " + m["label"].get<std::string>() + " |"), std::string::npos) << m["label"];
  }
  // The ceiling: the 4 prompts' true images through the base's VAE, scored like the methods' images.
  const auto& c = j["vae_ceiling"];
  EXPECT_EQ(c["all"]["n"].get<int64_t>(), 4);
  for (const char* k : {"position", "shape", "colour", "size", "background", "background_colour"}) {
    const double v = c["accuracy"][k].get<double>();
    EXPECT_TRUE(v >= 0 && v <= 1) << k << " " << v;
  }
  EXPECT_NE(md.find("Ceiling: the prompts' true images"), std::string::npos);
  // report.html shows everything without network access or neighbouring files: every image is inline.
  const std::string html = slurp(dir / "report.html");
  std::regex ref("(src|href)=\"([^\"]*)\"");
  int images = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator(); ++it, ++images)
    EXPECT_EQ((*it)[2].str().rfind("data:image/png;base64,", 0), 0u) << (*it)[2].str().substr(0, 80);
  EXPECT_GE(images, int(ids.size()) * 4);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("id=\"main-table\""), std::string::npos);
  EXPECT_NE(html.find("id=\"ceiling\""), std::string::npos);
  // The files report.md names exist.
  std::regex md_ref("\\]\\(([^)]+)\\)");
  for (auto it = std::sregex_iterator(md.begin(), md.end(), md_ref); it != std::sregex_iterator(); ++it)
    EXPECT_TRUE(fs::exists(dir / (*it)[1].str())) << (*it)[1].str();
  fs::remove_all(dir.parent_path());
}

TEST(CliDemo, BadProtocolAndMissingModelsExitTwoNamingTheProblem) {
  const auto never = (temp_dir("demo_never") / "out").string();
  auto r = run_afa("demo --models /nonexistent/models -o " + quote(never));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/models"), std::string::npos) << r.out;
  r = run_afa("demo --steps 0 -o " + quote(never));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--steps"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(never));
  fs::remove_all(fs::path(never).parent_path());
}

// The VAE's ceiling through the command line: the round-tripped images that --write-images keeps, scored as
// a captioned folder, score exactly what --through-vae reported (the same pixels, the same captions).
TEST(CliToyScore, WrittenRoundTripImagesScoreAsTheCeiling) {
  const auto dir = temp_dir("toyscore_vae");
  const std::string models = std::string(AFA_SOURCE_DIR) + "/models";
  auto r = run_afa("toydata --count 40 --heldout-count 12 --seed 5 -o " + quote((dir / "data").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string classifier = " --classifier " + quote(models + "/toy_classifier.safetensors") + " --threads 1";
  r = run_afa("toyscore" + classifier + " --images " + quote((dir / "data" / "heldout.jsonl").string()) +
              " --through-vae " + quote(models + "/base") + " --write-images " + quote((dir / "rt").string()) +
              " -o " + quote((dir / "ceiling.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_afa("toyscore" + classifier + " --images " + quote((dir / "rt").string()) + " -o " +
              quote((dir / "again.json").string()));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto ceiling = nlohmann::json::parse(slurp(dir / "ceiling.json"));
  const auto again = nlohmann::json::parse(slurp(dir / "again.json"));
  EXPECT_EQ(ceiling["count"].get<int>(), 12);
  EXPECT_EQ(again["count"].get<int>(), 12);
  EXPECT_EQ(again["accuracy"], ceiling["accuracy"]);
  for (size_t i = 0; i < 12; ++i)
    EXPECT_EQ(again["per_image"][i]["text"], ceiling["per_image"][i]["text"]) << i;
  // They are round trips, not copies: close to the drawn images (the VAE's L1 is ~6 of 255) but not equal.
  const auto drawn = io::read_image((dir / "data" / "heldout" / "000000.png").string()).to(torch::kFloat32);
  const auto trip = io::read_image((dir / "rt" / "000000.png").string()).to(torch::kFloat32);
  ASSERT_EQ(trip.sizes(), drawn.sizes());
  const double l1 = (trip - drawn).abs().mean().item<double>();
  EXPECT_GT(l1, 0.5);
  EXPECT_LT(l1, 30.0);
  fs::remove_all(dir);
}

TEST(CliConvert, AggregatorSetToF16FileLoadsTheSameWeightsAndNeverOverwrites) {
  const auto dir = temp_dir("convert");
  const std::string src = std::string(AFA_SOURCE_DIR) + "/models/aggregators/last-block-only.safetensors";
  const std::string f32 = (dir / "f32").string(), f16 = (dir / "back.safetensors").string();
  fs::remove_all(f32), fs::remove(f16);
  auto r = run_afa("convert " + quote(src) + " -o " + quote(f32));  // file -> official folder (float32)
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(f32) / "aggregator_0" / "aggregator.safetensors"));
  r = run_afa("convert " + quote(f32) + " -o " + quote(f16) + " --dtype f16");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string before = slurp(f16);
  r = run_afa("convert " + quote(f32) + " -o " + quote(f16));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("exists already"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(f16), before);
  // The shipped file is F16 already: F16 -> F32 folder -> F16 file gives the same bytes of every tensor.
  EXPECT_EQ(slurp(src), before);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
