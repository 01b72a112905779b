// The Inception Score as torch-fidelity v0.4.0 computes it (metric_isc.isc_features_to_metric): on the
// 1008-class logits without the fc bias (InceptionV3's "logits_unbiased"), in float64,
//   rows shuffled by np.random.RandomState(seed).permutation(N) (when shuffle),
//   split i = rows [i N / splits, (i + 1) N / splits),
//   score_i = exp(mean_rows sum_c p (log p - log mean_rows p)),  p = softmax(logits),
//   result  = mean and population standard deviation (np.std) of the split scores.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace afa::metrics {

struct InceptionScoreOptions {
  int64_t splits = 10;
  bool shuffle = true;
  uint32_t seed = 2020;  // torch-fidelity's rng_seed
};

struct InceptionScore {
  double mean = 0;
  double std = 0;
  std::vector<double> split_scores;
};

// logits: [N, C] (any float dtype, any device; computed in float64 on the CPU), N >= splits.
// Throws afa::Error for a bad shape, too few rows or non-finite logits.
InceptionScore inception_score(const torch::Tensor& logits, const InceptionScoreOptions& options = {});

}  // namespace afa::metrics
