// The LDM <-> diffusers parameter tables and config inference, checked against the golden tiny
// pipeline A (a diffusers folder and the same weights as an LDM single file) and SD 1.5's shapes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "afa/io/ldm_names.h"
#include "afa/io/model_config.h"
#include "afa/io/config_defaults.h"
#include "afa/io/config_from_weights.h"
#include "afa/io/sd15.h"
#include "afa/io/safetensors.h"
#include "afa/util/error.h"
#include "golden.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace afa::io;
using afa::test::error_of;
using afa::test::golden;
using afa::test::without_metadata;

namespace {

json read_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

json folder_config(const std::string& comp) {
  return read_json(golden("pipelines/A/" + comp + "/config.json"));
}

ShapeMap shapes_of(const SafeTensorsFile& f) {
  ShapeMap m;
  for (const auto& n : f.names()) m[n] = f.info(n).shape;
  return m;
}

ShapeMap ldm_shapes(const ParamTable& t) {
  ShapeMap m;
  for (const auto& e : t) m[e.ldm] = ldm_shape(e);
  return m;
}

ShapeMap sd15_shapes() {
  ShapeMap m = ldm_shapes(unet_params(sd15_unet_config()));
  for (auto& kv : ldm_shapes(vae_params(sd15_vae_config()))) m.insert(kv);
  for (auto& kv : ldm_shapes(text_encoder_params(sd15_text_encoder_config()))) m.insert(kv);
  return m;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("afa_ldm_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name, const std::string& text) const {
    std::string p = (path / name).string();
    std::ofstream(p) << text;
    return p;
  }
};

}  // namespace

TEST(LdmNames, TablesMatchTheFolderWeights) {
  const std::pair<Component, std::string> comps[] = {
      {Component::UNet, "unet/diffusion_pytorch_model.safetensors"},
      {Component::VAE, "vae/diffusion_pytorch_model.safetensors"},
      {Component::TextEncoder, "text_encoder/model.safetensors"}};
  for (const auto& [c, file] : comps) {
    SCOPED_TRACE(component_name(c));
    ParamTable t = component_params(c, folder_config(component_name(c)));
    SafeTensorsFile f(golden("pipelines/A/" + file));
    ASSERT_EQ(t.size(), f.names().size());
    for (const auto& e : t) {
      ASSERT_TRUE(f.contains(e.diffusers)) << e.diffusers;
      EXPECT_EQ(f.info(e.diffusers).shape, e.shape) << e.diffusers;
    }
  }
}

TEST(LdmNames, LdmNamesAndShapesMatchTheSingleFile) {
  SafeTensorsFile f(golden("pipelines/A.safetensors"));
  ShapeMap want = shapes_of(f);
  ShapeMap got;
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    for (auto& kv : ldm_shapes(component_params(c, folder_config(component_name(c))))) {
      EXPECT_TRUE(got.insert(kv).second) << "two components claim " << kv.first;
    }
  }
  EXPECT_EQ(got.size(), 964u);
  EXPECT_EQ(got, want);
}

TEST(LdmNames, RenameIsBijective) {
  const std::vector<std::pair<Component, json>> configs = {
      {Component::UNet, folder_config("unet")},
      {Component::VAE, folder_config("vae")},
      {Component::TextEncoder, folder_config("text_encoder")},
      {Component::UNet, sd15_unet_config()},
      {Component::VAE, sd15_vae_config()},
      {Component::TextEncoder, sd15_text_encoder_config()}};
  for (const auto& [c, cfg] : configs) {
    ParamTable t = component_params(c, cfg);
    std::map<std::string, std::string> d2l, l2d;
    for (const auto& e : t) {
      EXPECT_TRUE(d2l.emplace(e.diffusers, e.ldm).second) << "diffusers name twice: " << e.diffusers;
      EXPECT_TRUE(l2d.emplace(e.ldm, e.diffusers).second) << "LDM name twice: " << e.ldm;
      EXPECT_EQ(ldm_component(e.ldm), c) << e.ldm;
      EXPECT_FALSE(is_ignorable_ldm_key(e.ldm)) << e.ldm;
    }
    for (const auto& [d, l] : d2l) EXPECT_EQ(l2d.at(l), d);  // diffusers -> LDM -> diffusers
  }
}

TEST(LdmNames, Sd15TableSizes) {
  // The key counts of SD 1.5's diffusers models (text without position_ids).
  EXPECT_EQ(unet_params(sd15_unet_config()).size(), 686u);
  EXPECT_EQ(vae_params(sd15_vae_config()).size(), 248u);
  EXPECT_EQ(text_encoder_params(sd15_text_encoder_config()).size(), 196u);
}

TEST(LdmNames, SpotChecks) {
  ParamTable t = unet_params(sd15_unet_config());
  std::map<std::string, ParamEntry> by_d;
  for (auto& e : t) by_d[e.diffusers] = e;
  const std::pair<const char*, const char*> pairs[] = {
      {"conv_in.weight", "input_blocks.0.0.weight"},
      {"time_embedding.linear_2.bias", "time_embed.2.bias"},
      {"down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight", "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"},
      {"down_blocks.1.resnets.0.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight"},
      {"down_blocks.2.downsamplers.0.conv.weight", "input_blocks.9.0.op.weight"},
      {"down_blocks.3.resnets.1.time_emb_proj.weight", "input_blocks.11.0.emb_layers.1.weight"},
      {"mid_block.attentions.0.proj_in.weight", "middle_block.1.proj_in.weight"},
      {"mid_block.resnets.1.norm2.bias", "middle_block.2.out_layers.0.bias"},
      {"up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"},
      {"up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight"},
      {"up_blocks.3.attentions.2.proj_out.bias", "output_blocks.11.1.proj_out.bias"},
      {"up_blocks.3.resnets.2.conv1.weight", "output_blocks.11.0.in_layers.2.weight"},
      {"conv_norm_out.weight", "out.0.weight"},
      {"conv_out.bias", "out.2.bias"},
  };
  for (const auto& [d, l] : pairs) {
    ASSERT_TRUE(by_d.count(d)) << d;
    EXPECT_EQ(by_d[d].ldm, std::string(kLdmUNetPrefix) + l);
  }
  EXPECT_EQ(by_d["up_blocks.3.resnets.2.conv1.weight"].shape, (std::vector<int64_t>{320, 640, 3, 3}));
  EXPECT_EQ(by_d["up_blocks.0.resnets.2.conv1.weight"].shape, (std::vector<int64_t>{1280, 2560, 3, 3}));
  EXPECT_EQ(by_d["up_blocks.1.resnets.2.conv1.weight"].shape, (std::vector<int64_t>{1280, 1920, 3, 3}));
  EXPECT_EQ(by_d["up_blocks.2.resnets.0.conv1.weight"].shape, (std::vector<int64_t>{640, 1920, 3, 3}));

  std::map<std::string, ParamEntry> vae;
  for (auto& e : vae_params(sd15_vae_config())) vae[e.diffusers] = e;
  EXPECT_EQ(vae["decoder.up_blocks.0.upsamplers.0.conv.weight"].ldm, "first_stage_model.decoder.up.3.upsample.conv.weight");
  EXPECT_EQ(vae["decoder.up_blocks.3.resnets.0.conv_shortcut.weight"].ldm, "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight");
  EXPECT_EQ(vae["encoder.mid_block.attentions.0.to_out.0.weight"].ldm, "first_stage_model.encoder.mid.attn_1.proj_out.weight");
  EXPECT_TRUE(vae["encoder.mid_block.attentions.0.to_out.0.weight"].ldm_conv1x1);
  EXPECT_FALSE(vae["encoder.mid_block.attentions.0.to_out.0.bias"].ldm_conv1x1);
  EXPECT_EQ(ldm_shape(vae["decoder.mid_block.attentions.0.to_q.weight"]), (std::vector<int64_t>{512, 512, 1, 1}));
  EXPECT_EQ(vae["encoder.conv_norm_out.bias"].ldm, "first_stage_model.encoder.norm_out.bias");
}

TEST(LdmNames, IgnorableKeys) {
  EXPECT_TRUE(is_ignorable_ldm_key("cond_stage_model.transformer.text_model.embeddings.position_ids"));
  EXPECT_TRUE(is_ignorable_ldm_key("cond_stage_model.transformer.embeddings.position_ids"));
  EXPECT_TRUE(is_ignorable_ldm_key("model_ema.diffusion_modelinput_blocks00weight"));
  EXPECT_TRUE(is_ignorable_ldm_key("model_ema.decay"));
  EXPECT_TRUE(is_ignorable_ldm_key("alphas_cumprod"));
  EXPECT_TRUE(is_ignorable_ldm_key("first_stage_model.loss.logvar"));
  EXPECT_FALSE(is_ignorable_ldm_key("model.diffusion_model.out.0.weight"));
  EXPECT_FALSE(is_ignorable_ldm_key("model.diffusion_model.betas"));
  EXPECT_EQ(canonical_ldm_name("cond_stage_model.transformer.final_layer_norm.weight"),
            "cond_stage_model.transformer.text_model.final_layer_norm.weight");
  EXPECT_EQ(canonical_ldm_name("model.diffusion_model.out.0.weight"), "model.diffusion_model.out.0.weight");
}

TEST(LdmNames, ToLdmTensorsMatchesTheSingleFile) {
  SafeTensorsFile single(golden("pipelines/A.safetensors"));
  const std::pair<Component, std::string> comps[] = {
      {Component::UNet, "unet/diffusion_pytorch_model.safetensors"},
      {Component::VAE, "vae/diffusion_pytorch_model.safetensors"},
      {Component::TextEncoder, "text_encoder/model.safetensors"}};
  size_t n = 0;
  for (const auto& [c, file] : comps) {
    auto tensors = load_safetensors(golden("pipelines/A/" + file));
    auto ldm = to_ldm_tensors(c, folder_config(component_name(c)), tensors, file);
    for (const auto& [name, t] : ldm) {
      ASSERT_TRUE(single.contains(name)) << name;
      torch::Tensor want = single.get(name);
      ASSERT_EQ(t.sizes(), want.sizes()) << name;
      EXPECT_TRUE(torch::equal(t.to(torch::kHalf), want)) << name;
      ++n;
    }
    // Strictness: a missing tensor is reported with the source.
    tensors.erase(tensors.begin());
    std::string err = error_of([&] { to_ldm_tensors(c, folder_config(component_name(c)), tensors, file); });
    EXPECT_NE(err.find(file), std::string::npos) << err;
    EXPECT_NE(err.find("missing"), std::string::npos) << err;
  }
  EXPECT_EQ(n, 964u);
}

TEST(ModelConfig, RecognisesSd15) {
  ShapeMap m = sd15_shapes();
  EXPECT_TRUE(is_sd15(m));
  // Ignorable extras change nothing.
  m["cond_stage_model.transformer.text_model.embeddings.position_ids"] = {1, 77};
  m["model_ema.diffusion_modelinput_blocks00weight"] = {320, 4, 3, 3};
  EXPECT_TRUE(is_sd15(m));

  ShapeMap linear = m;  // VAE attention saved as Linear by some tools
  linear["first_stage_model.encoder.mid.attn_1.q.weight"] = {512, 512};
  EXPECT_TRUE(is_sd15_component(Component::VAE, linear));

  ShapeMap wide = m;  // SD 2's context width
  wide["model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"] = {320, 1024};
  EXPECT_FALSE(is_sd15_component(Component::UNet, wide));
  EXPECT_TRUE(is_sd15_component(Component::VAE, wide));
  EXPECT_FALSE(is_sd15(wide));

  ShapeMap missing = m;
  missing.erase("first_stage_model.quant_conv.bias");
  EXPECT_FALSE(is_sd15_component(Component::VAE, missing));
  EXPECT_TRUE(is_sd15_component(Component::UNet, missing));

  ShapeMap extra = m;  // a second transformer layer in one block
  extra["model.diffusion_model.input_blocks.1.1.transformer_blocks.1.norm1.weight"] = {320};
  EXPECT_FALSE(is_sd15_component(Component::UNet, extra));

  ShapeMap small_text = m;
  small_text.erase("cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc1.weight");
  EXPECT_FALSE(is_sd15_component(Component::TextEncoder, small_text));

  SafeTensorsFile a(golden("pipelines/A.safetensors"));
  EXPECT_FALSE(is_sd15(shapes_of(a)));
}

TEST(ModelConfig, StructureFromWeights) {
  ShapeMap sd = sd15_shapes();
  auto check = [](const json& got, const json& want, const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      EXPECT_EQ(complete_config(Component::UNet, got)[k], want[k]) << k;
    }
  };
  const std::vector<std::string> unet_keys = {"in_channels", "out_channels", "block_out_channels", "layers_per_block",
                                              "down_block_types", "up_block_types", "cross_attention_dim",
                                              "transformer_layers_per_block", "use_linear_projection"};
  check(unet_structure_from_ldm(sd, "sd"), sd15_unet_config(), unet_keys);
  SafeTensorsFile a(golden("pipelines/A.safetensors"));
  ShapeMap am = shapes_of(a);
  check(unet_structure_from_ldm(am, "A"), folder_config("unet"), unet_keys);

  json vae = complete_config(Component::VAE, vae_structure_from_ldm(am, "A"));
  json want_vae = folder_config("vae");
  for (const char* k : {"in_channels", "out_channels", "block_out_channels", "layers_per_block", "latent_channels",
                        "down_block_types", "up_block_types"}) {
    EXPECT_EQ(vae[k], want_vae[k]) << k;
  }
  json text = complete_config(Component::TextEncoder, text_structure_from_ldm(am, "A"));
  json want_text = folder_config("text_encoder");
  for (const char* k : {"hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size", "max_position_embeddings"}) {
    EXPECT_EQ(text[k], want_text[k]) << k;
  }
  std::string err = error_of([&] { unet_structure_from_ldm(ShapeMap{}, "empty.safetensors"); });
  EXPECT_NE(err.find("empty.safetensors"), std::string::npos) << err;
}

TEST(ModelConfig, LdmYaml) {
  json c = configs_from_ldm_yaml(golden("pipelines/ldm_config.yaml"));
  EXPECT_EQ(without_metadata(complete_config(Component::UNet, c["unet"])), without_metadata(folder_config("unet")));
  EXPECT_EQ(without_metadata(complete_config(Component::VAE, c["vae"])), without_metadata(folder_config("vae")));
  json sched = read_json(golden("pipelines/A/scheduler/scheduler_config.json"));
  EXPECT_EQ(without_metadata(c["scheduler"]), without_metadata(sched));
}

TEST(ModelConfig, LdmYamlVariants) {
  TempDir tmp;
  std::ifstream in(golden("pipelines/ldm_config.yaml"));
  std::string base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  };
  // SD 2 style: heads from num_head_channels, linear projections, v-prediction.
  std::string sd2 = replaced("num_heads: 8", "num_head_channels: 16\n        use_linear_in_transformer: True");
  sd2 = sd2.replace(sd2.find("use_ema: False"), 14, "use_ema: False\n    parameterization: \"v\"");
  json c = configs_from_ldm_yaml(tmp.file("sd2.yaml", sd2));
  EXPECT_EQ(c["unet"]["attention_head_dim"], json({2, 2, 4, 4}));
  EXPECT_EQ(c["unet"]["use_linear_projection"], true);
  EXPECT_EQ(c["scheduler"]["prediction_type"], "v_prediction");

  std::string p = tmp.file("classes.yaml", replaced("num_heads: 8", "num_heads: 8\n        num_classes: 10"));
  std::string err = error_of([&] { configs_from_ldm_yaml(p); });
  EXPECT_NE(err.find("classes.yaml"), std::string::npos) << err;
  EXPECT_NE(err.find("num_classes"), std::string::npos) << err;

  p = tmp.file("broken.yaml", "model: [unclosed");
  err = error_of([&] { configs_from_ldm_yaml(p); });
  EXPECT_NE(err.find("broken.yaml"), std::string::npos) << err;

  p = tmp.file("nomodel.yaml", "foo: 1\n");
  err = error_of([&] { configs_from_ldm_yaml(p); });
  EXPECT_NE(err.find("model"), std::string::npos) << err;
}

TEST(ModelConfig, JsonConfigFiles) {
  TempDir tmp;
  ConfigFiles f = read_config_files({golden("pipelines/text_encoder_config.json"),
                                     tmp.file("parts.json", R"({"unet": {"attention_head_dim": 4}, "_comment": "x"})"),
                                     tmp.file("more.json", R"({"unet": {"attention_head_dim": 8}, "vae": {"scaling_factor": 0.5}})")});
  EXPECT_EQ(f.overlay["text_encoder"]["num_attention_heads"], 4);
  EXPECT_EQ(f.overlay["unet"]["attention_head_dim"], 8);  // later files win
  EXPECT_EQ(f.overlay["vae"]["scaling_factor"], 0.5);

  ConfigFiles u = read_config_files({golden("pipelines/A/unet/config.json"), golden("pipelines/A/scheduler/scheduler_config.json")});
  EXPECT_EQ(u.overlay["unet"]["block_out_channels"], json({32, 32, 64, 64}));
  EXPECT_EQ(u.overlay["scheduler"]["_class_name"], "PNDMScheduler");

  std::string bad = tmp.file("bad.json", R"({"unte": {}})");
  std::string err = error_of([&] { read_config_files({bad}); });
  EXPECT_NE(err.find("bad.json"), std::string::npos) << err;
  EXPECT_NE(err.find("unte"), std::string::npos) << err;
  err = error_of([&] { read_config_files({(tmp.path / "absent.json").string()}); });
  EXPECT_NE(err.find("absent.json"), std::string::npos) << err;
  std::string txt = tmp.file("cfg.txt", "{}");
  err = error_of([&] { read_config_files({txt}); });
  EXPECT_NE(err.find("cfg.txt"), std::string::npos) << err;
}

TEST(ModelConfig, UnsupportedUNetConfig) {
  json cfg = folder_config("unet");
  cfg["class_embed_type"] = "timestep";
  std::string err = error_of([&] { unet_params(cfg, "my_config.json"); });
  EXPECT_NE(err.find("class_embed_type"), std::string::npos) << err;
  EXPECT_NE(err.find("my_config.json"), std::string::npos) << err;
  cfg = folder_config("unet");
  cfg["down_block_types"][0] = "AttnDownBlock2D";
  err = error_of([&] { unet_params(cfg, "my_config.json"); });
  EXPECT_NE(err.find("AttnDownBlock2D"), std::string::npos) << err;
  cfg = folder_config("unet");
  cfg["block_out_channels"] = "wide";
  err = error_of([&] { unet_params(cfg, "my_config.json"); });
  EXPECT_NE(err.find("my_config.json"), std::string::npos) << err;
}

TEST(ModelConfig, Sd15SingleFileConfigs) {
  // Recognised from the shapes alone.
  ShapeMap sd = sd15_shapes();
  ModelConfigs c = single_file_configs("sd15.safetensors", sd, ConfigFiles{}, kAllComponents);
  EXPECT_EQ(c.unet, sd15_unet_config());
  EXPECT_EQ(c.vae, sd15_vae_config());
  EXPECT_EQ(c.text_encoder, sd15_text_encoder_config());
  EXPECT_EQ(c.scheduler, sd15_scheduler_config());
  EXPECT_EQ(c.text_encoder["num_attention_heads"], 12);
  EXPECT_EQ(c.unet["attention_head_dim"], 8);

  // v1-inference.yaml's values give the same U-Net and VAE; the text encoder is recognised as ViT-L.
  TempDir tmp;
  std::ifstream in(golden("pipelines/ldm_config.yaml"));
  std::string y((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"image_size: 16", "image_size: 64"}, {"model_channels: 32", "model_channels: 320"},
           {"channel_mult: [1, 1, 2, 2]", "channel_mult: [1, 2, 4, 4]"}, {"context_dim: 32", "context_dim: 768"},
           {"ch: 32", "ch: 128"}, {"ch_mult: [1, 1, 1, 2]", "ch_mult: [1, 2, 4, 4]"}}) {
    auto pos = y.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    y.replace(pos, from.size(), to);
  }
  ConfigFiles files = read_config_files({tmp.file("v1-inference.yaml", y)});
  ModelConfigs v = single_file_configs("sd15.safetensors", sd, files, kAllComponents);
  EXPECT_EQ(without_metadata(v.unet), without_metadata(sd15_unet_config()));
  EXPECT_EQ(without_metadata(v.vae), without_metadata(sd15_vae_config()));
  EXPECT_EQ(v.text_encoder, sd15_text_encoder_config());
  EXPECT_EQ(v.scheduler, sd15_scheduler_config());

  // JSON keys are laid over the recognised config.
  files = read_config_files({tmp.file("o.json", R"({"unet": {"upcast_attention": true}, "scheduler": {"steps_offset": 0}})")});
  ModelConfigs o = single_file_configs("sd15.safetensors", sd, files, kUNet);
  EXPECT_EQ(o.unet["upcast_attention"], true);
  EXPECT_EQ(o.unet["cross_attention_dim"], 768);
  EXPECT_TRUE(o.vae.is_null());
  EXPECT_EQ(o.scheduler["steps_offset"], 0);
  EXPECT_EQ(o.scheduler["_class_name"], "PNDMScheduler");
}
