// afa analyze: where each model denoises best for one image and its prompt (the paper's Figure 1), with
// the ensemble as one more contender when an aggregator or method is given.
//   1. check the options  2. load the models  3. encode the image and the prompt
//   4. region wins over timesteps and noises  5. analysis.json and the figures
#include <filesystem>
#include <iostream>

#include "afa/analysis/analysis_report.h"
#include "afa/analysis/region_wins.h"
#include "afa/ensemble/make_denoiser.h"
#include "afa/io/image.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/util/device.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"
#include "afa/util/threads.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace afa::app {

namespace {

struct AnalyzeArgs {
  std::vector<std::string> models;
  std::string image, prompt, output, device = "cpu", dtype = "f32";
  ensemble::MethodOptions method;
  analysis::RegionWinsOptions wins;
  std::vector<std::string> bars;
  int threads = 0;
};

// Contender names: the paths' last components, or the last two where that leaves duplicates (fine-tunes
// are often OUT/model).
std::vector<std::string> short_names(const std::vector<std::string>& paths) {
  auto last = [](const std::string& p, int parts) {
    fs::path q = fs::path(p).lexically_normal();
    if (q.filename().empty()) q = q.parent_path();
    return parts == 1 || q.parent_path().filename().empty() ? q.filename().string()
                                                          : (q.parent_path().filename() / q.filename()).string();
  };
  std::vector<std::string> names;
  for (const auto& p : paths) names.push_back(last(p, 1));
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t j = 0; j < names.size(); ++j)
      if (i != j && last(paths[i], 1) == last(paths[j], 1)) names[i] = last(paths[i], 2);
  return names;
}

int run_analyze(AnalyzeArgs a) {
  set_threads(a.threads);
  // 1. Options, before any loading.
  AFA_CHECK(fs::is_regular_file(a.image), a.image, ": no such image (--image)");
  const bool ensemble = !a.method.aggregator.empty() || !a.method.method.empty();
  if (ensemble) {
    AFA_CHECK(a.models.size() >= 2, "--aggregator/--method adds the ensemble of the -m models: give at least two");
    ensemble::prepare_method(a.method, a.models.size(), 1.0);
  }
  std::vector<std::pair<int64_t, int64_t>> bars;
  for (const auto& b : a.bars) {
    const auto comma = b.find(',');
    AFA_CHECK(comma != std::string::npos, "--bars: '", b, "' is not ROW,COL");
    try {
      bars.emplace_back(std::stoll(b.substr(0, comma)), std::stoll(b.substr(comma + 1)));
    } catch (const std::exception&) {
      fail("--bars: '", b, "' is not ROW,COL");
    }
  }
  fs::create_directories(a.output);

  // 2. Models.
  pipeline::EnsembleLoadOptions lo;
  lo.load.device = parse_device(a.device);
  lo.load.dtype = parse_dtype(a.dtype, lo.load.device);
  auto models = pipeline::load_ensemble(a.models, lo);

  // 3. The image's latents (the first model's VAE, its mean) and each model's text context.
  auto image = io::read_image(a.image);
  models::AutoencoderKL vae = models.models[0].vae;  // a shared handle; encode() is not const
  const int64_t f = vae->config().downscale_factor();
  AFA_CHECK(image.size(0) % f == 0 && image.size(1) % f == 0, a.image, ": ", image.size(1), "x", image.size(0),
            " is not a multiple of ", f, " (the VAE's factor)");
  torch::Tensor x0;
  {
    torch::NoGradGuard no_grad;
    auto x = image.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div(127.5).sub(1.0);
    x0 = vae->encode(x.to(vae->device(), vae->dtype())).mean.to(torch::kCPU, torch::kFloat32) *
         vae->config().scaling_factor;
  }
  pipeline::GenerateOptions go;
  go.prompts = {a.prompt};
  go.cfg_scale = 1.0;
  const auto contexts = pipeline::encode_prompts(models.pointers(), go);

  std::vector<std::unique_ptr<pipeline::Denoiser>> owned;
  std::vector<analysis::Contender> contenders;
  const auto names = short_names(a.models);
  for (size_t i = 0; i < models.size(); ++i) {
    owned.push_back(std::make_unique<pipeline::SingleUNet>(models.models[i].unet));
    contenders.push_back({names[i], owned.back().get(), {contexts[i]}});
  }
  if (ensemble) {
    owned.push_back(ensemble::make_denoiser(a.method, models.unets(), 1.0));
    contenders.push_back({a.method.method, owned.back().get(), contexts});
  }
  if (bars.empty()) {  // the four corners and the centre
    const int64_t rows = x0.size(2) / a.wins.patch, cols = x0.size(3) / a.wins.patch;
    bars = {{0, 0}, {0, cols - 1}, {rows / 2, cols / 2}, {rows - 1, 0}, {rows - 1, cols - 1}};
  }

  // 4. Region wins.
  schedulers::DDPMScheduler ddpm(models.models[0].scheduler_config);
  ProgressBar bar("analyze", static_cast<int64_t>(a.wins.timesteps.size()));
  const auto r = analysis::region_wins(contenders, ddpm, x0, a.wins,
                                       [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();

  // 5. Results.
  const nlohmann::json inputs{{"image", a.image},   {"prompt", a.prompt},  {"models", a.models},
                              {"method", ensemble ? a.method.method : ""}, {"aggregator", a.method.aggregator},
                              {"seed", a.wins.seed}};
  analysis::write_analysis(r, inputs, image, bars, a.output);
  std::cerr << "wrote " << a.output << "/analysis.json and figures; whole-image wins:";
  for (size_t ti = 0; ti < r.timesteps.size(); ++ti) {
    std::cerr << "\n  t=" << r.timesteps[ti] << ":";
    for (size_t k = 0; k <= r.contenders.size(); ++k)
      std::cerr << " " << (k < r.contenders.size() ? r.contenders[k] : "ties") << "="
                << r.image_wins[int64_t(ti)][int64_t(k)].item<double>();
  }
  std::cerr << "\n";
  return 0;
}

}  // namespace

Run add_analyze(CLI::App& app) {
  auto a = std::make_shared<AnalyzeArgs>();
  app.add_option("-m,--model", a->models, "models to compare (repeatable)")->required();
  app.add_option("--image", a->image, "the image (PNG/JPEG; sides multiples of 8)")->required();
  app.add_option("-p,--prompt", a->prompt, "its prompt")->required();
  app.add_option("-o,--output", a->output, "output folder (analysis.json, figures)")->required();
  app.add_option("--samples", a->wins.samples, "Monte-Carlo noises per timestep")->capture_default_str();
  app.add_option("--timesteps", a->wins.timesteps, "timesteps (0-999)")->delimiter(',')->capture_default_str();
  app.add_option("--patch", a->wins.patch, "patch side in latent pixels")->capture_default_str();
  app.add_option("--seed", a->wins.seed, "seed of the noises")->capture_default_str();
  app.add_option("--aggregator", a->method.aggregator, "add the AFA ensemble of the models as a contender");
  app.add_option("--method", a->method.method, "add this ensemble method instead (noise-avg, block-avg)");
  app.add_option("--bars", a->bars, "patches ROW,COL for the stacked bars (default: corners and centre)");
  app.add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32, f16 or bf16 (the models; errors are computed in float64)")
      ->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  return [a] { return run_analyze(*a); };
}

}  // namespace afa::app
