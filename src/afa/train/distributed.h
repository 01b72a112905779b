// Data-parallel training over processes with torch's c10d: a TCPStore for the rendezvous (rank 0 hosts
// it at master_addr:master_port) and a Gloo process group for the all-reduce of the aggregators'
// gradients. With world size 1 nothing is communicated (and nothing beyond libtorch is needed).
//
// c10d's Gloo backend needs gloo's headers at build time (Debian: libgloo-dev); without them afa builds
// and trains single-process, and a world size above 1 is an afa::Error saying so.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace afa::train {

struct DistributedOptions {
  int64_t world_size = -1, rank = -1;   // -1: from WORLD_SIZE / RANK, else 1 / 0
  std::string master_addr;             // empty: MASTER_ADDR, else 127.0.0.1
  int64_t master_port = -1;            // -1: MASTER_PORT, else 29500
  double timeout_s = 1800;             // rendezvous and collective timeout

  // Fills the unset fields from the environment (torchrun's variables) and defaults; validates.
  DistributedOptions resolved() const;
};

class Distributed {
 public:
  // Joins the process group (blocks until all ranks have joined) when world_size > 1.
  explicit Distributed(const DistributedOptions& options);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_; }
  bool is_main() const { return rank_ == 0; }

  // Sums the tensors over all ranks, in place (any device and float dtype; sent as one flat CPU float32
  // buffer, or float64 when any tensor is float64).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  // Sum of one number over all ranks.
  double all_reduce_sum(double value);
  void barrier();

  // Whether this build has the c10d Gloo backend (world sizes above 1).
  static bool available();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rank_ = 0, world_ = 1;
};

}  // namespace afa::train
