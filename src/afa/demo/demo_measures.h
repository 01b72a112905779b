// The demo's three measures, the same for every method:
//   prompt fidelity  the toy classifier reads each generated image back against its prompt
//                    (per attribute, and "all": everything the caption says is right);
//   toy FID          Fréchet distance of the classifier's penultimate features, generated vs held-out true;
//   held-out MSE     the training objective itself: noise held-out images to fixed timesteps with fixed
//                    noises, let the method predict the noise (conditioned on the caption), mean squared
//                    error. Every merge and ensemble has one, so it compares them without sampling.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "afa/demo/toy_classifier.h"
#include "afa/metrics/frechet_distance.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/pipeline/text_to_image.h"

namespace afa::demo {

// Toy FID is FID's formula on the toy classifier's features.
using metrics::fit_gaussian;
using metrics::frechet_distance;
using metrics::Gaussian;

struct MeanSe {
  double mean = 0, se = 0;  // se: standard error of the mean (sample sd / sqrt(n))
  int64_t n = 0;
  std::vector<double> values;  // the samples, in a fixed order (the same rows for every method)
  nlohmann::json to_json() const { return {{"mean", mean}, {"se", se}, {"n", n}}; }
};
MeanSe mean_se(const std::vector<double>& values);
// a − b row by row (both measured on the same rows: images, noises, timesteps), as a MeanSe: a paired
// comparison, far more sensitive than comparing the two means when rows vary more than methods do.
// Undefined (NaN) when either is missing or the rows differ in number.
MeanSe paired_difference(const MeanSe& a, const MeanSe& b);

// Images of one method for a batch of prompts, one initial noise per row.
struct SampledImages {
  torch::Tensor images;  // uint8 [B, H, W, 3]
  double seconds = 0;    // sampling and decoding
};
SampledImages sample_images(pipeline::Denoiser& denoiser, const std::vector<const pipeline::StableDiffusion*>& models,
                            const std::vector<std::string>& prompts, const torch::Tensor& noise, int64_t steps,
                            double cfg_scale, const pipeline::StepCallback& on_step = nullptr);

struct FidelityScore {
  nlohmann::json accuracy;       // FidelityTally::accuracy()
  MeanSe all;                    // per image: everything right (0/1)
  MeanSe attributes;             // per image: the fraction of its checks that are right
  double toy_fid = 0;
  std::vector<nlohmann::json> records;  // per image, FidelityTally::add's record
};
FidelityScore score_fidelity(ToyClassifier& classifier, const torch::Tensor& images_u8,
                             const std::vector<ToyScene>& expected, const Gaussian& reference);

// uint8 [N, H, W, 3] images after an encode (posterior mean) / decode round trip through `model`'s VAE,
// back as uint8. Scored like generated images, they are the ceiling of every model over that VAE: what a
// perfect denoiser in its latent space could at best produce.
torch::Tensor vae_round_trip(const pipeline::StableDiffusion& model, const torch::Tensor& images_u8);

// Held-out rows: every image at every timestep, with its own seeded noise.
struct HeldoutSet {
  std::vector<std::string> captions;               // per row
  std::vector<std::vector<std::string>> subsets;   // per row: the expert subsets of its scene
  torch::Tensor x0, noise, timesteps;              // [R, 4, h, w] scaled latents, [R, 4, h, w], I64 [R]
};
HeldoutSet make_heldout_set(const pipeline::StableDiffusion& model, const std::vector<ToyScene>& scenes,
                            const std::vector<int64_t>& timesteps, int image_size, uint64_t seed = 0);

struct MseScore {
  MeanSe all;
  std::map<std::string, MeanSe> by_subset;   // round, warm, pair, and "none" (in no subset)
  std::map<int64_t, MeanSe> by_timestep;
  nlohmann::json to_json() const;
};
// MagicFusion has no unguided prediction (it chooses among guided noises): its score is n/a (NaN).
MseScore heldout_mse(pipeline::Denoiser& denoiser, const std::vector<const pipeline::StableDiffusion*>& models,
                     const HeldoutSet& set, int64_t batch = 64);

// The classifier's features of true images of these scenes (rendered at `size`), as a Gaussian.
Gaussian reference_gaussian(ToyClassifier& classifier, const std::vector<ToyScene>& scenes, int size);

}  // namespace afa::demo
