#include "afa/ensemble/sabw.h"

#include "afa/util/error.h"
#include "afa/util/json_fields.h"

namespace afa::ensemble {

nlohmann::json SABWConfig::to_json() const {
  nlohmann::json j = {{"in_channels", in_channels},       {"hidden_size", hidden_size},
                      {"num_experts", num_experts},       {"num_layers", num_layers},
                      {"num_attn_heads", num_attn_heads}, {"cross_attn_dim", cross_attn_dim},
                      {"temb_channels", temb_channels}};
  // Only non-default ablation keys are written, so a full-method aggregator has the official config.
  if (!spatial) j["attention"] = "scalar";
  if (!use_timestep) j["use_timestep"] = false;
  if (!use_text) j["use_text"] = false;
  return j;
}

SABWConfig SABWConfig::from_json(const nlohmann::json& j, const std::string& source) {
  AFA_CHECK(j.is_object(), source, ": aggregator config is not a JSON object");
  SABWConfig c;
  JsonFields f(j, source + ": aggregator config");
  auto need = [&](const char* key, int64_t& out) {
    out = f.get_int(key, 0);
    AFA_CHECK(out > 0, source, ": aggregator config needs a positive integer '", key, "'");
  };
  need("in_channels", c.in_channels);
  need("hidden_size", c.hidden_size);
  need("num_experts", c.num_experts);
  need("num_layers", c.num_layers);
  need("num_attn_heads", c.num_attn_heads);
  need("cross_attn_dim", c.cross_attn_dim);
  need("temb_channels", c.temb_channels);
  const std::string a = f.get_string("attention", "spatial");
  AFA_CHECK(a == "spatial" || a == "scalar", source, ": aggregator 'attention' must be spatial or scalar, got ", a);
  c.spatial = a == "spatial";
  c.use_timestep = f.get_bool("use_timestep", true);
  c.use_text = f.get_bool("use_text", true);
  AFA_CHECK(c.hidden_size % c.num_attn_heads == 0, source, ": hidden_size ", c.hidden_size,
            " is not a multiple of num_attn_heads ", c.num_attn_heads);
  AFA_CHECK(c.hidden_size % 32 == 0, source, ": hidden_size ", c.hidden_size,
            " must be a multiple of 32 (the GroupNorm groups of the ResNet and transformer blocks)");
  return c;
}

SABWImpl::SABWImpl(const SABWConfig& c) : config_(c) {
  namespace nn = torch::nn;
  AFA_CHECK(c.num_experts >= 1 && c.in_channels >= 1, "SABW: needs models and channels");
  conv_in = register_module("conv_in", models::Conv2d(nn::Conv2dOptions(c.in_channels * c.num_experts, c.hidden_size, 1)));
  models::ResnetBlock2DOptions ro;
  ro.in_channels = c.hidden_size;
  ro.out_channels = c.hidden_size;
  ro.temb_channels = c.use_timestep ? c.temb_channels : 0;
  ro.groups = 32;
  ro.eps = 1e-6;  // diffusers' ResnetBlock2D default
  res_block = register_module("res_block", models::ResnetBlock2D(ro));
  models::Transformer2DModelOptions to;
  to.num_attention_heads = c.num_attn_heads;
  to.attention_head_dim = c.hidden_size / c.num_attn_heads;
  to.in_channels = c.hidden_size;
  to.num_layers = c.num_layers;
  to.cross_attention_dim = c.use_text ? c.cross_attn_dim : 0;
  to.norm_num_groups = 32;
  transformer = register_module("transformer", models::Transformer2DModel(to));
  conv_out = register_module("conv_out", models::Conv2d(nn::Conv2dOptions(c.hidden_size, c.num_experts, 1).bias(false)));
  // Zero-initialised: every map starts at 1/N, i.e. the ensemble starts as the block-wise average.
  torch::NoGradGuard no_grad;
  conv_out->weight.zero_();
}

std::pair<torch::Tensor, torch::Tensor> SABWImpl::forward(const torch::Tensor& features, const torch::Tensor& temb,
                                                          const torch::Tensor& context) {
  AFA_CHECK(features.dim() == 5 && features.size(1) == config_.num_experts && features.size(2) == config_.in_channels,
            "SABW: features must be [B, ", config_.num_experts, ", ", config_.in_channels, ", H, W], got ",
            features.sizes());
  const auto b = features.size(0), h = features.size(3), w = features.size(4);
  // The ranges name the parts in a profile (bench_sd15 --profile); free when no profiler runs.
  torch::Tensor x;
  {
    RECORD_USER_SCOPE("sabw::conv_in");
    x = conv_in(features.reshape({b, -1, h, w}));
  }
  {
    RECORD_USER_SCOPE("sabw::res_block");
    x = res_block(x, config_.use_timestep ? temb : torch::Tensor());
  }
  {
    RECORD_USER_SCOPE("sabw::transformer");
    x = transformer(x, config_.use_text ? context : torch::Tensor());
  }
  RECORD_USER_SCOPE("sabw::combine");
  x = conv_out(x);
  if (!config_.spatial) x = x.mean({2, 3}, /*keepdim=*/true);
  auto maps = torch::softmax(x, 1);
  auto aggregated = (features * maps.unsqueeze(2)).sum(1);
  return {aggregated, maps};
}

}  // namespace afa::ensemble
