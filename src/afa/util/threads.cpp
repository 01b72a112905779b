#include "afa/util/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <cstdlib>
#include <thread>

namespace afa {

int set_threads(int n) {
  if (n <= 0) {
    if (const char* env = std::getenv("AFA_THREADS")) n = std::atoi(env);
  }
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  torch::set_num_threads(n);
  // OpenBLAS (Debian's libopenblas0-pthread) keeps its own pool, one thread per core, which torch's
  // setting does not reach: its idle threads spin on the other cores. Matched here where it is loaded.
  using SetBlasThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetBlasThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
  return n;
}

}  // namespace afa
