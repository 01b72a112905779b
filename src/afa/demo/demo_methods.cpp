#include "afa/demo/demo_methods.h"

#include <filesystem>
#include <sstream>

#include "afa/merge/diffusers_output.h"
#include "afa/merge/merger.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::demo {

const char* const kMbwPreset = "GRAD_V";

namespace {

std::string need(const fs::path& p, const std::string& what) {
  AFA_CHECK(fs::exists(p), p.string(), ": missing ", what,
            " (the shipped demo models; rebuild them with scripts/demo_world.sh, or point --models at them)");
  return p.string();
}

std::string weights_text(const merge::BlockWeights& w) {
  std::ostringstream s;
  for (int b = 1; b < merge::kNumBlocks; ++b) s << (b > 1 ? "," : "") << w.alpha[b];
  return s.str();
}

void write_merge(merge::MergeOptions o, const std::string& out) {
  o.dtype = "f32";          // the merge of F16 inputs, kept exact in the demo's working copy
  o.hash_inputs = false;
  merge::Merger m(std::move(o));
  fs::remove_all(out);
  merge::merge_to_diffusers(m, out);
}

}  // namespace

DemoModels find_demo_models(const std::string& dir) {
  AFA_CHECK(fs::is_directory(dir), dir, ": no such models folder (the shipped demo models live in the repository's"
            " models/; set --models or $AFA_MODELS_DIR)");
  DemoModels m;
  m.dir = dir;
  const fs::path d(dir);
  need(d / "base" / "model_index.json", "base model");
  m.base = (d / "base").string();
  m.expert_names = {"round", "warm", "pair"};
  for (const auto& e : m.expert_names) {
    need(d / ("expert-" + e) / "model_index.json", "expert model");
    m.experts.push_back((d / ("expert-" + e)).string());
  }
  m.aggregators = (d / "aggregators").string();
  for (const auto& v : aggregator_variants()) need(d / "aggregators" / (v + ".safetensors"), "aggregator set");
  m.classifier = need(d / "toy_classifier.safetensors", "fidelity classifier");
  m.auto_mbw = (d / "merges" / "auto_mbw.json").string();
  return m;
}

const std::vector<std::string>& aggregator_variants() {
  static const std::vector<std::string> v = {"afa", "last-block-only", "scalar", "no-time", "no-text"};
  return v;
}

merge::BlockWeights mbw_preset_weights() {
  merge::BlockWeights w;
  auto preset = merge::block_preset(kMbwPreset);
  AFA_INTERNAL_ASSERT(preset.has_value(), "no MBW preset ", kMbwPreset);
  w.alpha[0] = 0.5;
  for (int b = 1; b < merge::kNumBlocks; ++b) w.alpha[b] = (*preset)[b - 1];
  return w;
}

std::string write_chained_mbw(const std::vector<std::string>& experts, const merge::BlockWeights& p,
                              const std::string& out, const std::string& work) {
  AFA_INTERNAL_ASSERT(experts.size() == 3, "the chained MBW merges three models");
  const std::string first = (fs::path(work) / "mbw-stage1").string();
  merge::MergeOptions a;
  a.models = {experts[0], experts[1]};
  a.block_weights = p;
  write_merge(a, first);
  merge::MergeOptions b;
  b.models = {first, experts[2]};
  merge::BlockWeights q = p;
  for (double& v : q.alpha) v *= 2.0 / 3.0;
  b.block_weights = q;
  write_merge(b, out);
  fs::remove_all(first);
  return out;
}

std::string write_weighted_merge(const std::vector<std::string>& models, const std::string& out) {
  merge::MergeOptions o;
  o.models = models;
  write_merge(o, out);
  return out;
}

std::vector<DemoMethod> demo_methods(const DemoModels& m, const MergedModels& merged) {
  std::vector<DemoMethod> rows;
  ensemble::MethodOptions single;
  single.method = "single";
  for (size_t i = 0; i < m.experts.size(); ++i)
    rows.push_back({"expert-" + m.expert_names[i], "expert " + m.expert_names[i], "base models",
                    "fine-tuned from the base on the '" + m.expert_names[i] + "' subset", {m.experts[i]},
                    single});
  rows.push_back({"base", "base", "base models", "trained on the whole toy world", {m.base}, single});

  rows.push_back({"merge-weighted", "weighted merge", "merges", "afa merge: the three experts with equal weights",
                  {merged.weighted}, single});
  rows.push_back({"merge-mbw", "MBW", "merges",
                  std::string("two chained afa merge --block-weights ") + kMbwPreset +
                      " (see demo_methods.h); U-Net blocks " + weights_text(mbw_preset_weights()),
                  {merged.mbw}, single});
  rows.push_back({"merge-auto-mbw", "autoMBW", "merges",
                  "the chained MBW with block weights searched on training prompts by toy fidelity: " +
                      weights_text(merged.auto_mbw_weights),
                  {merged.auto_mbw}, single});

  auto ensemble_row = [&](std::string id, std::string label, std::string group, std::string recipe,
                          std::string method, std::string aggregator) {
    DemoMethod r{std::move(id), std::move(label), std::move(group), std::move(recipe), m.experts, {}};
    r.options.method = std::move(method);
    r.options.aggregator = std::move(aggregator);
    rows.push_back(std::move(r));
  };
  ensemble_row("noise-avg", "noise averaging", "ensembles", "mean of the three experts' predicted noises",
               "noise-avg", "");
  ensemble_row("block-avg", "block averaging", "ensembles", "mean of the three experts' features after every block",
               "block-avg", "");
  ensemble_row("magicfusion", "MagicFusion", "ensembles", "saliency-aware blending of the guided noises (defaults)",
               "magicfusion", "");
  const auto agg = [&](const std::string& v) { return (fs::path(m.aggregators) / (v + ".safetensors")).string(); };
  ensemble_row("afa", "AFA", "ensembles", "trained SABW aggregators after every block (aggregators/afa)", "afa",
               agg("afa"));
  const std::vector<std::pair<std::string, std::string>> ablations = {
      {"last-block-only", "one aggregator, after the last block"},
      {"scalar", "one weight per model instead of a spatial map"},
      {"no-time", "aggregators without the timestep embedding"},
      {"no-text", "aggregators without cross-attention to the prompt"}};
  for (const auto& [v, what] : ablations)
    ensemble_row("ablation-" + v, "AFA " + v, "ablations", what + " (aggregators/" + v + ")", "afa", agg(v));
  return rows;
}

}  // namespace afa::demo
