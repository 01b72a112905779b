#include "afa/metrics/fid_statistics_file.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "afa/io/npz_file.h"
#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

bool is_fid_statistics_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::error_code ec;
  return ext == ".npz" && fs::is_regular_file(path, ec);
}

Gaussian load_fid_statistics(const std::string& path, int64_t dims) {
  const auto arrays = io::load_npz(path);
  auto get = [&](const char* name) {
    const auto it = arrays.find(name);
    AFA_CHECK(it != arrays.end(), path, ": no array '", name,
              "' (expected pytorch-fid's statistics: mu [2048] and sigma [2048, 2048])");
    AFA_CHECK(it->second.is_floating_point(), path, ": array '", name, "' is not floating point");
    return it->second.to(torch::kFloat64);
  };
  Gaussian g{get("mu"), get("sigma")};
  AFA_CHECK(g.mean.dim() == 1 && g.mean.size(0) == dims, path, ": mu has shape ", g.mean.sizes(), ", expected [",
            dims, "] (pool3 features of the FID Inception)");
  AFA_CHECK(g.covariance.dim() == 2 && g.covariance.size(0) == dims && g.covariance.size(1) == dims, path,
            ": sigma has shape ", g.covariance.sizes(), ", expected [", dims, ", ", dims, "]");
  AFA_CHECK(torch::isfinite(g.mean).all().item<bool>() && torch::isfinite(g.covariance).all().item<bool>(), path,
            ": mu or sigma has non-finite values");
  return g;
}

}  // namespace afa::metrics
