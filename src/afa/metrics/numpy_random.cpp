#include "afa/metrics/numpy_random.h"

#include <numeric>
#include <utility>

#include "afa/util/error.h"

namespace afa::metrics {

namespace {
constexpr int kN = 624, kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfU, kUpper = 0x80000000U, kLower = 0x7fffffffU;
}  // namespace

NumpyRandomState::NumpyRandomState(uint32_t seed) {
  key_[0] = seed;
  for (int i = 1; i < kN; ++i) key_[i] = 1812433253U * (key_[i - 1] ^ (key_[i - 1] >> 30)) + uint32_t(i);
  pos_ = kN;  // the first draw twists
}

void NumpyRandomState::twist() {
  for (int i = 0; i < kN; ++i) {
    const uint32_t y = (key_[i] & kUpper) | (key_[(i + 1) % kN] & kLower);
    key_[i] = key_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
  }
  pos_ = 0;
}

uint32_t NumpyRandomState::next_uint32() {
  if (pos_ >= kN) twist();
  uint32_t y = key_[pos_++];
  // Tempering.
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

uint64_t NumpyRandomState::next_uint64() {
  const uint64_t hi = next_uint32();
  return (hi << 32) | next_uint32();
}

uint64_t NumpyRandomState::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int shift = 1; shift <= 32; shift *= 2) mask |= mask >> shift;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    do value = next_uint32() & mask; while (value > max);
  } else {
    do value = next_uint64() & mask; while (value > max);
  }
  return value;
}

std::vector<int64_t> NumpyRandomState::permutation(int64_t n) {
  AFA_CHECK(n >= 0, "permutation of a negative count (", n, ")");
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::iota(out.begin(), out.end(), int64_t{0});
  for (int64_t i = n - 1; i >= 1; --i) std::swap(out[i], out[interval(uint64_t(i))]);
  return out;
}

}  // namespace afa::metrics
