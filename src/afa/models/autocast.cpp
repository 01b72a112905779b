#include "afa/models/autocast.h"

#include <ATen/autocast_mode.h>

namespace afa::models {

// torch 2.4 generalised the calls to take the device type and deprecated the per-device ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
AutocastState AutocastState::current() {
  AutocastState s;
  s.cpu = at::autocast::is_autocast_enabled(at::kCPU);
  s.cuda = at::autocast::is_autocast_enabled(at::kCUDA);
  s.cpu_dtype = at::autocast::get_autocast_dtype(at::kCPU);
  s.cuda_dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  return s;
}
void AutocastState::apply() const {
  at::autocast::set_autocast_dtype(at::kCPU, cpu_dtype);
  at::autocast::set_autocast_dtype(at::kCUDA, cuda_dtype);
  at::autocast::set_autocast_enabled(at::kCPU, cpu);
  at::autocast::set_autocast_enabled(at::kCUDA, cuda);
  if (!cpu && !cuda) at::autocast::clear_cache();
}
#else
AutocastState AutocastState::current() {
  AutocastState s;
  s.cpu = at::autocast::is_cpu_enabled();
  s.cuda = at::autocast::is_enabled();
  s.cpu_dtype = at::autocast::get_autocast_cpu_dtype();
  s.cuda_dtype = at::autocast::get_autocast_gpu_dtype();
  return s;
}
void AutocastState::apply() const {
  at::autocast::set_autocast_cpu_dtype(cpu_dtype);
  at::autocast::set_autocast_gpu_dtype(cuda_dtype);
  at::autocast::set_cpu_enabled(cpu);
  at::autocast::set_enabled(cuda);
  if (!cpu && !cuda) at::autocast::clear_cache();
}
#endif

AutocastGuard::AutocastGuard(const torch::Device& device, at::ScalarType dtype) : previous_(AutocastState::current()) {
  AutocastState s = previous_;
  const bool on = dtype != at::kFloat && dtype != at::ScalarType::Undefined;
  if (device.is_cuda()) {
    s.cuda = on;
    if (on) s.cuda_dtype = dtype;
  } else {
    s.cpu = on;
    if (on) s.cpu_dtype = dtype;
  }
  s.apply();
}

AutocastGuard::AutocastGuard(const AutocastState& state) : previous_(AutocastState::current()) { state.apply(); }

AutocastGuard::~AutocastGuard() { previous_.apply(); }

}  // namespace afa::models
