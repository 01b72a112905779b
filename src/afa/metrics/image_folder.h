// The images of a folder as pytorch-fid (compute_statistics_of_path) and torch-fidelity
// (glob_samples_paths) find them: the folder's own files (not recursive), sorted by name. Their order
// matters for IS only through its seeded shuffle.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace afa::metrics {

// The .png, .jpg and .jpeg files (extension in any case) of `folder`, sorted by name. Throws afa::Error for
// a missing folder, a folder without images, or image files of a format afa cannot decode that the
// reference tools would have included (bmp, pgm, ppm, tif, tiff, webp), so no image is silently left out.
std::vector<std::string> list_image_files(const std::string& folder);

// Decodes the files in order and calls `fn` with batches of at most `batch_size` consecutive images of
// one size: uint8 [B, 3, H, W], RGB (alpha dropped, grey expanded). A file that is not a readable image
// is an afa::Error naming it.
void for_each_image_batch(const std::vector<std::string>& files, int64_t batch_size,
                          const std::function<void(const torch::Tensor&)>& fn);

}  // namespace afa::metrics
