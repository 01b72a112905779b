#include "afa/metrics/inception_score.h"

#include <torch/torch.h>

#include <cmath>

#include "afa/metrics/numpy_random.h"
#include "afa/util/error.h"

namespace afa::metrics {

InceptionScore inception_score(const torch::Tensor& logits, const InceptionScoreOptions& o) {
  AFA_CHECK(logits.dim() == 2 && logits.size(1) >= 2, "Inception Score needs [N, classes] logits, got ",
            logits.sizes());
  AFA_CHECK(o.splits >= 1, "Inception Score needs at least one split, got ", o.splits);
  const int64_t n = logits.size(0);
  // torch-fidelity would score an empty split as NaN; say so instead.
  AFA_CHECK(n >= o.splits, "Inception Score of ", n, " images in ", o.splits, " splits: need at least one image per split");
  auto x = logits.to(torch::kCPU, torch::kFloat64);
  AFA_CHECK(torch::isfinite(x).all().item<bool>(), "Inception Score: the logits contain NaN or infinity");
  if (o.shuffle) {
    const auto perm = NumpyRandomState(o.seed).permutation(n);
    x = x.index_select(0, torch::tensor(perm, torch::kInt64));
  }
  const auto p = x.softmax(1), log_p = x.log_softmax(1);
  InceptionScore r;
  for (int64_t i = 0; i < o.splits; ++i) {
    const int64_t begin = i * n / o.splits, end = (i + 1) * n / o.splits;
    const auto p_chunk = p.slice(0, begin, end), log_p_chunk = log_p.slice(0, begin, end);
    const auto q = p_chunk.mean(0, /*keepdim=*/true);
    const auto kl = (p_chunk * (log_p_chunk - q.log())).sum(1).mean();
    r.split_scores.push_back(std::exp(kl.item<double>()));
  }
  // np.mean and np.std (ddof 0) of the scores.
  double sum = 0;
  for (double s : r.split_scores) sum += s;
  r.mean = sum / double(o.splits);
  double sq = 0;
  for (double s : r.split_scores) sq += (s - r.mean) * (s - r.mean);
  r.std = std::sqrt(sq / double(o.splits));
  return r;
}

}  // namespace afa::metrics
