// The three ways CLIP-family scorers turn an image into a [3, S, S] input (S = 224 for the real models).
// They differ in resize rule, crop rounding and resampler, and the scores move with them (one uint8 level
// is 0.0146 after normalisation), so each metric keeps its reference's path:
//   kClipHf  transformers' CLIPImageProcessor (torchmetrics CLIPScore, PickScore): PIL bicubic resize of
//            the short side to S, center crop with top = (h - S) // 2.
//   kTvPil   torchvision Resize(S, BICUBIC) on PIL + CenterCrop (openai CLIP's and ImageReward's
//            _transform, the aesthetic predictor): the same resize, crop top = round((h - S) / 2) (half even).
//   kHpsv2   HPSv2's ResizeMaxSize: ToTensor, longest side to S by torch's bicubic interpolation of the
//            float tensor (no antialiasing, no clamp), zero padding to S x S.
// All end with (x - mean) / std, OpenAI's mean/std.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace afa::metrics {

enum class ClipPreprocess { kClipHf, kTvPil, kHpsv2 };

// PIL's Image.resize(..., BICUBIC) (Pillow 9.4, ImagingResample) of uint8 [3, H, W] to [3, out_h, out_w]:
// separable convolution (horizontal pass first), a = -0.5, support 2 scaled by the downscale factor,
// 22-bit fixed-point coefficients and an 8-bit clipped intermediate between the passes. Bit-exact.
torch::Tensor pil_resize_bicubic(const torch::Tensor& image_u8, int64_t out_h, int64_t out_w);

// One image uint8 [3, H, W] -> float32 [3, size, size], normalised.
torch::Tensor clip_preprocess(const torch::Tensor& image_u8, ClipPreprocess path, int64_t size = 224);

// A batch: uint8 [N, 3, H, W] -> float32 [N, 3, size, size].
torch::Tensor clip_preprocess_batch(const torch::Tensor& images_u8, ClipPreprocess path, int64_t size = 224);

}  // namespace afa::metrics
