#include "afa/models/unet_2d_condition.h"

#include "afa/models/checkpoint.h"

#include <algorithm>

#include "afa/models/inplace.h"
#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& config) : config_(config) {
  config_.validate();
  const auto& c = config_;
  const int64_t n = c.num_blocks();
  const auto& ch = c.block_out_channels;
  const int64_t temb_dim = c.time_embed_dim();

  conv_in = register_module("conv_in", models::Conv2d(nn::Conv2dOptions(c.in_channels, ch[0], 3).padding(1)));
  time_proj = register_module("time_proj", Timesteps(ch[0], c.flip_sin_to_cos, c.freq_shift));
  time_embedding = register_module("time_embedding", TimestepEmbedding(ch[0], temb_dim));

  auto block_opts = [&](int64_t level, bool attn, int64_t num_layers) {
    UNetBlockOptions o;
    o.temb_channels = temb_dim;
    o.num_layers = num_layers;
    o.has_cross_attention = attn;
    o.transformer_layers = c.transformer_layers_per_block[level];
    o.num_attention_heads = c.num_attention_heads[level];
    o.cross_attention_dim = c.cross_attention_dim;
    o.resnet_groups = c.norm_num_groups;
    o.resnet_eps = c.norm_eps;
    o.use_linear_projection = c.use_linear_projection;
    o.upcast_attention = c.upcast_attention;
    return o;
  };

  // Stage 0.
  plan_.push_back({StageKind::ConvIn});
  info_.push_back({"conv_in", ch[0], 1, true});

  auto dlist = register_module("down_blocks", nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    const bool last = i == n - 1;
    const int64_t in = i == 0 ? ch[0] : ch[i - 1];
    down_blocks.push_back(DownBlock2D(in, ch[i], !last, c.downsample_padding,
                                      block_opts(i, c.down_has_attention(i), c.layers_per_block[i])));
    dlist->push_back(down_blocks.back());
    const std::string prefix = "down_blocks." + std::to_string(i);
    for (int64_t j = 0; j < c.layers_per_block[i]; ++j) {
      plan_.push_back({StageKind::DownLayer, i, j});
      info_.push_back({prefix + ".layers." + std::to_string(j), ch[i], int64_t(1) << i, true});
    }
    if (!last) {
      plan_.push_back({StageKind::Downsample, i, 0});
      info_.push_back({prefix + ".downsamplers.0", ch[i], int64_t(1) << (i + 1), true});
    }
  }

  UNetBlockOptions mid = block_opts(n - 1, true, 1);
  mid.output_scale_factor = c.mid_block_scale_factor;
  mid_block = register_module("mid_block", UNetMidBlock2DCrossAttn(ch[n - 1], mid));
  plan_.push_back({StageKind::Mid});
  info_.push_back({"mid_block", ch[n - 1], int64_t(1) << (n - 1), false});

  // Up block i mirrors level n-1-i (diffusers reverses block_out_channels and the per-block lists).
  auto ulist = register_module("up_blocks", nn::ModuleList());
  int64_t output_channel = ch[n - 1];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t level = n - 1 - i;
    const bool last = i == n - 1;
    const int64_t prev_output_channel = output_channel;
    output_channel = ch[level];
    const int64_t input_channel = ch[std::max<int64_t>(level - 1, 0)];
    const int64_t layers = c.layers_per_block[level] + 1;
    up_blocks.push_back(UpBlock2D(input_channel, prev_output_channel, output_channel, !last,
                                  block_opts(level, c.up_has_attention(i), layers)));
    ulist->push_back(up_blocks.back());
    const std::string prefix = "up_blocks." + std::to_string(i);
    for (int64_t j = 0; j < layers; ++j) {
      const bool block_end = j == layers - 1;
      StagePlan p{StageKind::UpLayer, i, j, block_end && !last, block_end && last};
      plan_.push_back(p);
      int64_t scale = int64_t(1) << level;
      if (p.upsample_after) scale /= 2;
      std::string name = prefix + ".layers." + std::to_string(j);
      if (p.upsample_after) name += "+upsamplers.0";
      if (p.output_head) name += "+conv_out";
      info_.push_back({name, p.output_head ? c.out_channels : output_channel, scale, false});
    }
  }

  conv_norm_out = register_module(
      "conv_norm_out", GroupNorm(nn::GroupNormOptions(c.norm_num_groups, ch[0]).eps(c.norm_eps)));
  conv_out = register_module("conv_out", models::Conv2d(nn::Conv2dOptions(ch[0], c.out_channels, 3).padding(1)));
}

const StageInfo& UNet2DConditionModelImpl::stage_info(int64_t k) const {
  AFA_CHECK(k >= 0 && k < num_stages(), "U-Net stage ", k, " out of range (", num_stages(), " stages)");
  return info_[k];
}

torch::Tensor UNet2DConditionModelImpl::time_embedding_for(const torch::Tensor& timestep, int64_t batch) {
  AFA_CHECK(timestep.defined(), "U-Net: timestep is undefined");
  AFA_CHECK(batch >= 1, "U-Net: batch size must be >= 1, got ", batch);
  AFA_CHECK(timestep.is_floating_point() ||
                (c10::isIntegralType(timestep.scalar_type(), /*includeBool=*/false)),
            "U-Net: timestep must be an integer or floating tensor, got ", timestep.scalar_type());
  auto t = timestep.to(device());
  if (t.dim() == 0) t = t.reshape({1});
  AFA_CHECK(t.dim() == 1 && (t.size(0) == 1 || t.size(0) == batch), "U-Net: timestep must be 0-d, [1] or [",
            batch, "], got shape ", timestep.sizes());
  t = t.expand({batch});
  // diffusers: t_emb = time_proj(t) (float32), cast to the model's dtype, then time_embedding.
  return time_embedding(time_proj(t).to(dtype()));
}

UNetState UNet2DConditionModelImpl::begin(const torch::Tensor& timestep, const torch::Tensor& context,
                                          int64_t batch) {
  AFA_CHECK(context.defined() && context.dim() == 3, "U-Net: encoder_hidden_states must be [B, tokens, ",
            config_.cross_attention_dim, "], got ", context.defined() ? context.sizes() : at::IntArrayRef{});
  AFA_CHECK(context.size(0) == batch, "U-Net: encoder_hidden_states has batch ", context.size(0),
            " but the sample has ", batch);
  AFA_CHECK(context.size(2) == config_.cross_attention_dim, "U-Net: encoder_hidden_states width ",
            context.size(2), " != cross_attention_dim ", config_.cross_attention_dim);
  UNetState s;
  s.temb = time_embedding_for(timestep, batch);
  s.context = context.to(device(), dtype());
  s.skips.reserve(plan_.size());
  return s;
}

torch::Tensor UNet2DConditionModelImpl::output_head(const torch::Tensor& h) {
  return conv_out(detail::silu_tmp(conv_norm_out(h)));
}

torch::Tensor UNet2DConditionModelImpl::stage(int64_t k, const torch::Tensor& hidden, UNetState& s) {
  AFA_CHECK(k >= 0 && k < num_stages(), "U-Net stage ", k, " out of range (", num_stages(), " stages)");
  AFA_CHECK(s.temb.defined() && s.context.defined(), "U-Net stage ", k, ": state not initialised (call begin)");
  AFA_CHECK(hidden.defined() && hidden.dim() == 4, "U-Net stage ", k, " (", info_[k].name,
            "): input must be [B, C, H, W], got ", hidden.defined() ? hidden.sizes() : at::IntArrayRef{});
  AFA_CHECK(hidden.size(0) == s.temb.size(0), "U-Net stage ", k, ": input batch ", hidden.size(0),
            " != the state's batch ", s.temb.size(0));
  // Each stage takes the previous stage's output (stage 0: the sample).
  const int64_t in_channels = k == 0 ? config_.in_channels : info_[k - 1].out_channels;
  AFA_CHECK(hidden.size(1) == in_channels, "U-Net stage ", k, " (", info_[k].name, "): input has ",
            hidden.size(1), " channels, expected ", in_channels, k == 0 ? " (the sample)" : "");
  const StagePlan& p = plan_[k];
  // Skips are taken here, outside the stage's computation, so that a checkpointed stage is a pure
  // function of its inputs.
  torch::Tensor skip;
  std::vector<int64_t> up_size;
  if (p.kind == StageKind::ConvIn) {
    AFA_CHECK(hidden.size(2) >= 1 && hidden.size(3) >= 1, "U-Net: empty sample ", hidden.sizes());
    AFA_CHECK(s.skips.empty(), "U-Net stage 0: the state already holds skips (reuse of a state?)");
  } else if (p.kind == StageKind::UpLayer) {
    AFA_CHECK(!s.skips.empty(), "U-Net stage ", k, " (", info_[k].name,
              "): no skip connection left (stages must run in order from 0)");
    skip = std::move(s.skips.back());
    s.skips.pop_back();
    if (p.upsample_after) {
      AFA_CHECK(!s.skips.empty(), "U-Net stage ", k, ": no skip connection left for the upsample size");
      up_size = {s.skips.back().size(2), s.skips.back().size(3)};
    }
  }
  std::vector<torch::Tensor> inputs{hidden, s.temb, s.context};
  if (skip.defined()) inputs.push_back(std::move(skip));
  auto run = [this, k, up_size](const std::vector<torch::Tensor>& in) {
    return run_stage(k, in[0], in[1], in[2], in.size() > 3 ? in[3] : torch::Tensor(), up_size);
  };
  torch::Tensor h;
  if (gradient_checkpointing && torch::GradMode::is_enabled()) {
    // Trainable parameters matter only where no input carries a gradient (stage 0 of a frozen-input run):
    // look for them only then, not at every stage.
    bool inputs_need_grad = false;
    for (const auto& t : inputs) inputs_need_grad = inputs_need_grad || t.requires_grad();
    bool trainable = false;
    if (!inputs_need_grad)
      for (const auto& param : parameters()) trainable = trainable || param.requires_grad();
    h = checkpoint(run, inputs, trainable);
  } else {
    h = run(inputs);
  }
  inputs.clear();
  if (info_[k].pushes_skip) s.skips.push_back(h);
  return h;
}

torch::Tensor UNet2DConditionModelImpl::run_stage(int64_t k, const torch::Tensor& hidden, const torch::Tensor& temb,
                                                  const torch::Tensor& context, const torch::Tensor& skip,
                                                  const std::vector<int64_t>& up_size) {
  const StagePlan& p = plan_[k];
  switch (p.kind) {
    case StageKind::ConvIn: {
      auto x = hidden.to(dtype());
      if (config_.center_input_sample) x = 2 * x - 1.0;
      return conv_in(x);
    }
    case StageKind::DownLayer:
      return down_blocks[p.block]->layer(p.layer, hidden, temb, context);
    case StageKind::Downsample:
      return down_blocks[p.block]->downsample(hidden);
    case StageKind::Mid:
      return mid_block->forward(hidden, temb, context);
    case StageKind::UpLayer: {
      auto h = up_blocks[p.block]->layer(p.layer, hidden, skip, temb, context);
      if (p.upsample_after) {
        // diffusers' forward_upsample_size: upsample to the next skip's size, which is exactly x2 when the
        // sample size is divisible by 2^(number of upsamplers) and keeps odd sizes working otherwise.
        if (up_size[0] == 2 * h.size(2) && up_size[1] == 2 * h.size(3))
          h = up_blocks[p.block]->upsample(h);
        else
          h = up_blocks[p.block]->upsample(h, up_size);
      }
      if (p.output_head) h = output_head(h);
      return h;
    }
  }
  fail("U-Net stage ", k, ": unknown kind");
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& context) {
  AFA_CHECK(sample.defined() && sample.dim() == 4, "U-Net: sample must be [B, C, H, W], got ",
            sample.defined() ? sample.sizes() : at::IntArrayRef{});
  UNetState s = begin(timestep, context, sample.size(0));
  torch::Tensor h = sample;
  for (int64_t k = 0; k < num_stages(); ++k) h = stage(k, h, s);
  return h;
}

}  // namespace afa::models
