// End-to-end: afa eval keeps reference features between runs (FID's mu and sigma, CLIP-I's embeddings),
// keyed by the reference files and the weights: a second run reads them back and reports the same
// numbers; a changed reference folder is recomputed. FID statistics in pytorch-fid's .npz are accepted
// as --reference. Weights: the formula FID Inception and the goldens' tiny CLIP.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "cli.h"
#include "golden.h"
#include "metrics/formula_weights.h"
#include "metrics/metrics_golden.h"
#include "torch_save_format.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_report(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// An .npy of a float64 tensor (format 1.0, C order).
std::string npy_f64(const torch::Tensor& t) {
  std::string shape = "(";
  for (auto d : t.sizes()) shape += std::to_string(d) + ", ";
  shape += ")";
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
  dict += std::string((64 - (10 + dict.size() + 1) % 64) % 64, ' ') + "\n";
  const auto c = t.to(torch::kFloat64).contiguous();
  return std::string("\x93NUMPY\x01\x00", 8) + torch_save::le(dict.size(), 2) + dict +
         std::string(static_cast<const char*>(c.data_ptr()), c.numel() * 8);
}

TEST(CliEvalCache, ReferenceFeaturesAreReusedAndInvalidated) {
  const auto dir = temp_dir("eval_cache");
  const auto gen = dir / "generated", ref = dir / "reference", w = dir / "weights", cache = dir / "cache";
  for (const auto& d : {gen, ref, w}) fs::create_directories(d);
  const auto sd = formula_weights(read_json(metrics_golden("inception/inception_keys.json"))["keys"], std::sqrt(24.0));
  std::map<std::string, torch::Tensor> f16;
  for (const auto& [k, v] : sd) f16.emplace(k, v.to(torch::kHalf));
  io::save_safetensors((w / "pt_inception-2015-12-05.safetensors").string(), f16);
  fs::copy_file(metrics_golden("clip/clip_tiny_hf.safetensors"), w / "clip-vit-large-patch14.safetensors");
  std::ofstream(w / "clip-vit-large-patch14.json")
      << read_json(metrics_golden("clip/clip_tiny_configs.json"))["hf_clip_config_quick_gelu"].dump();
  io::SafeTensorsFile imgs(metrics_golden("images.safetensors"));
  io::write_png((gen / "g0.png").string(), imgs.get("img_a"));
  io::write_png((gen / "g1.png").string(), imgs.get("img_c"));
  io::write_png((ref / "r0.png").string(), imgs.get("img_b"));
  io::write_png((ref / "r1.png").string(), imgs.get("img_s"));
  io::write_png((ref / "r2.png").string(), imgs.get("img_c").flip(1).contiguous());

  const std::string base = "eval --images " + quote(gen.string()) + " --metrics fid,clip-i --threads 1 -q --weights " +
                           quote(w.string()) + " --cache-dir " + quote(cache.string());
  auto run = [&](const std::string& reference, const std::string& name, const std::string& extra = "") {
    const auto out = dir / name;
    const auto r = run_afa(base + " --reference " + quote(reference) + extra + " -o " + quote(out.string()));
    EXPECT_EQ(r.code, 0) << r.out;
    return r.code == 0 ? read_report(out) : nlohmann::json::object();
  };

  const auto first = run(ref.string(), "r1.json");
  ASSERT_TRUE(first.contains("reference_cache")) << first.dump(2);
  EXPECT_TRUE(first["reference_cache"]["fid"].contains("stored")) << first.dump(2);
  EXPECT_TRUE(first["reference_cache"]["clip-i"].contains("stored")) << first.dump(2);
  EXPECT_EQ(count_files(cache), 2u);

  // Second run: both read back, the same numbers exactly.
  const auto second = run(ref.string(), "r2.json");
  EXPECT_EQ(second["reference_cache"]["fid"]["used"], first["reference_cache"]["fid"]["stored"]);
  EXPECT_EQ(second["reference_cache"]["clip-i"]["used"], first["reference_cache"]["clip-i"]["stored"]);
  EXPECT_EQ(second["fid"].get<double>(), first["fid"].get<double>());
  EXPECT_EQ(second["clip_i"]["score"].get<double>(), first["clip_i"]["score"].get<double>());
  EXPECT_EQ(count_files(cache), 2u);

  // --no-cache computes afresh (same numbers) and keeps nothing new.
  const auto fresh = run(ref.string(), "r3.json", " --no-cache");
  EXPECT_FALSE(fresh.contains("reference_cache"));
  EXPECT_EQ(fresh["fid"].get<double>(), first["fid"].get<double>());

  // The cached statistics as pytorch-fid's .npz: the same FID from --reference stats.npz.
  const io::SafeTensorsFile cached(first["reference_cache"]["fid"]["stored"].get<std::string>());
  const auto npz = dir / "stats.npz";
  std::ofstream(npz, std::ios::binary) << torch_save::zip_file(
      {{"mu.npy", npy_f64(cached.get("mu"))}, {"sigma.npy", npy_f64(cached.get("sigma"))}});
  const auto from_npz = run(npz.string(), "r4.json", " --metrics fid");
  EXPECT_EQ(from_npz["fid"].get<double>(), first["fid"].get<double>());
  auto r = run_afa(base + " --reference " + quote(npz.string()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("clip-i needs a folder of reference images"), std::string::npos) << r.out;

  // A changed reference folder (one image replaced) is a new entry and new numbers.
  io::write_png((ref / "r2.png").string(), imgs.get("img_a"));
  const auto third = run(ref.string(), "r5.json");
  EXPECT_TRUE(third["reference_cache"]["fid"].contains("stored")) << third.dump(2);
  EXPECT_TRUE(third["reference_cache"]["clip-i"].contains("stored")) << third.dump(2);
  EXPECT_NE(third["fid"].get<double>(), first["fid"].get<double>());
  EXPECT_NE(third["clip_i"]["score"].get<double>(), first["clip_i"]["score"].get<double>());
  EXPECT_EQ(count_files(cache), 4u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace afa::test
