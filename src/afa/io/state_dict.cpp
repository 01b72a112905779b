#include "afa/io/state_dict.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

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

// IEEE half -> float with the CPU's F16C instructions, 8 at a time: libtorch 1.13's copy_ converts element
// by element in software, which made the conversion a quarter of loading an F16 checkpoint. Exact, like
// copy_ (every half is a float).
#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void half_to_float_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

// AVX (which also says the OS saves the YMM registers) from the compiler, F16C from CPUID leaf 1 directly:
// clang 14's __builtin_cpu_supports does not know "f16c".
bool has_f16c() {
  static const bool yes = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  }();
  return yes;
}
#endif

// dst.copy_(src), with loading's hot case (a contiguous F16 tensor of the file into a float32 parameter)
// converted by F16C in parallel.
void copy_weights(torch::Tensor& dst, const torch::Tensor& src) {
#if defined(__x86_64__)
  if (has_f16c() && dst.is_cpu() && src.is_cpu() && dst.scalar_type() == torch::kFloat32 &&
      src.scalar_type() == torch::kFloat16 && dst.is_contiguous() && src.is_contiguous() && dst.sizes() == src.sizes()) {
    const auto* s = reinterpret_cast<const uint16_t*>(src.data_ptr<at::Half>());
    float* d = dst.data_ptr<float>();
    at::parallel_for(0, src.numel(), int64_t(1) << 18,
                     [&](int64_t b, int64_t e) { half_to_float_f16c(s + b, d + b, e - b); });
    return;
  }
#endif
  dst.copy_(src);
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
  for (auto& p : params) copy_weights(p.value(), sd.at(p.key()));
  for (auto& b : buffers) copy_weights(b.value(), sd.at(b.key()));
}

StateDict state_dict(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& p : module.named_parameters(true)) out.emplace(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) out.emplace(b.key(), b.value().detach());
  return out;
}

}  // namespace afa::io
