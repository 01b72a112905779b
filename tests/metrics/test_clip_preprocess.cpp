// The 224-px preprocessing paths of the CLIP-family scorers against the goldens (preprocess/ and the
// size-32 inputs of cases 4 and 6). One uint8 level after the PIL resize is 0.0146 after normalisation,
// so the 1e-5 tolerance catches any resampler mismatch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_preprocess.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

torch::Tensor golden_image(const std::string& name) {  // uint8 [3, H, W]
  afa::io::SafeTensorsFile f(metrics_golden("images.safetensors"));
  return f.get(name).permute({2, 0, 1}).contiguous();
}

const afa::io::SafeTensorsFile& pre_golden() {
  static const afa::io::SafeTensorsFile f(metrics_golden("preprocess/preprocess_224.safetensors"));
  return f;
}

const char* path_name(ClipPreprocess p) {
  return p == ClipPreprocess::kClipHf ? "clip_hf" : p == ClipPreprocess::kTvPil ? "tv_pil" : "hpsv2";
}

TEST(ClipPreprocess, StoredImagesMatch) {
  const struct {
    ClipPreprocess path;
    const char* image;
  } cases[] = {{ClipPreprocess::kClipHf, "img_c"}, {ClipPreprocess::kTvPil, "img_c"},
               {ClipPreprocess::kHpsv2, "img_c"},  {ClipPreprocess::kClipHf, "img_s"},
               {ClipPreprocess::kTvPil, "img_s"},  {ClipPreprocess::kHpsv2, "img_s"}};
  for (const auto& c : cases) {
    const std::string key = std::string(path_name(c.path)) + "." + c.image;
    SCOPED_TRACE(key);
    // tv_pil.img_s is not stored: for a square image it is bit-identical to clip_hf.img_s.
    const std::string stored = key == "tv_pil.img_s" ? "clip_hf.img_s" : key;
    const auto x = clip_preprocess(golden_image(c.image), c.path);
    EXPECT_TRUE(GoldenClose(x, pre_golden().get(stored), 1e-5, "preprocess " + stored));
  }
}

TEST(ClipPreprocess, ChannelSumsMatch) {
  for (auto path : {ClipPreprocess::kClipHf, ClipPreprocess::kTvPil, ClipPreprocess::kHpsv2})
    for (const char* image : {"img_a", "img_c", "img_s"}) {
      const std::string key = std::string("sum_per_channel.") + path_name(path) + "." + image;
      SCOPED_TRACE(key);
      const auto sums = clip_preprocess(golden_image(image), path).to(torch::kFloat64).sum({1, 2});
      // Bit-identical here; the tolerance leaves room for ulp-level differences of torch's bicubic kernel
      // on other CPUs (hpsv2 path), and is still far below one uint8 level at a single pixel (0.0146).
      EXPECT_TRUE(GoldenClose(sums, pre_golden().get(key), 2e-3, key));
    }
}

TEST(ClipPreprocess, CropRowsFollowEachReferencesRounding) {
  // img_c (130x128) resizes to 227x224: transformers crops from row 1, torchvision from row round(1.5) = 2.
  const auto hf = clip_preprocess(golden_image("img_c"), ClipPreprocess::kClipHf);
  const auto tv = clip_preprocess(golden_image("img_c"), ClipPreprocess::kTvPil);
  EXPECT_GT(max_abs_diff(hf, tv), 0.5);
  EXPECT_LT(max_abs_diff(hf.narrow(1, 1, 223), tv.narrow(1, 0, 223)), 1e-6);
}

TEST(PilResize, BicubicIsBitExact) {
  // The stored clip_hf.img_c is the PIL resize (130x128 -> 227x224, rows 1..224) normalised: undoing the
  // normalisation recovers Pillow's uint8 output exactly, which the resize must reproduce level for level.
  const auto mean = torch::tensor({0.48145466, 0.4578275, 0.40821073}, torch::kFloat64).view({3, 1, 1});
  const auto std = torch::tensor({0.26862954, 0.26130258, 0.27577711}, torch::kFloat64).view({3, 1, 1});
  const auto levels = ((pre_golden().get("clip_hf.img_c").to(torch::kFloat64) * std + mean) * 255).round();
  const auto r = pil_resize_bicubic(golden_image("img_c"), 227, 224);
  ASSERT_EQ(r.sizes(), (torch::IntArrayRef{3, 227, 224}));
  EXPECT_TRUE(torch::equal(r.narrow(1, 1, 224).to(torch::kFloat64), levels))
      << "max level difference " << max_abs_diff(r.narrow(1, 1, 224), levels);
}

TEST(PilResize, SameSizeIsIdentity) {
  const auto img = golden_image("img_b");
  EXPECT_TRUE(torch::equal(pil_resize_bicubic(img, img.size(1), img.size(2)), img));
}

TEST(ClipPreprocess, Size32InputsOfTheTinyCases) {
  afa::io::SafeTensorsFile io(metrics_golden("clip/clip_tiny_io.safetensors"));
  std::vector<torch::Tensor> imgs;
  for (const char* n : {"img_a", "img_b", "img_c"}) imgs.push_back(golden_image(n));
  std::vector<torch::Tensor> hf, hps;
  for (const auto& i : imgs) {
    hf.push_back(clip_preprocess(i, ClipPreprocess::kClipHf, 32));
    hps.push_back(clip_preprocess(i, ClipPreprocess::kHpsv2, 32));
  }
  EXPECT_TRUE(GoldenClose(torch::stack(hf), io.get("pixel_values_32"), 1e-5, "pixel_values_32"));
  EXPECT_TRUE(GoldenClose(torch::stack(hps), io.get("hpsv2.pixel_values_32"), 1e-5, "hpsv2.pixel_values_32"));
}

TEST(ClipPreprocess, RejectsWhatIsNotAnRgbByteImage) {
  EXPECT_THROW(clip_preprocess(torch::zeros({3, 8, 8}, torch::kFloat32), ClipPreprocess::kClipHf), afa::Error);
  EXPECT_THROW(clip_preprocess(torch::zeros({4, 8, 8}, torch::kUInt8), ClipPreprocess::kTvPil), afa::Error);
  EXPECT_THROW(pil_resize_bicubic(torch::zeros({3, 8, 8}, torch::kUInt8), 0, 4), afa::Error);
}

}  // namespace
}  // namespace afa::test
