// The golden AFA aggregators (../shared/golden/afa): the perturbed set as stored, and the same set with
// conv_out zeroed as a freshly initialised aggregator has it.
#pragma once

#include <torch/torch.h>

#include "afa/ensemble/aggregators.h"
#include "golden.h"

namespace afa::test {

inline ensemble::AggregatorSet perturbed_aggregators() {
  return ensemble::load_aggregators(golden("afa/aggregators_perturbed"));
}

inline ensemble::AggregatorSet zero_init_aggregators() {
  auto set = perturbed_aggregators();
  torch::NoGradGuard ng;
  for (auto& a : set.aggregators) a->conv_out->weight.zero_();
  return set;
}

}  // namespace afa::test
