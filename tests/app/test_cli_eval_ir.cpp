// End-to-end: ImageReward in afa eval (--metrics ir) and `afa convert` of a plain state-dict .pt (as the
// published ImageReward.pt is) into ImageReward.safetensors with its own key names. The .pt is made here
// in torch.save's zip format from the goldens' tiny ImageReward (case 7); the scores are the goldens'.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"
#include "metrics/metrics_golden.h"
#include "torch_save_format.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// The safetensors file's tensors as a torch.save state dict (same dtypes, same order of names).
std::string as_torch_save(const std::string& safetensors_path) {
  io::SafeTensorsFile f(safetensors_path);
  std::vector<torch_save::SavedTensor> out;
  for (const auto& n : f.names()) {
    const auto t = f.get(n).contiguous();
    const char* type = t.scalar_type() == torch::kFloat16 ? "HalfStorage"
                       : t.scalar_type() == torch::kInt64 ? "LongStorage"
                                                          : "FloatStorage";
    EXPECT_TRUE(t.scalar_type() == torch::kFloat16 || t.scalar_type() == torch::kInt64 ||
                t.scalar_type() == torch::kFloat32)
        << n;
    out.push_back({n, type, t.sizes().vec(), t.numel(),
                   std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size())});
  }
  return torch_save::state_dict_file("ImageReward", out);
}

TEST(CliEvalIr, NeedsPromptsAndNamesTheWeightsFile) {
  const auto dir = temp_dir("eval_ir_args");
  const auto images = dir / "images", weights = dir / "weights";
  fs::create_directories(images);
  fs::create_directories(weights);
  io::write_png((images / "a.png").string(), torch::zeros({8, 8, 3}, torch::kUInt8));
  write_text(dir / "one.txt", "a cat\n");
  const std::string base = "eval --images " + quote(images.string()) + " --weights " + quote(weights.string());
  auto r = run_afa(base + " --metrics ir");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--metrics ir needs --prompts FILE"), std::string::npos) << r.out;
  r = run_afa(base + " --metrics ir --prompts " + quote((dir / "one.txt").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("ImageReward needs the weights file " + (weights / "ImageReward.safetensors").string()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("huggingface.co/THUDM/ImageReward"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("afa convert ImageReward.pt -o ImageReward.safetensors"), std::string::npos) << r.out;
  // A weights file with a misnamed key: both names in the error.
  auto sd = io::load_safetensors(metrics_golden("imagereward/imagereward_tiny.safetensors"));
  sd["mlp.layer.0.bias"] = sd.at("mlp.layers.0.bias");
  sd.erase("mlp.layers.0.bias");
  io::save_safetensors((weights / "ImageReward.safetensors").string(), sd);
  const auto cfg = read_json(metrics_golden("imagereward/imagereward_tiny_config.json"));
  write_text(weights / "ImageReward.json",
             nlohmann::json{{"med_config", cfg["tiny_med_config"]}, {"vision", cfg["tiny_vit"]}}.dump());
  r = run_afa(base + " --metrics ir -q --prompts " + quote((dir / "one.txt").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("mlp.layers.0.bias"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mlp.layer.0.bias"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(CliEvalIr, ConvertedPtScoresAsTheGoldens) {
  const auto dir = temp_dir("eval_ir_run");
  const auto gen = dir / "generated", w = dir / "weights";
  fs::create_directories(gen);
  fs::create_directories(w);
  const std::string tiny = metrics_golden("imagereward/imagereward_tiny.safetensors");
  write_text(dir / "ImageReward.pt", as_torch_save(tiny));

  // afa convert keeps the names and (without --dtype) the stored dtypes: the same tensors, bit for bit.
  const auto st = (w / "ImageReward.safetensors").string();
  auto r = run_afa("convert " + quote((dir / "ImageReward.pt").string()) + " -o " + quote(st));
  ASSERT_EQ(r.code, 0) << r.out;
  io::SafeTensorsFile got(st), want(tiny);
  ASSERT_EQ(got.names().size(), want.names().size());
  for (const auto& n : want.names()) {
    ASSERT_TRUE(got.contains(n)) << n;
    EXPECT_EQ(got.get(n).scalar_type(), want.get(n).scalar_type()) << n;
    EXPECT_TRUE(torch::equal(got.get(n), want.get(n))) << n;
  }
  // --dtype f32 re-stores the floats only (position_ids stay int64).
  r = run_afa("convert " + quote((dir / "ImageReward.pt").string()) + " -o " + quote((dir / "f32.safetensors").string()) +
              " --dtype f32");
  ASSERT_EQ(r.code, 0) << r.out;
  io::SafeTensorsFile f32((dir / "f32.safetensors").string());
  EXPECT_EQ(f32.get("mlp.layers.0.weight").scalar_type(), torch::kFloat32);
  EXPECT_EQ(f32.get("blip.text_encoder.embeddings.position_ids").scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(f32.get("mlp.layers.0.weight"), want.get("mlp.layers.0.weight").to(torch::kFloat32)));

  const auto cfg = read_json(metrics_golden("imagereward/imagereward_tiny_config.json"));
  write_text(w / "ImageReward.json",
             nlohmann::json{{"med_config", cfg["tiny_med_config"]}, {"vision", cfg["tiny_vit"]}}.dump());
  io::SafeTensorsFile imgs(metrics_golden("images.safetensors"));
  std::string prompts;
  for (int i = 0; i < 3; ++i) {
    io::write_png((gen / ("g" + std::to_string(i) + ".png")).string(), imgs.get(cfg["images"][i].get<std::string>()));
    prompts += cfg["prompts"][i].get<std::string>() + "\n";
  }
  write_text(dir / "prompts.txt", prompts);
  const auto report_path = dir / "report.json";
  r = run_afa("eval --images " + quote(gen.string()) + " --prompts " + quote((dir / "prompts.txt").string()) +
              " --metrics ir --threads 1 -q --batch-size 2 --weights " + quote(w.string()) + " -o " +
              quote(report_path.string()));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(report_path);
  const auto report = nlohmann::json::parse(f);
  const auto per_image = torch::tensor(report["imagereward"]["per_image"].get<std::vector<double>>(), torch::kFloat64);
  // Image i with prompt i: the diagonal of the goldens' [prompt, image] scores.
  const auto expected = io::SafeTensorsFile(metrics_golden("imagereward/imagereward_tiny_io.safetensors"))
                            .get("scores")
                            .diagonal()
                            .to(torch::kFloat64);
  EXPECT_TRUE(GoldenClose(per_image, expected, 1e-5, "afa eval ir per image"));
  EXPECT_NEAR(report["imagereward"]["mean"].get<double>(), expected.mean().item<double>(), 1e-5);
  EXPECT_NEAR(report["imagereward"]["std"].get<double>(), expected.std(false).item<double>(), 1e-5);
  EXPECT_EQ(report["weights"]["ir"], st);
  fs::remove_all(dir);
}

TEST(CliConvert, KeepNamesWritesAnSdCheckpointAsAStateDict) {
  const auto dir = temp_dir("convert_keep_names");
  const auto out = (dir / "A.safetensors").string();
  fs::remove(out);
  auto r = run_afa("convert " + quote(golden("ckpt/A_flat.ckpt")) + " --keep-names -o " + quote(out));
  ASSERT_EQ(r.code, 0) << r.out;
  io::SafeTensorsFile got(out), want(golden("pipelines/A.safetensors"));
  EXPECT_EQ(got.names().size(), want.names().size());
  for (const auto& n : want.names()) EXPECT_TRUE(got.contains(n) && torch::equal(got.get(n), want.get(n))) << n;
  r = run_afa("convert " + quote(golden("ckpt/A_flat.ckpt")) + " --keep-names -o " + quote((dir / "folder").string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(".safetensors"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
