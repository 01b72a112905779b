// Activation checkpointing and autocast: a checkpointed computation gives the gradients of the plain one
// (inputs and parameters), for a small function and for a whole U-Net; autocast guards restore state.
#include <gtest/gtest.h>

#include "afa/models/autocast.h"
#include "afa/models/checkpoint.h"
#include "afa/models/norms.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "golden.h"

namespace afa::test {
namespace {

using models::checkpoint;

struct Net : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr};
  Net() {
    a = register_module("a", torch::nn::Linear(6, 8));
    b = register_module("b", torch::nn::Linear(8, 3));
  }
  torch::Tensor f(const torch::Tensor& x, const torch::Tensor& y) { return b(torch::tanh(a(x)) * y).sin(); }
};

TEST(Checkpoint, GivesThePlainGradientsOfInputsAndParameters) {
  torch::manual_seed(0);
  Net net;
  auto x = torch::randn({5, 6}, torch::requires_grad());
  auto y = torch::randn({5, 8});  // needs no gradient
  auto w = torch::randn({5, 3});

  (net.f(x, y) * w).sum().backward();
  auto gx = x.grad().clone(), ga = net.a->weight.grad().clone(), gb = net.b->bias.grad().clone();
  x.mutable_grad() = torch::Tensor();
  net.zero_grad();

  auto out = checkpoint([&](const std::vector<torch::Tensor>& in) { return net.f(in[0], in[1]); }, {x, y}, true);
  EXPECT_TRUE(out.requires_grad());
  EXPECT_TRUE(torch::equal(out, net.f(x, y).detach()));
  (out * w).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), gx));
  EXPECT_TRUE(torch::equal(net.a->weight.grad(), ga));
  EXPECT_TRUE(torch::equal(net.b->bias.grad(), gb));
}

TEST(Checkpoint, ReachesParametersWhenNoInputNeedsAGradient) {
  torch::manual_seed(1);
  Net net;
  auto x = torch::randn({4, 6}), y = torch::ones({4, 8});
  net.f(x, y).sum().backward();
  auto ga = net.a->weight.grad().clone();
  net.zero_grad();
  auto fn = [&](const std::vector<torch::Tensor>& in) { return net.f(in[0], in[1]); };
  checkpoint(fn, {x, y}, true).sum().backward();
  EXPECT_TRUE(torch::equal(net.a->weight.grad(), ga));
  // Nothing to differentiate: no graph at all.
  for (auto& p : net.parameters()) p.set_requires_grad(false);
  EXPECT_FALSE(checkpoint(fn, {x, y}, false).requires_grad());
}

TEST(Checkpoint, UNetStagesGiveThePlainGradients) {
  models::UNet2DConditionModel unet(models::UNet2DConditionConfig::from_file(golden("pipelines/A/unet/config.json")));
  const std::string weights = golden("pipelines/A/unet/diffusion_pytorch_model.safetensors");
  io::load_state_dict(*unet, io::load_safetensors(weights), weights);
  for (auto& p : unet->parameters()) p.set_requires_grad(p.is_same(unet->conv_in->weight));
  unet->eval();
  torch::manual_seed(2);
  auto x0 = torch::randn({2, 4, 16, 16});
  auto ctx = torch::randn({2, 77, unet->config().cross_attention_dim});
  auto t = torch::tensor({10, 700});
  auto w = torch::randn({2, 4, 16, 16});
  // Gradients of the input (as AFA training sends them through frozen U-Nets) and of a few parameters.
  auto run = [&](bool ckpt) {
    unet->gradient_checkpointing = ckpt;
    unet->zero_grad();
    auto x = x0.clone().requires_grad_(true);
    (unet->forward(x, t, ctx) * w).sum().backward();
    return std::make_pair(x.grad(), unet->conv_in->weight.grad().clone());
  };
  auto [gx, gw] = run(false);
  auto [cx, cw] = run(true);
  unet->gradient_checkpointing = false;
  // The recomputation runs with grad mode off, where convolutions may take other kernels (the forward
  // differs by up to 1e-5, tests/models/test_layers.cpp): the gradients agree to that, relative.
  EXPECT_TRUE(AllClose(cx, gx, 1e-5 * gx.abs().max().item<double>())) << max_abs_diff(cx, gx);
  EXPECT_TRUE(AllClose(cw, gw, 1e-5 * gw.abs().max().item<double>())) << max_abs_diff(cw, gw);
  // Inference is untouched by the flag.
  torch::NoGradGuard ng;
  unet->gradient_checkpointing = true;
  auto a = unet->forward(x0, t, ctx);
  unet->gradient_checkpointing = false;
  EXPECT_TRUE(torch::equal(a, unet->forward(x0, t, ctx)));
}

TEST(Autocast, GuardSetsAndRestoresTheThreadsState) {
  auto before = models::AutocastState::current();
  EXPECT_FALSE(before.cpu);
  auto a = torch::randn({4, 4}), b = torch::randn({4, 4});
  {
    models::AutocastGuard g(torch::kCPU, torch::kBFloat16);
    EXPECT_TRUE(models::AutocastState::current().cpu);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      models::AutocastGuard off(torch::kCPU, torch::kFloat32);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
    }
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(models::AutocastState::current().cpu);
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

TEST(Autocast, CheckpointRecomputesUnderTheForwardsAutocast) {
  // The recomputation runs in backward, outside the guard: it must see bfloat16 again, or the
  // gradients would belong to another forward than the one that produced the output.
  torch::manual_seed(4);
  Net net;
  auto x = torch::randn({5, 6}, torch::requires_grad());
  auto y = torch::randn({5, 8});
  torch::Tensor plain, ckpt;
  {
    models::AutocastGuard g(torch::kCPU, torch::kBFloat16);
    plain = net.f(x, y);
  }
  plain.sum().backward();
  auto gx = x.grad().clone();
  x.mutable_grad() = torch::Tensor();
  {
    models::AutocastGuard g(torch::kCPU, torch::kBFloat16);
    ckpt = checkpoint([&](const std::vector<torch::Tensor>& in) { return net.f(in[0], in[1]); }, {x, y}, true);
  }
  EXPECT_EQ(ckpt.scalar_type(), torch::kBFloat16);
  ckpt.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), gx));
}

TEST(MixedPrecisionNorms, NormaliseOtherDtypesInFloat32) {
  torch::manual_seed(5);
  models::GroupNorm gn(torch::nn::GroupNormOptions(4, 8));
  models::LayerNorm ln(torch::nn::LayerNormOptions({8}));
  torch::nn::GroupNorm plain_gn(torch::nn::GroupNormOptions(4, 8));
  torch::nn::LayerNorm plain_ln(torch::nn::LayerNormOptions({8}));
  {
    torch::NoGradGuard ng;
    for (auto* p : {&gn->weight, &gn->bias, &plain_gn->weight, &plain_gn->bias}) p->uniform_(0.5, 1.5);
    for (auto* p : {&ln->weight, &ln->bias, &plain_ln->weight, &plain_ln->bias}) p->uniform_(0.5, 1.5);
    plain_gn->weight.copy_(gn->weight);
    plain_gn->bias.copy_(gn->bias);
    plain_ln->weight.copy_(ln->weight);
    plain_ln->bias.copy_(ln->bias);
  }
  auto x = torch::randn({2, 8, 3, 5});
  auto xl = torch::randn({2, 7, 8});
  EXPECT_TRUE(torch::equal(gn(x), plain_gn(x)));  // same dtype: torch's own path
  EXPECT_TRUE(torch::equal(ln(xl), plain_ln(xl)));
  auto xb = x.to(torch::kBFloat16), xlb = xl.to(torch::kBFloat16);
  auto g = gn(xb), l = ln(xlb);
  EXPECT_EQ(g.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(g, plain_gn(xb.to(torch::kFloat32))));
  EXPECT_TRUE(torch::equal(l, plain_ln(xlb.to(torch::kFloat32))));
  gn->to(torch::kBFloat16);  // half weights, float32 input
  EXPECT_TRUE(torch::equal(gn(x), torch::group_norm(x, 4, gn->weight.to(torch::kFloat32), gn->bias.to(torch::kFloat32))));
}

}  // namespace
}  // namespace afa::test
