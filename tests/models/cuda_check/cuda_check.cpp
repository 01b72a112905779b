// Device check for the models: CMake builds it as `cuda_check` against a CUDA libtorch; run.sh builds it by
// hand against the libtorch of a bare machine's PyTorch. Compares the U-Net and VAE with the goldens on CPU and CUDA in float32, and checks
// that float16 / bfloat16 on CUDA run and stay close. Prints one line per check; exits 1 on a failure.
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdio>
#include <map>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"

using namespace afa::models;

static int failures = 0;

static void report(const std::string& what, const torch::Tensor& got, const torch::Tensor& want, double tol) {
  auto g = got.to(torch::kCPU, torch::kFloat64), w = want.to(torch::kFloat64);
  const bool finite = torch::isfinite(g).all().item<bool>();
  const double d = (g - w).abs().max().item<double>();
  const bool ok = finite && d <= tol;
  if (!ok) ++failures;
  std::printf("%-4s %-48s max|diff| %.3g (tol %.0e, max|ref| %.3g)%s\n", ok ? "ok" : "FAIL", what.c_str(), d, tol,
              w.abs().max().item<double>(), finite ? "" : " NON-FINITE");
}

int main(int argc, char** argv) {
  const std::string g = argc > 1 ? argv[1] : "golden";
  std::printf("torch %s, cuda %d\n", TORCH_VERSION, (int)torch::cuda::is_available());
  torch::NoGradGuard ng;
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  auto uio = afa::io::load_safetensors(g + "/modules/unet_io.safetensors");
  auto vio = afa::io::load_safetensors(g + "/modules/vae_io.safetensors");
  const std::string uw = g + "/pipelines/A/unet/diffusion_pytorch_model.safetensors";
  const std::string vw = g + "/pipelines/A/vae/diffusion_pytorch_model.safetensors";

  std::vector<torch::Device> devices{torch::kCPU};
  if (torch::cuda::is_available()) devices.push_back(torch::Device(torch::kCUDA, 0));
  for (auto dev : devices) {
    const std::string dn = dev.is_cuda() ? "cuda" : "cpu";
    std::vector<torch::ScalarType> dtypes{torch::kFloat32};
    if (dev.is_cuda()) dtypes = {torch::kFloat32, torch::kHalf, torch::kBFloat16};
    for (auto dt : dtypes) {
      const std::string tn = std::string(dn) + " " + c10::toString(dt);
      const bool f32 = dt == torch::kFloat32;
      UNet2DConditionModel unet(UNet2DConditionConfig::from_file(g + "/pipelines/A/unet/config.json"));
      afa::io::load_state_dict(*unet, afa::io::load_safetensors(uw), uw);
      unet->to(dev, dt);
      for (std::string c : {"sq", "nonsq", "floatt"}) {
        auto out = unet->forward(uio.at(c + ".sample").to(dev, dt), uio.at(c + ".timestep"),
                                 uio.at(c + ".encoder_hidden_states").to(dev, dt));
        report(tn + " unet " + c, out, uio.at(c + ".noise_pred"), f32 ? 2e-5 : (dt == torch::kHalf ? 2e-2 : 1e-1));
      }
      // upcast_attention variant runs (its numbers equal the plain model's in float32)
      {
        auto cfg = UNet2DConditionConfig::from_file(g + "/pipelines/A/unet/config.json");
        cfg.upcast_attention = true;
        UNet2DConditionModel up(cfg);
        afa::io::load_state_dict(*up, afa::io::load_safetensors(uw), uw);
        up->to(dev, dt);
        auto out = up->forward(uio.at("sq.sample").to(dev, dt), uio.at("sq.timestep"),
                               uio.at("sq.encoder_hidden_states").to(dev, dt));
        report(tn + " unet sq upcast_attention", out, uio.at("sq.noise_pred"),
               f32 ? 2e-5 : (dt == torch::kHalf ? 2e-2 : 1e-1));
      }
      AutoencoderKL vae(AutoencoderKLConfig::from_file(g + "/pipelines/A/vae/config.json"));
      afa::io::load_state_dict(*vae, afa::io::load_safetensors(vw), vw);
      vae->to(dev, dt);
      for (std::string c : {"decode0", "decode1"})
        report(tn + " vae " + c, vae->decode(vio.at(c + ".latent").to(dev, dt)), vio.at(c + ".sample"),
               f32 ? 1e-4 : (dt == torch::kHalf ? 5e-2 : 2e-1));
      auto d = vae->encode(vio.at("encode.image").to(dev, dt));
      report(tn + " vae encode mean", d.mean, vio.at("encode.mean"), f32 ? 2e-5 : (dt == torch::kHalf ? 2e-2 : 1e-1));
      report(tn + " vae encode logvar", d.logvar, vio.at("encode.logvar"), f32 ? 2e-5 : (dt == torch::kHalf ? 2e-2 : 1e-1));
    }
  }
  std::printf("%s (%d failures)\n", failures ? "FAILED" : "ALL OK", failures);
  return failures ? 1 : 0;
}
