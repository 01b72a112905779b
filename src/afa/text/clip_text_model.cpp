#include "afa/text/clip_text_model.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>

#include "afa/util/error.h"
#include "afa/util/json_fields.h"
#include "afa/util/json_file.h"

namespace afa::text {

// ---------------------------------------------------------------------------------------------- config

ClipTextConfig ClipTextConfig::from_json(const nlohmann::json& root, const std::string& source) {
  AFA_CHECK(root.is_object(), "text encoder config ", source, ": expected a JSON object");
  const nlohmann::json& j =
      root.contains("text_config") && root["text_config"].is_object() ? root["text_config"] : root;
  ClipTextConfig c;
  JsonFields f(j, "text encoder config " + source);
  c.vocab_size = f.get_int("vocab_size", c.vocab_size);
  c.hidden_size = f.get_int("hidden_size", c.hidden_size);
  c.intermediate_size = f.get_int("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = f.get_int("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = f.get_int("num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = f.get_int("max_position_embeddings", c.max_position_embeddings);
  c.eos_token_id = f.get_int("eos_token_id", c.eos_token_id);
  c.layer_norm_eps = f.get_double("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = f.get_string("hidden_act", c.hidden_act);

  AFA_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 &&
                c.num_attention_heads > 0 && c.max_position_embeddings > 0,
            "text encoder config ", source, ": sizes must be positive");
  AFA_CHECK(c.hidden_size % c.num_attention_heads == 0, "text encoder config ", source, ": hidden_size ",
            c.hidden_size, " is not divisible by num_attention_heads ", c.num_attention_heads);
  AFA_CHECK(c.layer_norm_eps > 0 && std::isfinite(c.layer_norm_eps), "text encoder config ", source,
            ": layer_norm_eps must be positive");
  AFA_CHECK(c.hidden_act == "quick_gelu" || c.hidden_act == "gelu", "text encoder config ", source,
            ": unsupported hidden_act \"", c.hidden_act, "\" (quick_gelu or gelu)");
  return c;
}

ClipTextConfig ClipTextConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path, "text encoder config"), path);
}

ClipTextConfig ClipTextConfig::sd15() {
  ClipTextConfig c;
  c.hidden_size = 768;
  c.intermediate_size = 3072;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.eos_token_id = 2;  // openai/clip-vit-large-patch14's config.json
  return c;
}

// --------------------------------------------------------------------------------------------- modules

ClipAttentionImpl::ClipAttentionImpl(const ClipTextConfig& cfg)
    : heads_(cfg.num_attention_heads),
      head_dim_(cfg.hidden_size / cfg.num_attention_heads),
      scale_(1.0 / std::sqrt(static_cast<double>(cfg.hidden_size / cfg.num_attention_heads))) {
  const int64_t d = cfg.hidden_size;
  k_proj = register_module("k_proj", models::Linear(d, d));
  v_proj = register_module("v_proj", models::Linear(d, d));
  q_proj = register_module("q_proj", models::Linear(d, d));
  out_proj = register_module("out_proj", models::Linear(d, d));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), s = x.size(1);
  auto heads = [&](const torch::Tensor& t) { return t.view({b, s, heads_, head_dim_}).transpose(1, 2); };
  // As CLIPAttention: the query is scaled after its projection, scores get the additive mask, softmax in
  // the compute dtype. Plain matmul (not baddbmm, whose beta=0 path is broken in libtorch 1.13).
  const torch::Tensor q = heads(q_proj->forward(x) * scale_);
  const torch::Tensor k = heads(k_proj->forward(x));
  const torch::Tensor v = heads(v_proj->forward(x));
  torch::Tensor w = torch::matmul(q, k.transpose(-1, -2)) + mask;  // [B,H,S,S]
  w = torch::softmax(w, -1);
  torch::Tensor o = torch::matmul(w, v).transpose(1, 2).reshape({b, s, heads_ * head_dim_});
  return out_proj->forward(o);
}

ClipMlpImpl::ClipMlpImpl(const ClipTextConfig& cfg) : quick_gelu_(cfg.hidden_act == "quick_gelu") {
  fc1 = register_module("fc1", models::Linear(cfg.hidden_size, cfg.intermediate_size));
  fc2 = register_module("fc2", models::Linear(cfg.intermediate_size, cfg.hidden_size));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1->forward(x);
  h = quick_gelu_ ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2->forward(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipTextConfig& cfg) {
  auto ln = [&] {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.hidden_size}).eps(cfg.layer_norm_eps));
  };
  self_attn = register_module("self_attn", ClipAttention(cfg));
  layer_norm1 = register_module("layer_norm1", ln());
  mlp = register_module("mlp", ClipMlp(cfg));
  layer_norm2 = register_module("layer_norm2", ln());
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  torch::Tensor h = x + self_attn->forward(layer_norm1->forward(x), mask);
  return h + mlp->forward(layer_norm2->forward(h));
}

ClipTextEmbeddingsImpl::ClipTextEmbeddingsImpl(const ClipTextConfig& cfg) {
  token_embedding = register_module("token_embedding", models::Embedding(cfg.vocab_size, cfg.hidden_size));
  position_embedding =
      register_module("position_embedding", models::Embedding(cfg.max_position_embeddings, cfg.hidden_size));
}

torch::Tensor ClipTextEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  // Positions 0..S-1 (transformers keeps them in a non-persistent position_ids buffer).
  const auto positions =
      torch::arange(input_ids.size(1), torch::TensorOptions().dtype(torch::kInt64).device(input_ids.device()));
  return token_embedding->forward(input_ids) + position_embedding->forward(positions).unsqueeze(0);
}

ClipEncoderImpl::ClipEncoderImpl(const ClipTextConfig& cfg) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(ClipEncoderLayer(cfg));
}

ClipEncoderLayer ClipEncoderImpl::layer(size_t i) const {
  return ClipEncoderLayer(layers->ptr<ClipEncoderLayerImpl>(i));
}

ClipTextTransformerImpl::ClipTextTransformerImpl(const ClipTextConfig& cfg) {
  embeddings = register_module("embeddings", ClipTextEmbeddings(cfg));
  encoder = register_module("encoder", ClipEncoder(cfg));
  final_layer_norm = register_module(
      "final_layer_norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.hidden_size}).eps(cfg.layer_norm_eps)));
}

// ----------------------------------------------------------------------------------------------- model

namespace {

// transformers fills masked scores with torch.finfo(dtype).min (not -inf), so rows stay finite.
double dtype_lowest(torch::ScalarType t) {
  switch (t) {
    case torch::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case torch::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    default:  // float32; float64 too, built as in float32 (float64's min would overflow once added)
      return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

}  // namespace

ClipTextModel::ClipTextModel(const ClipTextConfig& cfg) : cfg_(cfg) {
  text_model = register_module("text_model", ClipTextTransformer(cfg));
}

torch::Tensor ClipTextModel::encode(const torch::Tensor& input_ids, size_t n_layers,
                                    std::vector<torch::Tensor>* states) {
  AFA_CHECK(input_ids.defined() && input_ids.dim() == 2, "CLIP text encoder: input_ids must be [batch, length], got ",
            input_ids.defined() ? input_ids.sizes() : torch::IntArrayRef{});
  AFA_CHECK(!input_ids.is_floating_point() && !input_ids.is_complex() && input_ids.scalar_type() != torch::kBool,
            "CLIP text encoder: input_ids must be an integer tensor, got ", input_ids.scalar_type());
  const int64_t s = input_ids.size(1);
  AFA_CHECK(s >= 1 && s <= cfg_.max_position_embeddings, "CLIP text encoder: sequence length ", s,
            " is outside 1..", cfg_.max_position_embeddings);
  if (input_ids.numel() > 0) {
    const int64_t lo = input_ids.min().item<int64_t>(), hi = input_ids.max().item<int64_t>();
    AFA_CHECK(lo >= 0 && hi < cfg_.vocab_size, "CLIP text encoder: token ids must lie in 0..", cfg_.vocab_size - 1,
              ", got ", lo, "..", hi);
  }
  const torch::Tensor ids = input_ids.to(torch::kInt64);

  torch::Tensor h = text_model->embeddings->forward(ids);
  // Causal mask: position i sees positions <= i.
  const torch::Tensor mask =
      torch::full({s, s}, dtype_lowest(h.scalar_type()), h.options()).triu(1).view({1, 1, s, s});
  if (states) states->push_back(h);
  for (size_t i = 0; i < n_layers; ++i) {
    h = text_model->encoder->layer(i)->forward(h, mask);
    if (states) states->push_back(h);
  }
  return h;
}

torch::Tensor ClipTextModel::forward(const torch::Tensor& input_ids, int skip_last_layers) {
  const size_t n = text_model->encoder->size();
  AFA_CHECK(skip_last_layers >= 0 && static_cast<size_t>(skip_last_layers) < n, "CLIP text encoder: cannot skip ",
            skip_last_layers, " of its ", n, " layers");
  return text_model->final_layer_norm->forward(encode(input_ids, n - static_cast<size_t>(skip_last_layers), nullptr));
}

ClipTextOutput ClipTextModel::forward_full(const torch::Tensor& input_ids, bool output_hidden_states) {
  ClipTextOutput out;
  const torch::Tensor h =
      encode(input_ids, text_model->encoder->size(), output_hidden_states ? &out.hidden_states : nullptr);
  out.last_hidden_state = text_model->final_layer_norm->forward(h);

  // CLIPTextTransformer's pooling: legacy eos_token_id 2 takes the largest id (the first one on ties),
  // otherwise the first position holding eos_token_id.
  const torch::Tensor ids = input_ids.to(torch::kInt32);
  const torch::Tensor pos = cfg_.eos_token_id == 2 ? ids.argmax(-1)
                                                   : (ids == cfg_.eos_token_id).to(torch::kInt32).argmax(-1);
  const torch::Tensor rows = torch::arange(ids.size(0), pos.options());
  out.pooler_output = out.last_hidden_state.index({rows, pos});
  return out;
}

}  // namespace afa::text
