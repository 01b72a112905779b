#include "afa/demo/toy_split.h"

#include <algorithm>

namespace afa::demo {

uint64_t caption_hash(const std::string& caption) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : caption) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

bool is_held_out(const std::string& caption) { return caption_hash(caption) % kHeldOutModulus == 0; }

const std::vector<std::string>& subset_names() {
  static const std::vector<std::string> v{"round", "warm", "pair"};
  return v;
}

std::vector<std::string> subsets(const ToyScene& s) {
  auto all = [&](auto pred) { return std::all_of(s.objects.begin(), s.objects.end(), pred); };
  auto is = [](const std::vector<std::string>& names, int k, std::initializer_list<const char*> any) {
    return std::any_of(any.begin(), any.end(), [&](const char* n) { return names.at(size_t(k)) == n; });
  };
  std::vector<std::string> out;
  if (all([&](const ToyObject& o) { return is(shape_names(), o.shape, {"circle", "ring"}); })) out.push_back("round");
  if (all([&](const ToyObject& o) { return is(colour_names(), o.colour, {"red", "orange", "yellow"}); }) &&
      is(background_names(), s.background, {"striped", "noisy"}))
    out.push_back("warm");
  if (s.objects.size() == 2) out.push_back("pair");
  return out;
}

}  // namespace afa::demo
