#include "afa/analysis/region_wins.h"

#include "afa/pipeline/text_to_image.h"
#include "afa/util/error.h"

namespace afa::analysis {

torch::Tensor winners(const torch::Tensor& errors) {
  const int64_t c = errors.size(-1);
  auto min = std::get<0>(errors.min(-1, /*keepdim=*/true));
  auto at_min = errors.eq(min);
  auto count = at_min.sum(-1);
  auto first = at_min.to(torch::kInt64).argmax(-1);
  return torch::where(count.gt(1), torch::full_like(first, c), first);
}

RegionWins region_wins(const std::vector<Contender>& contenders, const schedulers::DDPMScheduler& ddpm,
                       const torch::Tensor& x0, const RegionWinsOptions& o,
                       const std::function<void(int64_t, int64_t)>& on_timestep) {
  AFA_CHECK(!contenders.empty(), "analyze: no contenders");
  AFA_CHECK(x0.dim() == 4 && x0.size(0) == 1, "analyze: latents must be [1, C, h, w], got ", x0.sizes());
  AFA_CHECK(o.samples >= 1, "--samples must be at least 1 (got ", o.samples, ")");
  AFA_CHECK(!o.timesteps.empty(), "--timesteps needs at least one value");
  for (int64_t t : o.timesteps) AFA_CHECK(t >= 0 && t < 1000, "--timesteps values must be in 0..999 (got ", t, ")");
  const int64_t h = x0.size(2), w = x0.size(3);
  AFA_CHECK(o.patch >= 1 && h % o.patch == 0 && w % o.patch == 0, "--patch ", o.patch,
            " must divide the latent size ", h, "x", w, " (the image size / 8)");
  torch::NoGradGuard no_grad;
  const int64_t T = static_cast<int64_t>(o.timesteps.size()), K = o.samples, C = static_cast<int64_t>(contenders.size());
  RegionWins r;
  for (const auto& c : contenders) r.contenders.push_back(c.name);
  r.timesteps = o.timesteps;
  r.patch = o.patch, r.rows = h / o.patch, r.cols = w / o.patch, r.samples = K;
  r.wins = torch::zeros({T, r.rows, r.cols, C + 1}, torch::kFloat64);
  r.image_wins = torch::zeros({T, C + 1}, torch::kFloat64);
  r.errors = torch::zeros({T, K, C}, torch::kFloat64);

  at::Generator gen = pipeline::make_cpu_generator(o.seed);
  auto noises = torch::randn({T, K, x0.size(1), h, w}, gen, torch::TensorOptions().dtype(torch::kFloat32));
  for (int64_t ti = 0; ti < T; ++ti) {
    auto eps = noises[ti];
    auto t = torch::full({K}, o.timesteps[ti], torch::kInt64);
    auto xt = ddpm.add_noise(x0.expand({K, -1, -1, -1}).to(torch::kFloat32), eps, t);
    std::vector<torch::Tensor> patch_err, image_err;
    for (const auto& c : contenders) {
      std::vector<torch::Tensor> ctx;
      for (const auto& x : c.contexts) ctx.push_back(x.expand({K, -1, -1}));
      auto pred = c.denoiser->predict(xt, torch::tensor(o.timesteps[ti], torch::kInt64), ctx).to(torch::kCPU, torch::kFloat64);
      auto sq = (pred - eps.to(torch::kFloat64)).pow(2).sum(1);  // [K, h, w], summed over channels
      patch_err.push_back(torch::avg_pool2d(sq.unsqueeze(1), o.patch).squeeze(1));  // [K, rows, cols]
      image_err.push_back(sq.mean({1, 2}) / double(x0.size(1)));  // [K] mean over channels and pixels
    }
    auto pw = winners(torch::stack(patch_err, -1));  // [K, rows, cols]
    auto iw = winners(torch::stack(image_err, -1));  // [K]
    r.wins[ti] = torch::one_hot(pw, C + 1).to(torch::kFloat64).mean(0);
    r.image_wins[ti] = torch::one_hot(iw, C + 1).to(torch::kFloat64).mean(0);
    r.errors[ti] = torch::stack(image_err, -1);
    if (on_timestep) on_timestep(ti + 1, T);
  }
  return r;
}

}  // namespace afa::analysis
