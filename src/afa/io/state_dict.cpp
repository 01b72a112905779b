#include "afa/io/state_dict.h"

#include <set>
#include <sstream>
#include <vector>

#include "afa/util/error.h"

namespace afa::io {

namespace {

// "a, b, c and 7 more"
std::string first_few(const std::vector<std::string>& items, size_t n = 5) {
  std::ostringstream os;
  for (size_t i = 0; i < items.size() && i < n; ++i) os << (i ? ", " : "") << items[i];
  if (items.size() > n) os << " and " << items.size() - n << " more";
  return os.str();
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

}  // namespace

void load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& source) {
  auto params = module.named_parameters(/*recurse=*/true);
  auto buffers = module.named_buffers(/*recurse=*/true);
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> known;
  auto check = [&](const std::string& name, const torch::Tensor& dst) {
    known.insert(name);
    auto it = sd.find(name);
    if (it == sd.end()) {
      missing.push_back(name);
    } else if (it->second.sizes() != dst.sizes()) {
      mismatched.push_back(name + " (file " + shape_str(it->second.sizes()) + ", model " +
                           shape_str(dst.sizes()) + ")");
    }
  };
  for (const auto& p : params) check(p.key(), p.value());
  for (const auto& b : buffers) check(b.key(), b.value());
  for (const auto& kv : sd)
    if (!known.count(kv.first)) unexpected.push_back(kv.first);

  std::ostringstream err;
  if (!unexpected.empty()) err << "\n  unknown keys: " << first_few(unexpected);
  if (!missing.empty()) err << "\n  missing keys: " << first_few(missing);
  if (!mismatched.empty()) err << "\n  shape mismatches: " << first_few(mismatched, 3);
  if (!err.str().empty())
    fail(source, ": weights do not match the model architecture (wrong config or a different model?)", err.str());

  torch::NoGradGuard no_grad;
  for (auto& p : params) p.value().copy_(sd.at(p.key()));
  for (auto& b : buffers) b.value().copy_(sd.at(b.key()));
}

StateDict state_dict(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& p : module.named_parameters(true)) out.emplace(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) out.emplace(b.key(), b.value().detach());
  return out;
}

}  // namespace afa::io
