// numpy's legacy RandomState (MT19937) as far as torch-fidelity needs it: the row shuffle of the
// Inception Score, np.random.RandomState(seed).permutation(n), reproduced exactly for any n.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace afa::metrics {

// The Mersenne Twister MT19937 as numpy's legacy generator drives it.
class NumpyRandomState {
 public:
  // RandomState(seed) for an integer seed: Matsumoto-Nishimura init_genrand (numpy's mt19937_seed).
  explicit NumpyRandomState(uint32_t seed);

  uint32_t next_uint32();
  uint64_t next_uint64();  // two draws, the first in the high half (numpy's mt19937_next64)
  // A uniform integer in [0, max]: draws masked to the smallest 2^k - 1 >= max, rejected while > max
  // (numpy's random_interval; 32-bit draws while max fits in 32 bits).
  uint64_t interval(uint64_t max);
  // permutation(n) = shuffle(arange(n)): Fisher-Yates from the last element down, swap i with
  // interval(i) (legacy _shuffle_raw).
  std::vector<int64_t> permutation(int64_t n);

 private:
  void twist();
  std::array<uint32_t, 624> key_{};
  int pos_ = 624;
};

}  // namespace afa::metrics
