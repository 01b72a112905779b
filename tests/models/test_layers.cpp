// The shared layers on their own: attention slicing, the sinusoidal embedding, up/down sampling, autograd
// through the in-place shortcuts the layers take at inference, and Conv2d / Linear / Embedding against
// torch::nn's (initialisation, SkipInitGuard, the F16 load path).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/attention.h"
#include "afa/models/embeddings.h"
#include "afa/models/layers.h"
#include "afa/models/resnet.h"
#include "afa/models/sampling.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/util/error.h"
#include "golden.h"

using namespace afa::models;

namespace {
// A ResNet block with a shortcut and a time embedding: 32 -> 64 channels, 16-wide time embedding.
ResnetBlock2DOptions shortcut_block_options() {
  ResnetBlock2DOptions o;
  o.in_channels = 32;
  o.out_channels = 64;
  o.temb_channels = 16;
  o.groups = 8;
  return o;
}
}  // namespace

TEST(Attention, SlicedEqualsWholeAndReference) {
  torch::NoGradGuard ng;
  torch::manual_seed(0);
  const int64_t heads = 4;
  auto q = torch::randn({3, 50, heads * 8});
  auto k = torch::randn({3, 20, heads * 8});
  auto v = torch::randn({3, 20, heads * 8});
  auto whole = scaled_attention(q, k, v, heads, false, false);
  // one head's scores are 50*20*4 bytes: force slices of 1 and of 5 heads
  EXPECT_TRUE(torch::equal(scaled_attention(q, k, v, heads, false, false, 1), whole));
  EXPECT_TRUE(torch::equal(scaled_attention(q, k, v, heads, false, false, 5 * 50 * 20 * 4), whole));
  // reference in float64: softmax(q kᵀ / sqrt(d)) v per head
  auto split = [&](const torch::Tensor& x) {
    return x.to(torch::kFloat64).view({3, -1, heads, 8}).transpose(1, 2);
  };
  auto ref = torch::softmax(torch::matmul(split(q), split(k).transpose(-1, -2)) / std::sqrt(8.0), -1);
  ref = torch::matmul(ref, split(v)).transpose(1, 2).reshape({3, 50, heads * 8});
  EXPECT_LT((whole.to(torch::kFloat64) - ref).abs().max().item<double>(), 1e-5);
  // float32 upcast flags are no-ops in float32
  EXPECT_TRUE(torch::equal(scaled_attention(q, k, v, heads, true, true), whole));
  // with grad mode on (no scratch reuse, out-of-place softmax) the numbers are the same
  torch::AutoGradMode grad(true);
  EXPECT_TRUE(torch::equal(scaled_attention(q, k, v, heads, false, false), whole));
  EXPECT_TRUE(torch::equal(scaled_attention(q, k, v, heads, false, false, 1), whole));
}

TEST(Attention, SpatialInputWithGroupNormAndResidual) {
  torch::NoGradGuard ng;
  AttentionOptions o;
  o.query_dim = 32;
  o.heads = 1;
  o.dim_head = 32;
  o.bias = true;
  o.residual_connection = true;
  o.norm_num_groups = 8;
  o.eps = 1e-6;
  Attention attn(o);
  auto x = torch::randn({2, 32, 3, 5});
  auto y = attn->forward(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  // by hand: tokens [B, HW, C]
  auto t = attn->group_norm(x.view({2, 32, 15})).transpose(1, 2);
  auto r = attn->to_out0(scaled_attention(attn->to_q(t), attn->to_k(t), attn->to_v(t), 1, false, false));
  EXPECT_TRUE(torch::allclose(y, r.transpose(1, 2).reshape({2, 32, 3, 5}) + x, 1e-6, 1e-6));
  EXPECT_THROW(attn->forward(torch::randn({2, 16, 3, 5})), afa::Error);
  EXPECT_THROW(attn->forward(x, torch::randn({2, 7, 32})), afa::Error);  // self-attention given a context
}

TEST(Embeddings, Sinusoidal) {
  auto t = torch::tensor({1.0f, 10.0f});
  auto e = timestep_embedding(t, 4, /*flip=*/false, /*shift=*/0);
  // freqs exp(-ln(1e4) * k / 2) for k = 0, 1: 1 and 0.01
  auto expect = torch::tensor({{std::sin(1.0), std::sin(0.01), std::cos(1.0), std::cos(0.01)},
                               {std::sin(10.0), std::sin(0.1), std::cos(10.0), std::cos(0.1)}});
  EXPECT_TRUE(torch::allclose(e.to(torch::kFloat64), expect.to(torch::kFloat64), 1e-6, 1e-6));
  auto f = timestep_embedding(t, 4, /*flip=*/true, 0);
  EXPECT_TRUE(torch::equal(f, torch::cat({e.slice(1, 2, 4), e.slice(1, 0, 2)}, 1)));
  // downscale_freq_shift 1: exponent / (half - 1)
  auto s = timestep_embedding(torch::tensor({1.0f}), 4, false, 1);
  EXPECT_NEAR(s[0][1].item<double>(), std::sin(1e-4), 1e-7);
  auto odd = timestep_embedding(t, 5, true, 0);
  EXPECT_EQ(odd.size(1), 5);
  EXPECT_EQ(odd.select(1, 4).abs().sum().item<double>(), 0.0);
  EXPECT_THROW(timestep_embedding(torch::ones({2, 2}), 4, true, 0), afa::Error);
}

TEST(Sampling, UpsampleAndDownsampleShapes) {
  torch::NoGradGuard ng;
  Upsample2D up(8, 8);
  auto x = torch::randn({1, 8, 3, 5});
  EXPECT_EQ(up->forward(x).sizes(), (std::vector<int64_t>{1, 8, 6, 10}));
  // an explicit size of exactly x2 is the same computation
  EXPECT_TRUE(torch::equal(up->forward(x, {6, 10}), up->forward(x)));
  EXPECT_EQ(up->forward(x, {5, 9}).sizes(), (std::vector<int64_t>{1, 8, 5, 9}));
  EXPECT_THROW(up->forward(torch::randn({1, 4, 3, 5})), afa::Error);

  Downsample2D sym(8, 8, 1), asym(8, 8, 0);
  EXPECT_EQ(sym->forward(torch::randn({1, 8, 7, 8})).sizes(), (std::vector<int64_t>{1, 8, 4, 4}));
  EXPECT_EQ(asym->forward(torch::randn({1, 8, 7, 8})).sizes(), (std::vector<int64_t>{1, 8, 3, 4}));
  // padding 0 = pad (0,1,0,1) with zeros, then a padding-free conv
  auto y = torch::randn({1, 8, 6, 6});
  auto ref = torch::conv2d(torch::constant_pad_nd(y, {0, 1, 0, 1}), asym->conv->weight, asym->conv->bias, 2);
  EXPECT_TRUE(torch::equal(asym->forward(y), ref));
}

TEST(Resnet, ShortcutAndTimeEmbedding) {
  torch::NoGradGuard ng;
  ResnetBlock2DOptions o = shortcut_block_options();
  ResnetBlock2D r(o);
  EXPECT_TRUE(!r->conv_shortcut.is_empty());
  EXPECT_EQ(r->forward(torch::randn({2, 32, 4, 4}), torch::randn({2, 16})).sizes(), (std::vector<int64_t>{2, 64, 4, 4}));
  EXPECT_THROW(r->forward(torch::randn({2, 32, 4, 4})), afa::Error);
  o.out_channels = 32;
  o.temb_channels = 0;
  ResnetBlock2D same(o);
  EXPECT_TRUE(same->conv_shortcut.is_empty());
  EXPECT_TRUE(same->time_emb_proj.is_empty());
  o.groups = 5;
  EXPECT_THROW(ResnetBlock2D{o}, afa::Error);
}

// Training runs the frozen U-Nets with grad mode on (gradients flow through the stages to earlier
// aggregators): the in-place shortcuts must switch off and the gradients must match a no-grad run's values.
TEST(Autograd, ThroughUNetStages) {
  const std::string dir = afa::test::golden("pipelines/A/unet");
  UNet2DConditionModel unet(UNet2DConditionConfig::from_file(dir + "/config.json"));
  const std::string w = dir + "/diffusion_pytorch_model.safetensors";
  afa::io::load_state_dict(*unet, afa::io::load_safetensors(w), w);
  for (auto& p : unet->parameters()) p.set_requires_grad(false);
  torch::manual_seed(1);
  auto sample = torch::randn({1, 4, 8, 8});
  auto ctx = torch::randn({1, 7, 32});
  torch::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = unet->forward(sample, torch::tensor(300), ctx);
  }
  auto x = sample.clone().set_requires_grad(true);
  auto s = unet->begin(torch::tensor(300), ctx, 1);
  torch::Tensor h = x;
  for (int64_t k = 0; k < unet->num_stages(); ++k) h = unet->stage(k, h, s);
  // Not bitwise: with grad mode some CPU kernels (convolution backends) take another path.
  EXPECT_TRUE(afa::test::AllClose(h.detach(), ref, 1e-5));
  std::printf("  [diff] grad-mode vs no-grad forward %g\n", afa::test::max_abs_diff(h.detach(), ref));
  h.pow(2).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

// afa's Conv2d / Linear / Embedding are torch::nn's: the same random initialisation from the same seed
// (a model built by `afa init --seed S` keeps its weights), the same outputs.
TEST(Layers, InitialiseAndComputeLikeTorchNn) {
  torch::NoGradGuard ng;
  auto same_weights = [](auto&& build_ours, auto&& build_torch) {
    torch::manual_seed(7);
    auto ours = build_ours();
    torch::manual_seed(7);
    auto theirs = build_torch();
    auto a = ours->named_parameters(), b = theirs->named_parameters();
    EXPECT_EQ(a.keys(), b.keys());
    for (const auto& kv : a) EXPECT_TRUE(torch::equal(kv.value(), b[kv.key()])) << kv.key();
    return std::make_pair(ours, theirs);
  };
  auto [c, tc] = same_weights([] { return Conv2d(torch::nn::Conv2dOptions(6, 10, 3).stride(2).padding(1)); },
                              [] { return torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 10, 3).stride(2).padding(1)); });
  auto x = torch::randn({2, 6, 9, 7});
  EXPECT_TRUE(torch::equal(c->forward(x), tc->forward(x)));
  auto [g, tg] = same_weights([] { return Conv2d(torch::nn::Conv2dOptions(6, 4, 1).groups(2).bias(false)); },
                              [] { return torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 4, 1).groups(2).bias(false)); });
  EXPECT_TRUE(torch::equal(g->forward(x), tg->forward(x)));
  EXPECT_EQ(g->named_parameters().size(), 1u);  // no bias parameter, as torch's
  auto [l, tl] = same_weights([] { return Linear(5, 3); }, [] { return torch::nn::Linear(5, 3); });
  auto y = torch::randn({4, 5});
  EXPECT_TRUE(torch::equal(l->forward(y), tl->forward(y)));
  auto [e, te] = same_weights([] { return Embedding(torch::nn::EmbeddingOptions(11, 4).padding_idx(-1)); },
                              [] { return torch::nn::Embedding(torch::nn::EmbeddingOptions(11, 4).padding_idx(-1)); });
  EXPECT_EQ(e->weight[10].abs().sum().item<double>(), 0.0);
  auto ids = torch::tensor({0, 3, 10}, torch::kLong);
  EXPECT_TRUE(torch::equal(e->forward(ids), te->forward(ids)));
  EXPECT_THROW(Conv2d(torch::nn::Conv2dOptions(6, 4, 3).padding(torch::kSame)), afa::Error);
}

// Under a SkipInitGuard nothing is drawn (the random stream is where it was) and the shapes and names are
// the same; the guard nests and restores the previous state.
TEST(Layers, SkipInitGuardDrawsNothing) {
  torch::manual_seed(3);
  const auto expected = torch::rand({4});
  torch::manual_seed(3);
  {
    SkipInitGuard skip;
    {
      SkipInitGuard inner;
    }
    EXPECT_TRUE(SkipInitGuard::active());
    ResnetBlock2D r(shortcut_block_options());
    Embedding big(50000, 64);  // large enough for the huge-page allocation path
    Linear l(5, 3);
    EXPECT_EQ(r->conv1->weight.sizes(), (std::vector<int64_t>{64, 32, 3, 3}));
    EXPECT_EQ(big->weight.sizes(), (std::vector<int64_t>{50000, 64}));
    torch::NoGradGuard ng;
    big->weight.fill_(1.5);  // writable memory of the full size
    EXPECT_EQ(big->weight.sum().item<double>(), 1.5 * 50000 * 64);
  }
  EXPECT_FALSE(SkipInitGuard::active());
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
  torch::manual_seed(3);
  Linear drawn(5, 3);  // and without the guard, the draws are back
  EXPECT_FALSE(torch::equal(torch::rand({4}), expected));
}

// Loading an F16 tensor into a float32 parameter (the F16C path) is copy_'s exact conversion, for every
// half value (normals, subnormals, zeros, infinities) and for lengths that are not a multiple of 8.
TEST(Layers, HalfWeightsLoadExactly) {
  torch::NoGradGuard ng;
  auto all = torch::arange(0, 65536, torch::kInt32).to(torch::kInt16);  // every bit pattern
  auto halves = all.view(torch::kFloat16).contiguous();
  auto finite = halves.masked_select(~torch::isnan(halves.to(torch::kFloat32)));
  for (int64_t n : {finite.numel(), int64_t(13)}) {
    auto src = finite.narrow(0, 0, n).contiguous();
    Linear l(torch::nn::LinearOptions(n, 1).bias(false));
    afa::io::load_state_dict(*l, {{"weight", src.view({1, n})}}, "test");
    EXPECT_TRUE(torch::equal(l->weight.view({n}), src.to(torch::kFloat32))) << n;
  }
}
