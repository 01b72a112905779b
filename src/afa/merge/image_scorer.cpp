#include "afa/merge/image_scorer.h"

#include <sys/wait.h>

#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "afa/io/image.h"
#include "afa/merge/assign.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/util/error.h"

namespace afa::merge {

namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

double run_scorer(const std::string& command, const std::string& folder) {
  const std::string cmd = command + " " + shell_quote(folder) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  AFA_CHECK(p, "--scorer: cannot run '", command, "'");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  AFA_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--scorer '", command, "' failed on ", folder, ": ", out);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\r')) out.pop_back();
  const std::string last = out.substr(out.find_last_of('\n') == std::string::npos ? 0 : out.find_last_of('\n') + 1);
  char* end = nullptr;
  double v = std::strtod(last.c_str(), &end);
  AFA_CHECK(!last.empty() && end && *end == '\0', "--scorer '", command, "': its last line '", last, "' is not a number");
  return v;
}

BlockScorer image_scorer(pipeline::StableDiffusion& sd, const MergeOptions& merge, const ImageTrialOptions& o) {
  AFA_CHECK(!o.prompts.empty(), "--search needs prompts (--prompts FILE, one per line)");
  AFA_CHECK(!o.command.empty(), "--search needs a --scorer command");
  auto trial = std::make_shared<int64_t>(0);
  return [&sd, merge, o, trial](const BlockWeights& w) {
    MergeOptions m = merge;
    m.block_weights = w;
    m.hash_inputs = false;
    assign_merge(sd, Merger(m), o.config_files);
    const fs::path dir = fs::path(o.work_dir) / ("trial_" + std::to_string((*trial)++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    pipeline::SingleUNet denoiser(sd.unet);
    for (size_t i = 0; i < o.prompts.size(); ++i) {
      pipeline::GenerateOptions g;
      g.prompt = o.prompts[i];
      g.negative_prompt = o.negative_prompt;
      g.steps = o.steps;
      g.width = o.width;
      g.height = o.height;
      g.cfg_scale = o.cfg_scale;
      g.sampler = o.sampler;
      g.seed = o.seed + i;
      g.progress = false;
      auto r = pipeline::generate(denoiser, {&sd}, g);
      char name[32];
      std::snprintf(name, sizeof name, "%04zu.png", i);
      io::write_png((dir / name).string(), io::to_uint8_image(r.images[0]),
                    {{"parameters", o.prompts[i] + "\nblock weights: " + w.to_string()}});
    }
    return run_scorer(o.command, dir.string());
  };
}

}  // namespace afa::merge
