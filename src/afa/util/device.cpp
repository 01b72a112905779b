#include "afa/util/device.h"

#include <torch/cuda.h>

#include "afa/util/error.h"

namespace afa {

torch::Device parse_device(const std::string& s) {
  if (s == "cpu") return torch::kCPU;
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    AFA_CHECK(torch::cuda::is_available(), "--device ", s,
              ": this build of afa has no CUDA (build against a CUDA libtorch, see README)");
    return torch::Device(s);
  }
  fail("--device must be cpu or cuda (got '", s, "')");
}

torch::ScalarType parse_dtype(const std::string& s, const torch::Device& device) {
  torch::ScalarType t;
  if (s == "f32" || s == "fp32" || s == "float32")
    t = torch::kFloat32;
  else if (s == "f16" || s == "fp16" || s == "float16")
    t = torch::kFloat16;
  else if (s == "bf16" || s == "bfloat16")
    t = torch::kBFloat16;
  else
    fail("--dtype must be f32, f16 or bf16 (got '", s, "')");
  AFA_CHECK(!(t == torch::kFloat16 && device.is_cpu()), "--dtype f16 needs --device cuda (use f32 or bf16 on CPU)");
  return t;
}

}  // namespace afa
