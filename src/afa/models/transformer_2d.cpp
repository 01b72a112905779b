#include "afa/models/transformer_2d.h"

#include "afa/models/inplace.h"
#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head,
                                                     int64_t cross_attention_dim, bool upcast_attention) {
  // diffusers defaults: LayerNorm eps 1e-5 with affine, attention without q/k/v bias.
  auto ln = [&] { return LayerNorm(nn::LayerNormOptions({dim}).eps(1e-5).elementwise_affine(true)); };
  AttentionOptions self_opt;
  self_opt.query_dim = dim;
  self_opt.heads = heads;
  self_opt.dim_head = dim_head;
  self_opt.upcast_attention = upcast_attention;
  AttentionOptions cross_opt = self_opt;
  cross_opt.cross_attention_dim = cross_attention_dim;
  norm1 = register_module("norm1", ln());
  attn1 = register_module("attn1", Attention(self_opt));
  norm2 = register_module("norm2", ln());
  attn2 = register_module("attn2", Attention(cross_opt));
  norm3 = register_module("norm3", ln());
  ff = register_module("ff", FeedForward(dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  using detail::add_tmp;
  torch::Tensor h;
  {
    RECORD_USER_SCOPE("attn1");
    h = add_tmp(attn1(norm1(x)), x);
  }
  {
    RECORD_USER_SCOPE("attn2");
    h = add_tmp(attn2(norm2(h), context), h);
  }
  RECORD_USER_SCOPE("ff");
  return add_tmp(ff(norm3(h)), h);
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DModelOptions& o) : opt_(o) {
  const int64_t inner = o.num_attention_heads * o.attention_head_dim;
  AFA_CHECK(o.in_channels > 0 && o.in_channels % o.norm_num_groups == 0, "Transformer2DModel: ",
            o.in_channels, " channels are not a multiple of ", o.norm_num_groups, " norm groups");
  // diffusers hard-codes eps 1e-6 for this GroupNorm.
  norm = register_module("norm", GroupNorm(nn::GroupNormOptions(o.norm_num_groups, o.in_channels).eps(1e-6)));
  if (o.use_linear_projection) {
    proj_in = nn::AnyModule(register_module("proj_in", models::Linear(o.in_channels, inner)));
  } else {
    proj_in = nn::AnyModule(register_module("proj_in", models::Conv2d(nn::Conv2dOptions(o.in_channels, inner, 1))));
  }
  auto list = register_module("transformer_blocks", nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    blocks.push_back(BasicTransformerBlock(inner, o.num_attention_heads, o.attention_head_dim,
                                           o.cross_attention_dim, o.upcast_attention));
    list->push_back(blocks.back());
  }
  if (o.use_linear_projection) {
    proj_out = nn::AnyModule(register_module("proj_out", models::Linear(inner, o.in_channels)));
  } else {
    proj_out = nn::AnyModule(register_module("proj_out", models::Conv2d(nn::Conv2dOptions(inner, o.in_channels, 1))));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& hidden, const torch::Tensor& context) {
  AFA_CHECK(hidden.dim() == 4 && hidden.size(1) == opt_.in_channels, "Transformer2DModel: input must be [B, ",
            opt_.in_channels, ", H, W], got ", hidden.sizes());
  const int64_t b = hidden.size(0), h = hidden.size(2), w = hidden.size(3);
  auto x = norm(hidden);
  int64_t inner = 0;
  // [B, C, H, W] -> tokens [B, H*W, C]; the 1x1 conv runs before, the Linear after (diffusers' order).
  if (!opt_.use_linear_projection) {
    x = proj_in.forward(x);
    inner = x.size(1);
    x = x.permute({0, 2, 3, 1}).reshape({b, h * w, inner});
  } else {
    inner = x.size(1);
    x = proj_in.forward(x.permute({0, 2, 3, 1}).reshape({b, h * w, inner}));
    inner = x.size(2);
  }
  for (auto& block : blocks) x = block->forward(x, context);
  if (!opt_.use_linear_projection) {
    x = x.reshape({b, h, w, inner}).permute({0, 3, 1, 2}).contiguous();
    x = proj_out.forward(x);
  } else {
    x = proj_out.forward(x);
    x = x.reshape({b, h, w, x.size(2)}).permute({0, 3, 1, 2}).contiguous();
  }
  return detail::add_tmp(x, hidden);
}

}  // namespace afa::models
