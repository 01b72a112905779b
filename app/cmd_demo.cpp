// afa demo: the paper's experiment rerun on the shipped toy-world models, as one command (the README's
// main job): every base model, merge, ensemble and ablation on the same held-out prompts and noises,
// measured by prompt fidelity, toy FID and held-out denoising MSE, reported in demo-out/report.html.
#include <iostream>

#include "afa/demo/demo_run.h"
#include "commands.h"

namespace afa::app {

Run add_demo(CLI::App& app) {
  auto o = std::make_shared<demo::DemoOptions>();
  auto quiet = std::make_shared<bool>(false);
  app.add_option("-o,--output", o->output, "output folder (report.html, report.md, results.json, images)")
      ->capture_default_str();
  app.add_flag("--quick", o->quick, "a reduced run (1 seed, 4 prompts, 10 steps): a minute on 2 cores");
  app.add_option("--steps", o->steps, "DDIM step counts; the first is the table's")->delimiter(',')->capture_default_str();
  app.add_option("--seeds", o->seeds, "initial noises per prompt (seeds 0..K-1)")->capture_default_str();
  app.add_option("--prompts", o->prompts, "held-out prompts (the first of the held-out split)")->capture_default_str();
  app.add_option("--prompts-file", o->prompts_file, "captions to use instead, one per line (the toy grammar)");
  app.add_option("--mse-images", o->mse_images, "held-out images for the denoising MSE")->capture_default_str();
  app.add_option("--mse-timesteps", o->mse_timesteps, "timesteps of the denoising MSE")->delimiter(',')->capture_default_str();
  app.add_option("--reference-images", o->reference_images, "held-out true images for the toy FID")->capture_default_str();
  app.add_option("--cfg-scale", o->cfg_scale, "classifier-free guidance scale")->capture_default_str();
  app.add_option("--models", o->models_dir, "the demo models (default: the repository's models/, or $AFA_MODELS_DIR)");
  app.add_flag("--retrain-auto-mbw", o->retrain_auto_mbw, "search autoMBW's block weights again (cached in MODELS/merges/)");
  app.add_option("--auto-mbw-budget", o->auto_mbw_budget, "trials of that search")->capture_default_str();
  app.add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  app.add_option("--threads", o->threads, "CPU threads (default: all cores)");
  app.add_flag("-q,--quiet", *quiet, "no progress output");
  return [o, quiet, &app] {
    if (o->quick) {
      // --quick sets the protocol; options given explicitly still win.
      demo::DemoOptions q = *o;
      demo::apply_quick(q);
      if (app.count("--steps") == 0) o->steps = q.steps;
      if (app.count("--seeds") == 0) o->seeds = q.seeds;
      if (app.count("--prompts") == 0) o->prompts = q.prompts;
      if (app.count("--mse-images") == 0) o->mse_images = q.mse_images;
      if (app.count("--reference-images") == 0) o->reference_images = q.reference_images;
    }
    o->progress = !*quiet;
    const auto r = demo::run_demo(*o);
    std::cerr << "wrote " << o->output << "/report.html (and report.md, results.json) in " << static_cast<int>(r.seconds)
              << " s\n";
    return 0;
  };
}

}  // namespace afa::app
