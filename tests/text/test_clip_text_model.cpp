// CLIPTextModel against transformers (golden README, case 3: modules/text_encoder_io).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/text/clip_text_model.h"
#include "afa/text/clip_tokenizer.h"
#include "afa/util/error.h"
#include "golden.h"

namespace {

using afa::test::AllClose;
using afa::text::ClipTextConfig;
using afa::text::ClipTextModel;

std::shared_ptr<ClipTextModel> golden_model() {
  const auto cfg = ClipTextConfig::from_file(afa::test::golden("pipelines/A/text_encoder/config.json"));
  auto model = std::make_shared<ClipTextModel>(cfg);
  const std::string path = afa::test::golden("pipelines/A/text_encoder/model.safetensors");
  afa::io::load_state_dict(*model, afa::io::load_safetensors(path), path);
  model->eval();
  return model;
}

TEST(ClipTextConfig, ParsesGoldenConfig) {
  const auto cfg = ClipTextConfig::from_file(afa::test::golden("pipelines/A/text_encoder/config.json"));
  EXPECT_EQ(cfg.hidden_size, 32);
  EXPECT_EQ(cfg.intermediate_size, 64);
  EXPECT_EQ(cfg.num_hidden_layers, 2);
  EXPECT_EQ(cfg.num_attention_heads, 4);
  EXPECT_EQ(cfg.max_position_embeddings, 77);
  EXPECT_EQ(cfg.vocab_size, 49408);
  EXPECT_EQ(cfg.hidden_act, "quick_gelu");
  EXPECT_DOUBLE_EQ(cfg.layer_norm_eps, 1e-5);
  EXPECT_EQ(cfg.eos_token_id, 2);
}

TEST(ClipTextConfig, RejectsBadValues) {
  auto j = nlohmann::json::parse(R"({"hidden_size": 30, "num_attention_heads": 4})");
  EXPECT_THROW(ClipTextConfig::from_json(j, "x.json"), afa::Error);
  j = nlohmann::json::parse(R"({"hidden_act": "relu"})");
  try {
    ClipTextConfig::from_json(j, "x.json");
    ADD_FAILURE() << "relu accepted";
  } catch (const afa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("relu"), std::string::npos);
  }
  j = nlohmann::json::parse(R"({"num_hidden_layers": "two"})");
  EXPECT_THROW(ClipTextConfig::from_json(j, "x.json"), afa::Error);
  EXPECT_THROW(ClipTextConfig::from_file("/nonexistent/config.json"), afa::Error);
  // CLIPConfig layout: the text part sits under "text_config".
  j = nlohmann::json::parse(R"({"text_config": {"hidden_size": 64, "num_attention_heads": 2}})");
  EXPECT_EQ(ClipTextConfig::from_json(j, "x.json").hidden_size, 64);
}

TEST(ClipTextModel, ParameterNamesMatchCheckpoint) {
  const auto cfg = ClipTextConfig::from_file(afa::test::golden("pipelines/A/text_encoder/config.json"));
  ClipTextModel model(cfg);
  const auto sd = afa::io::state_dict(model);
  afa::io::SafeTensorsFile file(afa::test::golden("pipelines/A/text_encoder/model.safetensors"));
  EXPECT_EQ(sd.size(), file.names().size());
  for (const auto& name : file.names()) EXPECT_TRUE(sd.count(name)) << name;
}

TEST(ClipTextModel, MatchesTransformersGolden) {
  auto model = golden_model();
  afa::io::SafeTensorsFile io(afa::test::golden("modules/text_encoder_io.safetensors"));
  const auto ids = io.get("input_ids");
  torch::NoGradGuard no_grad;
  const auto out = model->forward_full(ids, /*output_hidden_states=*/true);

  const auto last = AllClose(out.last_hidden_state, io.get("last_hidden_state"), 1e-5);
  EXPECT_TRUE(last) << "last_hidden_state";
  std::cout << "[ info ] last_hidden_state: " << last.message() << "\n";
  const auto pooled = AllClose(out.pooler_output, io.get("pooler_output"), 1e-5);
  EXPECT_TRUE(pooled) << "pooler_output";
  std::cout << "[ info ] pooler_output: " << pooled.message() << "\n";

  const auto hs = io.get("hidden_states");
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), hs.size(0));
  for (int64_t l = 0; l < hs.size(0); ++l) {
    const auto r = AllClose(out.hidden_states[static_cast<size_t>(l)], hs[l], 1e-5);
    EXPECT_TRUE(r) << "hidden_states[" << l << "]";
    std::cout << "[ info ] hidden_states[" << l << "]: " << r.message() << "\n";
  }

  // forward() is the same computation.
  EXPECT_TRUE(torch::equal(model->forward(ids), out.last_hidden_state));
  // Skipping the last layer = final LayerNorm on the second-to-last hidden state.
  const auto skipped = model->forward(ids, 1);
  const auto ref = model->text_model->final_layer_norm->forward(out.hidden_states[1]);
  EXPECT_TRUE(AllClose(skipped, ref, 1e-6 * ref.abs().max().item<double>()));
}

// Reduced precision (CUDA's use case) runs here in bfloat16 on CPU: the mask uses the dtype's lowest
// value and the result stays close to float32.
TEST(ClipTextModel, RunsInBFloat16) {
  auto model = golden_model();
  afa::io::SafeTensorsFile io(afa::test::golden("modules/text_encoder_io.safetensors"));
  torch::NoGradGuard no_grad;
  model->to(torch::kBFloat16);
  torch::Tensor out;
  try {
    out = model->forward(io.get("input_ids"));
  } catch (const c10::Error& e) {
    GTEST_SKIP() << "bfloat16 not supported by this libtorch on CPU: " << e.what_without_backtrace();
  }
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  const auto r = AllClose(out.to(torch::kFloat), io.get("last_hidden_state"), 0.15);
  EXPECT_TRUE(r);
  std::cout << "[ info ] bfloat16 last_hidden_state: " << r.message() << "\n";
}

TEST(ClipTextModel, GoldenPromptsTokenizeToGoldenIds) {
  afa::io::SafeTensorsFile io(afa::test::golden("modules/text_encoder_io.safetensors"));
  const auto prompts = nlohmann::json::parse(io.metadata().at("prompts")).get<std::vector<std::string>>();
  const auto tok = afa::text::ClipTokenizer::from_folder(afa::test::golden("pipelines/A/tokenizer"));
  EXPECT_TRUE(torch::equal(tok.encode_batch(prompts), io.get("input_ids")));
}

TEST(ClipTextModel, EosPoolingWhenConfigured) {
  // Non-legacy eos_token_id pools at the first end token, which differs from argmax when a larger id
  // precedes it; with CLIP's vocabulary (end = largest id) both agree.
  ClipTextConfig cfg;
  cfg.vocab_size = 10;
  cfg.hidden_size = 8;
  cfg.intermediate_size = 16;
  cfg.num_hidden_layers = 1;
  cfg.num_attention_heads = 2;
  cfg.max_position_embeddings = 6;
  cfg.eos_token_id = 5;
  torch::manual_seed(0);
  ClipTextModel model(cfg);
  torch::NoGradGuard no_grad;
  const auto ids = torch::tensor({{1, 9, 2, 5, 5, 5}}, torch::kInt64);
  const auto out = model.forward_full(ids);
  EXPECT_TRUE(torch::equal(out.pooler_output[0], out.last_hidden_state[0][3]));
}

TEST(ClipTextModel, RejectsBadInput) {
  ClipTextConfig cfg;
  cfg.vocab_size = 10;
  cfg.hidden_size = 8;
  cfg.intermediate_size = 16;
  cfg.num_hidden_layers = 1;
  cfg.num_attention_heads = 2;
  cfg.max_position_embeddings = 6;
  ClipTextModel model(cfg);
  torch::NoGradGuard no_grad;
  EXPECT_THROW(model.forward(torch::tensor({{1, 10}}, torch::kInt64)), afa::Error);        // id out of range
  EXPECT_THROW(model.forward(torch::zeros({1, 7}, torch::kInt64)), afa::Error);            // too long
  EXPECT_THROW(model.forward(torch::zeros({7}, torch::kInt64)), afa::Error);               // not 2-D
  EXPECT_THROW(model.forward(torch::zeros({1, 3}, torch::kFloat)), afa::Error);            // not integer
  EXPECT_THROW(model.forward(torch::zeros({1, 3}, torch::kInt64), 1), afa::Error);         // skip all layers
  EXPECT_EQ(model.forward(torch::zeros({2, 3}, torch::kInt32)).sizes(), (torch::IntArrayRef{2, 3, 8}));
}

}  // namespace
