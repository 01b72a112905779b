#include "afa/util/threads.h"

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
  return n;
}

}  // namespace afa
