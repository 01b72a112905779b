// diffusers.models.attention_processor.Attention (default AttnProcessor) and
// diffusers.models.attention.FeedForward with GEGLU. Parameter names follow diffusers: to_q, to_k, to_v,
// to_out.0, group_norm; ff.net.0.proj, ff.net.2.
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"
#include "afa/models/norms.h"

namespace afa::models {

struct AttentionOptions {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0: self-attention (keys/values from the queries' input)
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool bias = false;                 // bias of to_q/to_k/to_v (to_out.0 always has one)
  bool upcast_attention = false;     // q·kᵀ in float32
  bool upcast_softmax = false;       // softmax in float32
  bool residual_connection = false;  // add the input back (the VAE's mid-block attention)
  int64_t norm_num_groups = 0;       // >0: group_norm on the input first (the VAE's mid-block attention)
  double eps = 1e-5;                 // group_norm's eps
};

// softmax(q·kᵀ·scale)·v for q [B, N, heads*d], k/v [B, M, heads*d] -> [B, N, heads*d], scale = d^-0.5.
// libtorch 1.13 path (diffusers' AttnProcessor): scores, softmax, product, in slices of heads so one slice
// of scores stays under max_score_bytes (SD 1.5 at 512x512 has 8 heads of 4096x4096 scores per image;
// heads are independent, so slicing changes no number). torch >= 2: scaled_dot_product_attention, unless
// an upcast to float32 is asked for on a lower-precision input.
constexpr int64_t kDefaultMaxScoreBytes = int64_t(256) << 20;
torch::Tensor scaled_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               int64_t heads, bool upcast_attention, bool upcast_softmax,
                               int64_t max_score_bytes = kDefaultMaxScoreBytes);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& o);
  // hidden: [B, N, query_dim] or [B, C, H, W] (then treated as N = H*W tokens and reshaped back);
  // context: [B, M, cross_attention_dim] for cross-attention, undefined for self-attention.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context = {});

  const AttentionOptions& options() const { return opt_; }

  GroupNorm group_norm{nullptr};
  models::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_out0{nullptr};

 private:
  AttentionOptions opt_;
  torch::nn::ModuleList to_out_;  // [to_out.0 Linear] (diffusers' to_out.1 is a parameterless Dropout)
};
TORCH_MODULE(Attention);

// diffusers.models.attention.GEGLU: proj -> (h, gate) halves -> h * gelu(gate).
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(int64_t dim_in, int64_t dim_out);
  torch::Tensor forward(const torch::Tensor& x);
  models::Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

// diffusers.models.attention.FeedForward(dim, activation_fn="geglu", mult=4): net.0 GEGLU, net.1 dropout
// (identity at inference), net.2 Linear.
class FeedForwardImpl : public torch::nn::Module {
 public:
  explicit FeedForwardImpl(int64_t dim, int64_t mult = 4);
  torch::Tensor forward(const torch::Tensor& x);

  GEGLU geglu{nullptr};
  models::Linear out{nullptr};

 private:
  torch::nn::ModuleList net_;
};
TORCH_MODULE(FeedForward);

}  // namespace afa::models
