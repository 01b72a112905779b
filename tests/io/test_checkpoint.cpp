// Checkpoint loading: the golden pipeline A as a diffusers folder and as an LDM single file must give
// the same configs and weights; B and C load; bad files fail with messages naming file and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "afa/io/checkpoint.h"
#include "afa/io/safetensors.h"
#include "afa/util/error.h"
#include "afa/io/ldm_names.h"
#include "golden.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace afa::io;
using afa::test::error_of;
using afa::test::golden;
using afa::test::without_metadata;

namespace {

const std::vector<std::string>& a_configs() {
  static const std::vector<std::string> c = {golden("pipelines/ldm_config.yaml"),
                                             golden("pipelines/text_encoder_config.json")};
  return c;
}

#define EXPECT_MENTIONS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("afa_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// A.safetensors' tensors, for making modified copies.
std::map<std::string, torch::Tensor> a_tensors() { return load_safetensors(golden("pipelines/A.safetensors")); }

// Same key sets; values equal once the folder's F32 is rounded to the file's F16.
void expect_same_weights(const ComponentWeights& folder, const ComponentWeights& single) {
  ASSERT_EQ(folder.tensors.size(), single.tensors.size());
  for (const auto& [name, f] : folder.tensors) {
    auto it = single.tensors.find(name);
    ASSERT_NE(it, single.tensors.end()) << name;
    const torch::Tensor& s = it->second;
    ASSERT_EQ(f.sizes(), s.sizes()) << name;
    if (f.scalar_type() == s.scalar_type()) {
      EXPECT_TRUE(torch::equal(f, s)) << name;
    } else {
      EXPECT_TRUE(torch::equal(f.to(s.scalar_type()), s)) << name;
    }
  }
}

}  // namespace

TEST(Checkpoint, LoadsTheDiffusersFolder) {
  Checkpoint ck = load_checkpoint(golden("pipelines/A"));
  EXPECT_EQ(ck.format, "diffusers");
  EXPECT_EQ(ck.dtype, "F32");
  EXPECT_EQ(ck.components, unsigned(kAllComponents));
  EXPECT_EQ(ck.unet.tensors.size(), 684u);
  EXPECT_EQ(ck.vae.tensors.size(), 244u);
  EXPECT_EQ(ck.text_encoder.tensors.size(), 36u);
  EXPECT_EQ(ck.tokenizer_dir, golden("pipelines/A/tokenizer"));
  EXPECT_EQ(ck.scheduler_config["_class_name"], "PNDMScheduler");
  EXPECT_EQ(ck.unet.config["cross_attention_dim"], 32);
  EXPECT_EQ(ck.text_encoder.config["num_attention_heads"], 4);
  EXPECT_NE(ck.vae.source.find("vae/diffusion_pytorch_model.safetensors"), std::string::npos);
}

TEST(Checkpoint, SingleFileEqualsFolder) {
  Checkpoint folder = load_checkpoint(golden("pipelines/A"));
  Checkpoint single = load_checkpoint(golden("pipelines/A.safetensors"), a_configs());
  EXPECT_EQ(single.format, "ldm-single-file");
  EXPECT_EQ(single.dtype, "F16");
  EXPECT_EQ(single.tokenizer_dir, "");
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    SCOPED_TRACE(component_name(c));
    expect_same_weights(folder.component(c), single.component(c));
    EXPECT_EQ(without_metadata(single.component(c).config), without_metadata(folder.component(c).config));
    EXPECT_EQ(single.component(c).source, golden("pipelines/A.safetensors"));
  }
  EXPECT_EQ(without_metadata(single.scheduler_config), without_metadata(folder.scheduler_config));
  // The VAE attention came from 1x1 convs.
  EXPECT_EQ(single.vae.tensors.at("decoder.mid_block.attentions.0.to_q.weight").sizes(), (c10::IntArrayRef{64, 64}));
}

TEST(Checkpoint, SingleFileIsZeroCopy) {
  Checkpoint a = load_checkpoint(golden("pipelines/A.safetensors"), a_configs(), kUNet);
  Checkpoint b = load_checkpoint(golden("pipelines/A.safetensors"), a_configs(), kUNet);
  // Two loads of one file are two private mappings; both F16 as stored.
  const auto& t = a.unet.tensors.at("conv_in.weight");
  EXPECT_EQ(t.scalar_type(), torch::kHalf);
  EXPECT_NE(t.data_ptr(), b.unet.tensors.at("conv_in.weight").data_ptr());
  EXPECT_TRUE(torch::equal(t, b.unet.tensors.at("conv_in.weight")));
}

TEST(Checkpoint, SingleFileWithJsonConfigOnly) {
  // No yaml: the structure comes from the weights, the rest from JSON.
  TempDir tmp;
  std::string parts = tmp / "parts.json";
  std::ofstream(parts) << R"({"unet": {"attention_head_dim": 8, "sample_size": 16},
                              "vae": {"scaling_factor": 0.18215, "sample_size": 128}})";
  Checkpoint folder = load_checkpoint(golden("pipelines/A"));
  Checkpoint single = load_checkpoint(golden("pipelines/A.safetensors"),
                                      {golden("pipelines/text_encoder_config.json"), parts});
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    SCOPED_TRACE(component_name(c));
    EXPECT_EQ(without_metadata(single.component(c).config), without_metadata(folder.component(c).config));
    expect_same_weights(folder.component(c), single.component(c));
  }
}

TEST(Checkpoint, BAndCLoad) {
  Checkpoint a = load_checkpoint(golden("pipelines/A.safetensors"), a_configs());
  for (const char* name : {"B", "C"}) {
    SCOPED_TRACE(name);
    Checkpoint ck = load_checkpoint(golden(std::string("pipelines/") + name + ".safetensors"), a_configs());
    EXPECT_EQ(ck.dtype, "F16");
    EXPECT_EQ(ck.unet.tensors.size(), 684u);
    EXPECT_EQ(ck.vae.tensors.size(), 244u);
    EXPECT_EQ(ck.text_encoder.tensors.size(), 36u);
    EXPECT_EQ(ck.unet.config, a.unet.config);
    // Different seeds: different weights.
    EXPECT_FALSE(torch::equal(ck.unet.tensors.at("conv_in.weight"), a.unet.tensors.at("conv_in.weight")));
  }
}

TEST(Checkpoint, SomeComponentsOnly) {
  Checkpoint ck = load_checkpoint(golden("pipelines/A.safetensors"), a_configs(), kUNet);
  EXPECT_TRUE(ck.unet.loaded());
  EXPECT_FALSE(ck.vae.loaded());
  EXPECT_FALSE(ck.text_encoder.loaded());
  EXPECT_TRUE(ck.vae.tensors.empty());
  EXPECT_EQ(ck.components, unsigned(kUNet));
  // The text encoder's config is not needed then: the yaml alone suffices.
  Checkpoint uv = load_checkpoint(golden("pipelines/A.safetensors"), {golden("pipelines/ldm_config.yaml")}, kUNet | kVAE);
  EXPECT_EQ(uv.vae.tensors.size(), 244u);
  Checkpoint te = load_checkpoint(golden("pipelines/A"), {}, kTextEncoder);
  EXPECT_FALSE(te.unet.loaded());
  EXPECT_EQ(te.text_encoder.tensors.size(), 36u);
}

TEST(Checkpoint, ConfigBesideTheFile) {
  TempDir tmp;
  fs::copy_file(golden("pipelines/A.safetensors"), tmp / "model.safetensors");
  fs::copy_file(golden("pipelines/ldm_config.yaml"), tmp / "model.yaml");
  Checkpoint ck = load_checkpoint(tmp / "model.safetensors", {}, kUNet | kVAE);
  EXPECT_EQ(ck.unet.config["attention_head_dim"], 8);
  // The yaml says nothing of the text encoder's heads: that must be asked for.
  std::string err = error_of([&] { load_checkpoint(tmp / "model.safetensors"); });
  EXPECT_MENTIONS(err, "model.safetensors");
  EXPECT_MENTIONS(err, "text encoder");
  EXPECT_MENTIONS(err, "--config");
}

TEST(Checkpoint, IgnorableKeysAreDropped) {
  TempDir tmp;
  auto t = a_tensors();
  t["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch::arange(77, torch::kInt64).unsqueeze(0);
  t["model_ema.diffusion_modelinput_blocks00weight"] = torch::zeros({32, 4, 3, 3}, torch::kHalf);
  t["model_ema.num_updates"] = torch::zeros({}, torch::kInt32);
  t["alphas_cumprod"] = torch::ones({1000});
  t["first_stage_model.encoder.norm_out.num_batches_tracked"] = torch::zeros({}, torch::kInt64);
  save_safetensors(tmp / "extras.safetensors", t);
  Checkpoint ck = load_checkpoint(tmp / "extras.safetensors", a_configs());
  EXPECT_EQ(ck.unet.tensors.size() + ck.vae.tensors.size() + ck.text_encoder.tensors.size(), 964u);
  EXPECT_EQ(ck.dtype, "F16");

  // Float position_ids too, and old transformers' names without "text_model.".
  auto old = a_tensors();
  std::map<std::string, torch::Tensor> renamed;
  const std::string p = "cond_stage_model.transformer.text_model.";
  for (auto& [k, v] : old) {
    renamed[k.rfind(p, 0) == 0 ? "cond_stage_model.transformer." + k.substr(p.size()) : k] = v;
  }
  renamed["cond_stage_model.transformer.embeddings.position_ids"] = torch::arange(77, torch::kFloat).unsqueeze(0);
  save_safetensors(tmp / "old.safetensors", renamed);
  Checkpoint o = load_checkpoint(tmp / "old.safetensors", a_configs());
  EXPECT_TRUE(torch::equal(o.text_encoder.tensors.at("text_model.final_layer_norm.weight"),
                           ck.text_encoder.tensors.at("text_model.final_layer_norm.weight")));
}

TEST(Checkpoint, VaeAttentionStoredAsLinear) {
  // Some tools save the VAE attention as Linear [C,C] instead of conv [C,C,1,1]: accepted.
  TempDir tmp;
  auto t = a_tensors();
  for (auto& [k, v] : t) {
    if (k.find(".attn_1.") != std::string::npos && v.dim() == 4) v = v.flatten(1);
  }
  save_safetensors(tmp / "linear.safetensors", t);
  Checkpoint ck = load_checkpoint(tmp / "linear.safetensors", a_configs(), kVAE);
  Checkpoint a = load_checkpoint(golden("pipelines/A.safetensors"), a_configs(), kVAE);
  expect_same_weights(a.vae, ck.vae);
}

TEST(Checkpoint, WritesBackAsLdm) {
  // Folder (F32) -> LDM single file -> load: the same weights, now in F32.
  TempDir tmp;
  Checkpoint folder = load_checkpoint(golden("pipelines/A"));
  std::vector<std::pair<std::string, torch::Tensor>> all;
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    auto part = to_ldm_tensors(c, folder.component(c).config, folder.component(c).tensors, folder.component(c).source);
    all.insert(all.end(), part.begin(), part.end());
  }
  EXPECT_EQ(all.size(), 964u);
  save_safetensors(tmp / "merged.safetensors", all);
  Checkpoint back = load_checkpoint(tmp / "merged.safetensors", a_configs());
  EXPECT_EQ(back.dtype, "F32");
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    SCOPED_TRACE(component_name(c));
    expect_same_weights(folder.component(c), back.component(c));
  }
}

TEST(Checkpoint, FolderVariants) {
  // F16 weights under the .fp16 name, and the VAE attention under diffusers' old names.
  TempDir tmp;
  const fs::path a = golden("pipelines/A");
  fs::copy(a, tmp.path / "A", fs::copy_options::recursive);
  const fs::path d = tmp.path / "A";
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::add);
  for (auto& e : fs::recursive_directory_iterator(d)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);

  auto unet = load_safetensors((d / "unet/diffusion_pytorch_model.safetensors").string());
  for (auto& [k, v] : unet) v = v.to(torch::kHalf);
  fs::remove(d / "unet/diffusion_pytorch_model.safetensors");
  save_safetensors((d / "unet/diffusion_pytorch_model.fp16.safetensors").string(), unet);

  auto vae = load_safetensors((d / "vae/diffusion_pytorch_model.safetensors").string());
  std::map<std::string, torch::Tensor> old_vae;
  for (auto& [k, v] : vae) {
    std::string n = k;
    for (auto [from, to] : {std::pair<std::string, std::string>{".to_q.", ".query."}, {".to_k.", ".key."},
                            {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}}) {
      auto pos = n.find(from);
      if (pos != std::string::npos) n = n.substr(0, pos) + to + n.substr(pos + from.size());
    }
    old_vae[n] = v;
  }
  save_safetensors((d / "vae/diffusion_pytorch_model.safetensors").string(), old_vae);

  Checkpoint ck = load_checkpoint(d.string());
  EXPECT_EQ(ck.dtype, "F16+F32");
  EXPECT_EQ(ck.unet.tensors.at("conv_in.weight").scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(ck.vae.tensors.at("encoder.mid_block.attentions.0.to_out.0.weight"),
                           vae.at("encoder.mid_block.attentions.0.to_out.0.weight")));

  // A wrong shape in a folder names the weights file and the key.
  unet["conv_out.weight"] = torch::zeros({4, 32, 1, 1}, torch::kHalf);
  save_safetensors((d / "unet/diffusion_pytorch_model.fp16.safetensors").string(), unet);
  std::string err = error_of([&] { load_checkpoint(d.string()); });
  EXPECT_MENTIONS(err, "diffusion_pytorch_model.fp16.safetensors");
  EXPECT_MENTIONS(err, "conv_out.weight");
  EXPECT_MENTIONS(err, "[4, 32, 1, 1]");

  // No weights at all.
  fs::remove(d / "unet/diffusion_pytorch_model.fp16.safetensors");
  err = error_of([&] { load_checkpoint(d.string()); });
  EXPECT_MENTIONS(err, "unet");
  EXPECT_MENTIONS(err, "diffusion_pytorch_model.safetensors");
}

TEST(CheckpointErrors, UnknownKey) {
  TempDir tmp;
  auto t = a_tensors();
  t["model.diffusion_model.input_blocks.1.1.bogus.weight"] = torch::zeros({3}, torch::kHalf);
  save_safetensors(tmp / "extra.safetensors", t);
  std::string err = error_of([&] { load_checkpoint(tmp / "extra.safetensors", a_configs()); });
  EXPECT_MENTIONS(err, "extra.safetensors");
  EXPECT_MENTIONS(err, "model.diffusion_model.input_blocks.1.1.bogus.weight");
  EXPECT_MENTIONS(err, "unexpected");

  // A key of no component at all, even when only the U-Net is asked for.
  t = a_tensors();
  t["control_model.zero_convs.0.0.weight"] = torch::zeros({3}, torch::kHalf);
  save_safetensors(tmp / "control.safetensors", t);
  err = error_of([&] { load_checkpoint(tmp / "control.safetensors", a_configs(), kUNet); });
  EXPECT_MENTIONS(err, "control.safetensors");
  EXPECT_MENTIONS(err, "control_model.zero_convs.0.0.weight");
}

TEST(CheckpointErrors, MissingKey) {
  TempDir tmp;
  auto t = a_tensors();
  t.erase("model.diffusion_model.out.2.bias");
  t.erase("first_stage_model.decoder.mid.attn_1.proj_out.weight");
  save_safetensors(tmp / "missing.safetensors", t);
  std::string err = error_of([&] { load_checkpoint(tmp / "missing.safetensors", a_configs()); });
  EXPECT_MENTIONS(err, "missing.safetensors");
  EXPECT_MENTIONS(err, "model.diffusion_model.out.2.bias");
  err = error_of([&] { load_checkpoint(tmp / "missing.safetensors", a_configs(), kVAE); });
  EXPECT_MENTIONS(err, "first_stage_model.decoder.mid.attn_1.proj_out.weight");
  // The text encoder is intact.
  EXPECT_EQ(load_checkpoint(tmp / "missing.safetensors", a_configs(), kTextEncoder).text_encoder.tensors.size(), 36u);
}

TEST(CheckpointErrors, WrongShape) {
  TempDir tmp;
  auto t = a_tensors();
  t["first_stage_model.decoder.mid.attn_1.q.weight"] = torch::zeros({64, 32, 1, 1}, torch::kHalf);
  save_safetensors(tmp / "shape.safetensors", t);
  std::string err = error_of([&] { load_checkpoint(tmp / "shape.safetensors", a_configs()); });
  EXPECT_MENTIONS(err, "shape.safetensors");
  EXPECT_MENTIONS(err, "first_stage_model.decoder.mid.attn_1.q.weight");
  EXPECT_MENTIONS(err, "[64, 32, 1, 1]");
  EXPECT_MENTIONS(err, "[64, 64, 1, 1]");

  // A config that disagrees with the weights: the text encoder is 32 wide, not 768.
  std::string cfg = tmp / "te.json";
  std::ofstream(cfg) << R"({"text_encoder": {"hidden_size": 768, "num_attention_heads": 12}})";
  err = error_of([&] { load_checkpoint(golden("pipelines/A.safetensors"), {golden("pipelines/ldm_config.yaml"), cfg}); });
  EXPECT_MENTIONS(err, "A.safetensors");
  EXPECT_MENTIONS(err, "text_encoder");
  EXPECT_MENTIONS(err, "te.json");
  EXPECT_MENTIONS(err, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight");

  // An integer tensor where a weight belongs.
  t = a_tensors();
  t["model.diffusion_model.out.2.bias"] = torch::zeros({4}, torch::kInt32);
  save_safetensors(tmp / "int.safetensors", t);
  err = error_of([&] { load_checkpoint(tmp / "int.safetensors", a_configs()); });
  EXPECT_MENTIONS(err, "model.diffusion_model.out.2.bias");
  EXPECT_MENTIONS(err, "I32");
}

TEST(CheckpointErrors, MissingConfigForNonSd15) {
  std::string err = error_of([] { load_checkpoint(golden("pipelines/A.safetensors")); });
  EXPECT_MENTIONS(err, "A.safetensors");
  EXPECT_MENTIONS(err, "U-Net is not SD 1.5");
  EXPECT_MENTIONS(err, "--config");
  err = error_of([] { load_checkpoint(golden("pipelines/A.safetensors"), {golden("pipelines/ldm_config.yaml")}); });
  EXPECT_MENTIONS(err, "text encoder");
  EXPECT_MENTIONS(err, "ldm_config.yaml");
}

TEST(CheckpointErrors, NotACheckpoint) {
  TempDir tmp;
  fs::create_directories(tmp.path / "empty");
  std::string err = error_of([&] { load_checkpoint(tmp / "empty"); });
  EXPECT_MENTIONS(err, tmp / "empty");
  EXPECT_MENTIONS(err, "model_index.json");

  std::ofstream(tmp / "model.ckpt") << "PK";
  err = error_of([&] { load_checkpoint(tmp / "model.ckpt"); });
  EXPECT_MENTIONS(err, "model.ckpt");
  EXPECT_MENTIONS(err, "not a torch.save checkpoint");

  err = error_of([&] { load_checkpoint(tmp / "absent.safetensors"); });
  EXPECT_MENTIONS(err, "absent.safetensors");

  // A bare diffusers U-Net file is not a single-file checkpoint.
  err = error_of([&] { load_checkpoint(golden("pipelines/A/unet/diffusion_pytorch_model.safetensors")); });
  EXPECT_MENTIONS(err, "diffusion_pytorch_model.safetensors");
  EXPECT_MENTIONS(err, "not an LDM single-file checkpoint");

  // A single file without a VAE.
  auto t = a_tensors();
  for (auto it = t.begin(); it != t.end();) it = it->first.rfind("first_stage_model.", 0) == 0 ? t.erase(it) : std::next(it);
  save_safetensors(tmp / "novae.safetensors", t);
  err = error_of([&] { load_checkpoint(tmp / "novae.safetensors", a_configs()); });
  EXPECT_MENTIONS(err, "novae.safetensors");
  EXPECT_MENTIONS(err, "first_stage_model.");
  EXPECT_EQ(load_checkpoint(tmp / "novae.safetensors", a_configs(), kUNet | kTextEncoder).unet.tensors.size(), 684u);

  // A folder whose model_index names another model class.
  fs::create_directories(tmp.path / "xl");
  std::ofstream(tmp / "xl/model_index.json") << R"({"_class_name": "StableDiffusionXLPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
      "text_encoder": ["transformers", "CLIPTextModelWithProjection"]})";
  err = error_of([&] { load_checkpoint(tmp / "xl", {}, kTextEncoder); });
  EXPECT_MENTIONS(err, "model_index.json");
  EXPECT_MENTIONS(err, "CLIPTextModelWithProjection");
}
