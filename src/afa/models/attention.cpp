#include "afa/models/attention.h"

#include <torch/version.h>

#include <cmath>
#include <vector>

#include "afa/models/inplace.h"
#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

namespace {

// [B, N, heads*d] -> [B*heads, N, d] (diffusers' head_to_batch_dim).
torch::Tensor head_to_batch_dim(const torch::Tensor& x, int64_t heads) {
  const int64_t b = x.size(0), n = x.size(1), d = x.size(2) / heads;
  return x.reshape({b, n, heads, d}).permute({0, 2, 1, 3}).reshape({b * heads, n, d});
}

// [B*heads, N, d] -> [B, N, heads*d] (diffusers' batch_to_head_dim).
torch::Tensor batch_to_head_dim(const torch::Tensor& x, int64_t heads) {
  const int64_t bh = x.size(0), n = x.size(1), d = x.size(2);
  return x.reshape({bh / heads, heads, n, d}).permute({0, 2, 1, 3}).reshape({bh / heads, n, heads * d});
}

}  // namespace

torch::Tensor scaled_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               int64_t heads, bool upcast_attention, bool upcast_softmax,
                               int64_t max_score_bytes) {
  const int64_t dim = q.size(2);
  AFA_CHECK(dim % heads == 0, "attention: width ", dim, " is not divisible by ", heads, " heads");
  const double scale = std::pow(static_cast<double>(dim / heads), -0.5);
  const auto dtype = q.scalar_type();
  [[maybe_unused]] const bool upcast = (upcast_attention || upcast_softmax) && dtype != torch::kFloat32;
#if TORCH_VERSION_MAJOR >= 2
  if (!upcast) {
    const int64_t b = q.size(0), d = dim / heads;
    auto split = [&](const torch::Tensor& x) { return x.view({b, -1, heads, d}).transpose(1, 2); };
    auto o = at::scaled_dot_product_attention(split(q), split(k), split(v));
    return o.transpose(1, 2).reshape({b, -1, dim});
  }
#endif
  auto qb = head_to_batch_dim(q, heads);
  auto kt = head_to_batch_dim(k, heads).transpose(1, 2);
  auto vb = head_to_batch_dim(v, heads);
  if (upcast_attention && dtype != torch::kFloat32) {
    qb = qb.to(torch::kFloat32);
    kt = kt.to(torch::kFloat32);
  }
  const int64_t bh = qb.size(0), n = qb.size(1), m = kt.size(2);
  const int64_t score_bytes = n * m * static_cast<int64_t>(sizeof(float));
  const int64_t slice = std::max<int64_t>(1, std::min<int64_t>(bh, max_score_bytes / std::max<int64_t>(score_bytes, 1)));
  std::vector<torch::Tensor> outs;  // per slice (no out= ops: they would break autograd in training)
  // At inference on CPU one scratch buffer holds each slice's scores and then, in place, its softmax:
  // freshly allocated gigabytes cost more in page faults than the arithmetic.
  const bool reuse = detail::can_reuse() && qb.device().is_cpu();
  torch::Tensor scratch;
  for (int64_t s = 0; s < bh; s += slice) {
    const int64_t len = std::min(slice, bh - s);
    // diffusers: baddbmm(empty, q, kᵀ, beta=0, alpha=scale). beta=0 is broken in libtorch 1.13 (it reads
    // the uninitialised input on small matrices), so: zeros with beta=1, which is the documented beta=0
    // result and, unlike bmm followed by *scale, gives the reference's float32 rounding bit for bit.
    torch::Tensor scores;
    if (reuse) {
      if (!scratch.defined()) scratch = torch::empty({slice, n, m}, qb.options());
      scores = scratch.narrow(0, 0, len).zero_();
    } else {
      scores = torch::zeros({len, n, m}, qb.options());
    }
    scores.baddbmm_(qb.narrow(0, s, len), kt.narrow(0, s, len), /*beta=*/1.0, /*alpha=*/scale);
    if (upcast_softmax && scores.scalar_type() != torch::kFloat32) scores = scores.to(torch::kFloat32);
    torch::Tensor probs;
    if (reuse) {
      probs = at::_softmax_out(scores, scores, -1, /*half_to_float=*/false);  // row-wise, safe in place
    } else {
      probs = torch::softmax(scores, -1);
    }
    scores = torch::Tensor();
    if (probs.scalar_type() != dtype) probs = probs.to(dtype);
    outs.push_back(torch::bmm(probs, vb.narrow(0, s, len)));
  }
  return batch_to_head_dim(outs.size() == 1 ? outs[0] : torch::cat(outs, 0), heads);
}

AttentionImpl::AttentionImpl(const AttentionOptions& o) : opt_(o) {
  const int64_t inner = opt_.heads * opt_.dim_head;
  const int64_t kv_dim = opt_.cross_attention_dim > 0 ? opt_.cross_attention_dim : opt_.query_dim;
  if (opt_.norm_num_groups > 0)
    group_norm = register_module(
        "group_norm", GroupNorm(nn::GroupNormOptions(opt_.norm_num_groups, opt_.query_dim).eps(opt_.eps)));
  to_q = register_module("to_q", models::Linear(nn::LinearOptions(opt_.query_dim, inner).bias(opt_.bias)));
  to_k = register_module("to_k", models::Linear(nn::LinearOptions(kv_dim, inner).bias(opt_.bias)));
  to_v = register_module("to_v", models::Linear(nn::LinearOptions(kv_dim, inner).bias(opt_.bias)));
  to_out0 = models::Linear(nn::LinearOptions(inner, opt_.query_dim).bias(true));
  to_out_ = register_module("to_out", nn::ModuleList(to_out0));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& context) {
  const bool spatial = hidden.dim() == 4;
  AFA_CHECK(spatial || hidden.dim() == 3, "Attention: input must be [B, N, C] or [B, C, H, W], got ",
            hidden.sizes());
  int64_t b = hidden.size(0), c = 0, h = 0, w = 0;
  torch::Tensor x = hidden;
  if (spatial) {
    c = hidden.size(1), h = hidden.size(2), w = hidden.size(3);
    x = hidden.view({b, c, h * w}).transpose(1, 2);
  }
  AFA_CHECK(x.size(2) == opt_.query_dim, "Attention: input has ", x.size(2), " channels, expected ",
            opt_.query_dim);
  if (group_norm) x = group_norm(x.transpose(1, 2)).transpose(1, 2);
  auto q = to_q(x);
  const torch::Tensor& kv_in = context.defined() ? context : x;
  if (context.defined()) {
    AFA_CHECK(opt_.cross_attention_dim > 0, "Attention: context given to a self-attention layer");
    AFA_CHECK(context.dim() == 3 && context.size(0) == b && context.size(2) == opt_.cross_attention_dim,
              "Attention: context must be [", b, ", M, ", opt_.cross_attention_dim, "], got ", context.sizes());
  } else {
    AFA_CHECK(opt_.cross_attention_dim == 0, "Attention: cross-attention needs a context");
  }
  auto k = to_k(kv_in);
  auto v = to_v(kv_in);
  auto out = to_out0(scaled_attention(q, k, v, opt_.heads, opt_.upcast_attention, opt_.upcast_softmax));
  if (spatial) out = out.transpose(-1, -2).reshape({b, c, h, w});
  if (opt_.residual_connection) out = detail::add_tmp(out, hidden);
  return out;
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) {
  proj = register_module("proj", models::Linear(dim_in, dim_out * 2));
}

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
  auto halves = proj(x).chunk(2, -1);
  return halves[0] * torch::gelu(halves[1]);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult) {
  const int64_t inner = dim * mult;
  geglu = GEGLU(dim, inner);
  out = models::Linear(inner, dim);
  // net.1 is diffusers' Dropout: an Identity keeps the numbering (no parameters either way).
  net_ = register_module("net", nn::ModuleList(geglu, nn::Identity(), out));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return out(geglu(x)); }

}  // namespace afa::models
