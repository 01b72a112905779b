// InceptionV3 as pytorch-fid's FID Inception (fid_inception_v3: torchvision Inception3 with
// num_classes=1008, no aux logits, FIDInceptionA/C/E_1/E_2) = torch-fidelity's FeatureExtractorInceptionV3:
// the network of TensorFlow's 2015-12-05 Inception graph that FID and IS are defined on.
// Parameter names are those of the published pt_inception-2015-12-05-6726825d.pth (Conv2d_1a_3x3.conv.weight,
// Mixed_5b.branch1x1.bn.running_mean, ..., fc.weight), so its weights load as they are.
#pragma once

#include <torch/torch.h>

#include <string>

#include "afa/io/state_dict.h"
#include "afa/metrics/inception_blocks.h"
#include "afa/models/layers.h"

namespace afa::metrics {

struct InceptionV3Options {
  TORCH_ARG(int64_t, num_classes) = 1008;  // 1000 ImageNet classes + 8 unused of the TF graph
};

// Everything FID and IS read from one pass. The spatial means are pytorch-fid's blocks 0-2 (and
// torch-fidelity's features "64", "192", "768").
struct InceptionFeatures {
  torch::Tensor block0_mean;      // [N, 64]   after the first max pool
  torch::Tensor block1_mean;      // [N, 192]  after the second max pool
  torch::Tensor block2_mean;      // [N, 768]  after Mixed_6e
  torch::Tensor pool3;            // [N, 2048] the final average pool: FID's features ("2048")
  torch::Tensor logits_unbiased;  // [N, num_classes] pool3 @ fc.weight^T: IS's logits (as OpenAI's TF code)
  torch::Tensor logits;           // logits_unbiased + fc.bias
};

class InceptionV3Impl : public torch::nn::Module {
 public:
  explicit InceptionV3Impl(const InceptionV3Options& o = {});

  // The network on an already prepared input (float [N, 3, 299, 299], see inception_preprocess.h).
  InceptionFeatures features(const torch::Tensor& input);
  // pytorch-fid's InceptionV3() default: images float [N, 3, H, W] in [0, 1] -> pool3 [N, 2048].
  torch::Tensor fid_features(const torch::Tensor& images01);
  // torch-fidelity's feature extractor: images uint8 [N, 3, H, W] -> all features.
  InceptionFeatures fidelity_features(const torch::Tensor& images_u8);

  BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr}, Conv2d_3b_1x1{nullptr},
      Conv2d_4a_3x3{nullptr};
  InceptionA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  InceptionB Mixed_6a{nullptr};
  InceptionC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  InceptionD Mixed_7a{nullptr};
  InceptionE Mixed_7b{nullptr}, Mixed_7c{nullptr};
  models::Linear fc{nullptr};
};
TORCH_MODULE(InceptionV3);

// Copies weights named as the published checkpoint into the model. "*.num_batches_tracked" entries (in
// PyTorch checkpoints, unused in evaluation) are ignored whether present or not; any other missing or
// unknown key, or a shape mismatch, is an afa::Error naming `source` and listing them.
void load_inception_weights(InceptionV3& model, const io::StateDict& weights, const std::string& source);

// A FID Inception in evaluation mode with the weights of a .safetensors file (pt_inception-2015-12-05
// converted, its key names), on `device`.
InceptionV3 load_fid_inception(const std::string& safetensors_path, const torch::Device& device = torch::kCPU);

}  // namespace afa::metrics
