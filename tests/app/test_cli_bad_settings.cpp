// End-to-end: settings that could only overflow are refused before any work, impossible sizes are
// refused with the memory they would need (no allocation, no stack trace), NaN weights stop the sampling
// at the step where the latents break, attention-map requests out of range are refused, long prompts
// warn, and `afa train --resume DIR` alone continues a run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

std::string generate(const std::string& model, const std::string& extra) {
  return "generate -m " + quote(model) + " -p x --steps 2 -W 64 -H 64 --threads 1 " + extra;
}

std::string tiny_trio() {
  std::string s;
  for (const char* m : {"A", "B", "C"}) s += "-m " + quote(golden(std::string("pipelines/") + m + ".safetensors")) + " ";
  return s + "--config " + quote(golden("pipelines/ldm_config.yaml")) + " --config " +
         quote(golden("pipelines/text_encoder_config.json")) + " ";
}

TEST(CliBadSettings, OverflowingSettingsAreRefusedBeforeLoading) {
  const auto dir = temp_dir("bad_settings");
  const std::string out = "-o " + quote((dir / "x.png").string());
  struct Case {
    std::string args, needle;
  } cases[] = {
      {"--cfg-scale inf", "--cfg-scale"},
      {"--cfg-scale 1e308", "--cfg-scale"},
      {"--cfg-scale nan", "--cfg-scale"},
      {"--sampler ddim --eta 5", "--eta"},
      {"--attn-steps 10 --attn-maps " + quote((dir / "maps").string()), "--attn-steps"},
      {"--attn-steps -3 --attn-maps " + quote((dir / "maps").string()), "--attn-steps"},
      {"--mf-threshold 500", "--mf-threshold applies only to --method magicfusion"},  // would do nothing
      {"--method noise-avg --mf-general 1", "--mf-general applies only to --method magicfusion"},
  };
  for (const auto& c : cases) {
    auto r = run_afa(generate("/nonexistent-model", out + " " + c.args));  // refused before the model is read
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.find("nonexistent-model"), std::string::npos) << c.args << "\n" << r.out;
  }
  // --attn-maps naming a file.
  std::ofstream(dir / "file") << "x";
  auto r = run_afa(generate("/nonexistent-model", out + " --attn-maps " + quote((dir / "file").string())));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("needs a folder"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  fs::remove_all(dir);
}

TEST(CliBadSettings, ImpossibleSizeIsRefusedWithTheMemoryItNeeds) {
  const auto start = std::chrono::steady_clock::now();
  // (-W/-H come twice: the last value counts, as wrapper scripts that append overrides expect.)
  const auto dir = temp_dir("impossible");
  auto r = run_afa(generate(golden("pipelines/A"), "-W 99992 -H 99992 -o " + quote((dir / "x.png").string())));
  fs::remove_all(dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("needs at least"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("choose a smaller -W/-H"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << r.out;  // no C++ stack trace
  // Nothing was allocated: the refusal comes as fast as loading the tiny model (generous bound for
  // a loaded machine; the old behaviour took 23 s and 7.5 GB).
  EXPECT_LT(seconds, 60) << r.out;
}

TEST(CliBadSettings, NanWeightsStopAtTheStepWithAMessage) {
  const auto dir = temp_dir("nan_weights");
  fs::copy(golden("pipelines/A"), dir / "A", fs::copy_options::recursive);
  const auto unet = dir / "A" / "unet" / "diffusion_pytorch_model.safetensors";
  fs::permissions(unet, fs::perms::owner_write, fs::perm_options::add);
  auto w = io::load_safetensors(unet.string());
  auto& conv = w.at("conv_out.weight");
  conv = conv.clone();
  conv.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  fs::remove(unet);
  io::save_safetensors(unet.string(), w);
  auto r = run_afa(generate((dir / "A").string(), "-o " + quote((dir / "x.png").string())));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("step 1 of 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NaN or infinite"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  fs::remove_all(dir);
}

TEST(CliBadSettings, AttentionBlocksOutOfRangeAndLongPrompts) {
  const auto dir = temp_dir("attn_range");
  auto r = run_afa("generate " + tiny_trio() + "--aggregator " + quote(golden("afa/aggregators_perturbed")) +
                   " -p x --steps 1 -W 128 -H 128 --threads 1 -o " + quote((dir / "x.png").string()) +
                   " --attn-maps " + quote((dir / "maps").string()) + " --attn-blocks 25");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--attn-blocks: 25 is not an aggregation point"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "x.png"));

  std::string prompt;
  for (int i = 0; i < 80; ++i) prompt += "red ";
  r = run_afa("generate -m " + quote(golden("pipelines/A")) + " -p '" + prompt +
              "' --steps 1 -W 64 -H 64 --threads 1 -o " + quote((dir / "long.png").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: the prompt has 80 tokens; CLIP reads only the first 75, the last 5 are ignored"),
            std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(CliBadSettings, TrainResumeAloneContinues) {
  const auto dir = temp_dir("train_resume_alone");
  fs::create_directories(dir / "img");
  {
    std::ofstream data(dir / "data.jsonl");
    for (int i = 0; i < 2; ++i) {
      auto img = torch::full({128, 128, 3}, 40 + 100 * i, torch::kUInt8);
      io::write_png((dir / "img" / (std::to_string(i) + ".png")).string(), img);
      data << "{\"image\": \"img/" << i << ".png\", \"text\": \"a grey square\"}\n";
    }
  }
  const std::string out = quote((dir / "out").string());
  auto r = run_afa("train " + tiny_trio() + "--data " + quote((dir / "data.jsonl").string()) + " -o " + out +
                   " --max-steps 1 --batch-size 2 --resolution 128 --hidden-size 32 --heads 4 --warmup-steps 0"
                   " --threads 1 -q");
  ASSERT_EQ(r.code, 0) << r.out;
  // Nothing but the folder and the new end: models, data, configs and settings come from the checkpoint.
  r = run_afa("train --resume " + out + " --max-steps 2 --threads 1 -q");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("trained steps 1 -> 2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("do not apply"), std::string::npos) << r.out;  // no note about options not given
  std::ifstream f(dir / "out" / "training_state.json");
  EXPECT_EQ(nlohmann::json::parse(f)["step"], 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
