// `afa demo`: the paper's experiment in the toy world. For every method of demo_methods.h, the same
// held-out prompts and initial noises are sampled with DDIM and CFG 7.5 at each step count, scored by
// the toy classifier (fidelity, toy FID), and the method's noise prediction is measured on held-out
// images (denoising MSE). The results and the report go to the output folder (demo_report.h).
//
//   1. find the shipped models, read the classifier, draw prompts, noises and held-out rows
//   2. the merges (weighted, MBW, autoMBW with its cached or searched block weights)
//   3. per method: load, sample at each step count, score; AFA also draws its attention maps
//   4. per method: held-out denoising MSE
//   5. afa analyze on the first prompt's true image: where each expert (and AFA) denoises best
//   6. results.json, report.md, report.html
#pragma once

#include <map>
#include <string>
#include <vector>

#include "afa/demo/demo_auto_mbw.h"
#include "afa/demo/demo_measures.h"
#include "afa/demo/demo_methods.h"
#include "afa/demo/demo_protocol.h"

namespace afa::demo {

struct MethodResult {
  DemoMethod method;
  std::map<int64_t, FidelityScore> fidelity;        // by step count
  std::map<int64_t, double> seconds_per_image;      // by step count
  MseScore mse;
  std::map<int64_t, std::vector<std::string>> images;  // by step count: files relative to the output, row order
};

struct DemoResult {
  DemoOptions options;
  std::vector<ToyScene> prompts;
  std::vector<MethodResult> methods;
  std::vector<std::pair<int64_t, std::string>> attention_maps;  // (step, grid PNG relative to the output)
  std::vector<int64_t> attention_stages;                          // the aggregation points drawn
  std::string grid;                                              // images grid PNG (relative)
  // afa analyze on the first prompt's true image (experts and AFA as contenders): figures per timestep.
  std::vector<std::pair<int64_t, std::string>> analysis_figures;  // (timestep, SVG relative to the output)
  std::string analysis_bars;                                      // stacked bars SVG (relative)
  AutoMbwResult auto_mbw;
  // The prompts' true images through the base's VAE, scored like the methods' images: the world's ceiling.
  FidelityScore vae_ceiling;
  double seconds = 0;
  std::string machine;                                           // threads and device, for the report
};

DemoResult run_demo(const DemoOptions& options);

}  // namespace afa::demo
