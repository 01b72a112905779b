// FID reference statistics from a file instead of a folder: pytorch-fid's `--save-stats` output (an .npz
// with mu [2048] and sigma [2048, 2048]), so published statistics of a reference set can be used as
// --reference. (np.savez_compressed files need re-saving uncompressed once; the error says how.)
#pragma once

#include <string>

#include "afa/metrics/frechet_distance.h"

namespace afa::metrics {

// Whether `path` names such a file (an existing regular file ending in .npz).
bool is_fid_statistics_file(const std::string& path);

// mu and sigma in float64; throws afa::Error naming the file for missing arrays or wrong shapes
// (`dims` = the feature size, 2048 for pool3).
Gaussian load_fid_statistics(const std::string& path, int64_t dims = 2048);

}  // namespace afa::metrics
