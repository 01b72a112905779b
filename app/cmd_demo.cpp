// afa demo: the paper's experiment rerun on the shipped toy-world models, as one command (the README's
// main job): every base model, merge, ensemble and ablation on the same held-out prompts and noises,
// measured by prompt fidelity, toy FID and held-out denoising MSE, reported in demo-out/report.html.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "afa/demo/demo_run.h"
#include "afa/util/error.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace afa::app {

namespace {

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// --retrain: the repository's recipe (scripts/demo_world.sh) run with this afa, its models written to
// OUT/models, which the demo then uses. Returns that folder.
std::string retrain(const demo::DemoOptions& o) {
  const fs::path repo = fs::path(demo::default_models_dir()).parent_path();
  const fs::path script = repo / "scripts" / "demo_world.sh";
  AFA_CHECK(fs::exists(script), script.string(), ": the demo world's recipe is not here (--retrain runs it from the"
            " source tree afa was built from)");
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  AFA_CHECK(n > 0, "--retrain: cannot find this afa program");
  self[n] = 0;
  const fs::path out = fs::absolute(o.output);
  const std::string cmd = "cd " + quoted(repo.string()) + " && AFA=" + quoted(self) + " SHIP=1 MODELS_OUT=" +
                          quoted((out / "models").string()) + " THREADS=" + std::to_string(o.threads) + " bash " +
                          quoted(script.string()) + " " + quoted((out / "world").string());
  std::cerr << "afa demo --retrain: rebuilding the demo world from scratch (several hours on 2 CPU cores;"
               " an interrupted run continues where it stopped)\n";
  const int rc = std::system(cmd.c_str());
  AFA_CHECK(rc == 0, "--retrain: the recipe ", script.string(), " failed (exit ", rc, "); its log is above");
  return (out / "models").string();
}

}  // namespace

Run add_demo(CLI::App& app) {
  auto o = std::make_shared<demo::DemoOptions>();
  auto quiet = std::make_shared<bool>(false);
  auto rebuild = std::make_shared<bool>(false);
  app.add_option("-o,--output", o->output, "output folder (report.html, report.md, results.json, images)")
      ->capture_default_str();
  app.add_flag("--quick", o->quick, "a reduced run (1 seed, 4 prompts, 10 steps): a minute on 2 cores");
  app.add_option("--steps", o->steps, "DDIM step counts; the first is the table's")->delimiter(',')->capture_default_str();
  app.add_option("--seeds", o->seeds, "initial noises per prompt (prompt i, noise k: seed i*K + k)")->capture_default_str();
  app.add_option("--prompts", o->prompts, "held-out prompts (the first of the held-out split)")->capture_default_str();
  app.add_option("--prompts-file", o->prompts_file, "captions to use instead, one per line (the toy grammar)");
  app.add_option("--mse-images", o->mse_images, "held-out images for the denoising MSE")->capture_default_str();
  app.add_option("--mse-timesteps", o->mse_timesteps, "timesteps of the denoising MSE")->delimiter(',')->capture_default_str();
  app.add_option("--reference-images", o->reference_images, "held-out true images for the toy FID")->capture_default_str();
  app.add_option("--methods", o->methods, "only these rows (ids: expert-round, base, merge-mbw, afa, ablation-scalar, ...)")
      ->delimiter(',');
  app.add_option("--cfg-scale", o->cfg_scale, "classifier-free guidance scale")->capture_default_str();
  app.add_option("--models", o->models_dir, "the demo models (default: the repository's models/, or $AFA_MODELS_DIR)");
  app.add_flag("--retrain-auto-mbw", o->retrain_auto_mbw, "search autoMBW's block weights again (cached in MODELS/merges/)");
  app.add_option("--auto-mbw-budget", o->auto_mbw_budget, "trials of that search")->capture_default_str();
  app.add_flag("--retrain", *rebuild, "rebuild every model from scratch with scripts/demo_world.sh into OUTPUT/models"
               " (hours), then run the demo on them");
  app.add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  app.add_option("--jobs", o->jobs, "methods run in parallel (default: one per core)");
  app.add_option("--threads", o->threads, "CPU threads (default: 1; the toy models are too small for more to pay)");
  app.add_flag("-q,--quiet", *quiet, "no progress output");
  return [o, quiet, rebuild, &app] {
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
    if (*rebuild) {
      demo::validate(*o);
      o->models_dir = retrain(*o);
    }
    const auto r = demo::run_demo(*o);
    std::cerr << "wrote " << o->output << "/report.html (and report.md, results.json) in " << static_cast<int>(r.seconds)
              << " s\n";
    return 0;
  };
}

}  // namespace afa::app
