// Activation checkpointing (diffusers' gradient_checkpointing; torch.utils.checkpoint with
// use_reentrant=True): a piece of the network runs without keeping its intermediate activations, and the
// backward pass runs it again to get them. One extra forward of each piece buys the memory of all of
// them but its inputs and output.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace afa::models {

using CheckpointFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// fn(inputs) with its activations dropped. fn must be deterministic (no dropout or random draws: the
// recomputation must see the same numbers) and may read other tensors only if they need no gradient;
// parameters that require grad get their .grad accumulated during backward, as in PyTorch. The autocast
// state of the call is restored for the recomputation. Say params_need_grad when fn holds trainable
// parameters (they need the backward even where no input needs a gradient). Without grad mode, or with
// nothing to differentiate, this is just fn(inputs).
torch::Tensor checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs,
                         bool params_need_grad = false);

}  // namespace afa::models
