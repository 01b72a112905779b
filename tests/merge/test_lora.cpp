// LoRA baking against golden/lora (a kohya LoRA fused by diffusers v0.27.0) and by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "afa/io/safetensors.h"
#include "afa/merge/lora.h"
#include "afa/merge/lora_apply.h"
#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"
#include "merge_test_util.h"
#include "tiny_models.h"

namespace afa::merge {
namespace {

using afa::test::AllClose;
using afa::test::error_of;
using afa::test::golden;
using afa::test::TempDir;
using afa::test::tiny_file;

class LoraGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    io_ = new std::map<std::string, torch::Tensor>(io::load_safetensors(golden("lora/lora_bake_io.safetensors")));
  }
  static void TearDownTestSuite() { delete io_; }
  static const torch::Tensor& io(const std::string& k) { return io_->at(k); }
  static std::map<std::string, torch::Tensor>* io_;

  static std::map<std::string, torch::Tensor> bake(const std::vector<LoraSpec>& loras, const std::string& model = tiny_file("A")) {
    MergeOptions o;
    o.models = {model};
    o.loras = loras;
    o.dtype = "f32";
    o.hash_inputs = false;
    return merge_in_memory(Merger(o));
  }
};
std::map<std::string, torch::Tensor>* LoraGolden::io_ = nullptr;

TEST_F(LoraGolden, FusedWeightsMatchDiffusers) {
  auto baked = bake({{golden("lora/lora_kohya.safetensors"), 0.8}});
  io::SafeTensorsFile a(tiny_file("A"));
  size_t checked = 0;
  double worst = 0;
  for (const auto& [k, t] : *io_) {
    if (k.rfind("ldm.", 0) != 0) continue;
    const std::string key = k.substr(4);
    const auto& got = baked.at(key);
    EXPECT_TRUE(AllClose(got.reshape(t.sizes()), t, 1e-6)) << key;
    worst = std::max(worst, afa::test::max_abs_diff(got.reshape(t.sizes()), t));
    ++checked;
  }
  EXPECT_EQ(checked, 51u);  // one weight per LoRA module
  afa::test::record_error("max_abs_fused", worst);
  // Everything else is A, exactly.
  size_t same = 0;
  for (const auto& k : a.names()) same += torch::equal(baked.at(k), a.get(k).to(torch::kFloat32));
  EXPECT_EQ(same, a.names().size() - checked);
}

TEST_F(LoraGolden, BakedModelOutputs) {
  TempDir tmp("lora");
  for (double scale : {0.8, 0.0}) {
    MergeOptions o;
    o.models = {tiny_file("A")};
    o.loras = {{golden("lora/lora_kohya.safetensors"), scale}};
    o.dtype = "f32";
    const std::string out = tmp.file("baked.safetensors");
    merge_to_file(Merger(o), out);
    pipeline::LoadOptions lo;
    lo.config_files = afa::test::tiny_single_file_configs();
    lo.load_vae = false;
    auto sd = pipeline::load_stable_diffusion(out, lo);
    torch::NoGradGuard ng;
    const std::string p = scale == 0.0 ? "base." : "s0.8.";
    torch::Tensor text = sd.text_encoder->forward(io("input.input_ids"));
    EXPECT_TRUE(AllClose(text, io(p + "text_last_hidden_state"), 1e-5)) << scale;
    torch::Tensor noise = sd.unet->forward(io("input.sample"), io("input.timestep"), text);
    EXPECT_TRUE(AllClose(noise, io(p + "noise_pred"), 2e-5)) << scale;
    afa::test::record_error(p + "max_abs_text", afa::test::max_abs_diff(text, io(p + "text_last_hidden_state")));
    afa::test::record_error(p + "max_abs_unet", afa::test::max_abs_diff(noise, io(p + "noise_pred")));
  }
  // Scale 0 is the model, bit for bit.
  auto zero = bake({{golden("lora/lora_kohya.safetensors"), 0.0}});
  io::SafeTensorsFile a(tiny_file("A"));
  for (const auto& k : a.names()) EXPECT_TRUE(torch::equal(zero.at(k), a.get(k).to(torch::kFloat32))) << k;
}

TEST_F(LoraGolden, LdmStyleModuleNamesBakeTheSame) {
  TempDir tmp("lora_ldm");
  io::SafeTensorsFile a(tiny_file("A"));
  io::ShapeMap shapes;
  for (const auto& k : a.names()) shapes[k] = a.info(k).shape;
  auto names = kohya_module_names(shapes);
  auto lora = io::load_safetensors(golden("lora/lora_kohya.safetensors"));
  std::map<std::string, torch::Tensor> renamed;
  size_t unet = 0;
  for (const auto& [k, t] : lora) {
    auto dot = k.find('.');
    std::string module = k.substr(0, dot), rest = k.substr(dot);
    if (module.rfind("lora_unet_", 0) == 0) {
      std::string ldm = names.at(module).substr(std::string(io::kLdmUNetPrefix).size());
      ldm = ldm.substr(0, ldm.size() - std::string(".weight").size());
      std::replace(ldm.begin(), ldm.end(), '.', '_');
      module = "lora_unet_" + ldm;
      ++unet;
    }
    renamed[module + rest] = t;
  }
  EXPECT_GT(unet, 0u);
  io::save_safetensors(tmp.file("ldm_style.safetensors"), renamed);
  auto x = bake({{golden("lora/lora_kohya.safetensors"), 0.8}});
  auto y = bake({{tmp.file("ldm_style.safetensors"), 0.8}});
  for (const auto& [k, t] : x) EXPECT_TRUE(torch::equal(t, y.at(k))) << k;
}

TEST(Lora, RankOneAddsItsOuterProduct) {
  TempDir tmp("rank1");
  const std::string key = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight";
  io::SafeTensorsFile a(tiny_file("A"));
  auto w = a.get(key).to(torch::kFloat32);  // [32, 32]
  auto down = torch::arange(w.size(1), torch::kFloat32).reshape({1, -1}) / 64;
  auto up = torch::linspace(-1, 1, w.size(0)).reshape({-1, 1});
  io::save_safetensors(tmp.file("r1.safetensors"),
                       std::map<std::string, torch::Tensor>{
                           {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight", down},
                           {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight", up},
                           {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.alpha",
                            torch::tensor(2.0)}});
  MergeOptions o;
  o.models = {tiny_file("A")};
  o.loras = {parse_lora_spec(tmp.file("r1.safetensors") + ":0.5")};
  o.dtype = "f32";
  o.hash_inputs = false;
  Merger m(o);
  auto baked = merge_in_memory(m);
  // alpha / rank = 2: W + 0.5 · 2 · up ⊗ down
  auto want = w + torch::outer(up.flatten(), down.flatten());
  EXPECT_TRUE(torch::allclose(baked.at(key), want, 0, 1e-6));
  size_t touched = 0;
  for (const auto& p : m.plan()) touched += p.lora;
  EXPECT_EQ(touched, 1u);
}

TEST(Lora, UnknownKeysAreListed) {
  TempDir tmp("unknown");
  io::save_safetensors(tmp.file("bad.safetensors"),
                       std::map<std::string, torch::Tensor>{
                           {"lora_unet_no_such_module.lora_down.weight", torch::zeros({1, 4})},
                           {"lora_unet_no_such_module.lora_up.weight", torch::zeros({4, 1})},
                           {"lora_unet_conv_in.hada_w1_a", torch::zeros({1})}});
  MergeOptions o;
  o.models = {tiny_file("A")};
  o.loras = {{tmp.file("bad.safetensors"), 1.0}};
  std::string err = error_of([&] { Merger m(o); });
  EXPECT_NE(err.find("lora_unet_no_such_module"), std::string::npos) << err;
  EXPECT_NE(err.find("hada_w1_a"), std::string::npos) << err;
  EXPECT_NE(err.find("bad.safetensors"), std::string::npos) << err;
}

TEST(Lora, SpecParsing) {
  auto s = parse_lora_spec("/x/y.safetensors:0.7");
  EXPECT_EQ(s.path, "/x/y.safetensors");
  EXPECT_DOUBLE_EQ(s.scale, 0.7);
  s = parse_lora_spec("/x/y.safetensors");
  EXPECT_EQ(s.path, "/x/y.safetensors");
  EXPECT_DOUBLE_EQ(s.scale, 1.0);
  s = parse_lora_spec("C:dir/y.safetensors");
  EXPECT_EQ(s.path, "C:dir/y.safetensors");
}

}  // namespace
}  // namespace afa::merge

namespace afa::merge {
namespace {

// afa generate --lora: the same bake applied to a loaded model, from a folder and from a single file.
TEST_F(LoraGolden, LoadTimeBakeMatchesDiffusers) {
  for (const std::string which : {"A-folder", "A"}) {
    auto sd = afa::test::load_tiny(which, false);
    std::vector<std::string> cfg = which == "A" ? afa::test::tiny_single_file_configs() : std::vector<std::string>{};
    EXPECT_EQ(bake_loras_into(sd, {{golden("lora/lora_kohya.safetensors"), 0.8}}, cfg), 51u);
    torch::NoGradGuard ng;
    torch::Tensor text = sd.text_encoder->forward(io("input.input_ids"));
    EXPECT_TRUE(AllClose(text, io("s0.8.text_last_hidden_state"), 1e-5)) << which;
    torch::Tensor noise = sd.unet->forward(io("input.sample"), io("input.timestep"), text);
    EXPECT_TRUE(AllClose(noise, io("s0.8.noise_pred"), 2e-5)) << which;
  }
}

}  // namespace
}  // namespace afa::merge
