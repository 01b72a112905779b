// afa eval's settings and its run, shared with afa bench-quality (which evaluates what it generated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace afa::app {

struct EvalArgs {
  std::vector<std::string> images;  // folders; several are one set (their union)
  std::string reference, prompts, metrics = "fid,is", weights, output, device = "cpu", cache_dir;
  bool no_cache = false;
  int64_t batch_size = 50;  // pytorch-fid's default
  int64_t splits = 10;
  int threads = 0;
  bool quiet = false;
  bool check_only = false;  // stop after checking the arguments and the weights files (no image is read)
};

// Checks everything, computes the metrics, prints or writes (-o) the report. Throws afa::Error.
int run_eval(const EvalArgs& a);

}  // namespace afa::app
