#include "afa/merge/block_weights.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "afa/util/error.h"

namespace afa::merge {

std::string BlockWeights::to_string() const {
  std::ostringstream os;
  for (int i = 0; i < kNumBlocks; ++i) os << (i ? "," : "") << alpha[i];
  return os.str();
}

std::vector<double> parse_numbers(const std::string& values, const std::string& option) {
  std::vector<double> out;
  std::stringstream ss(values);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    AFA_CHECK(b != std::string::npos, option, ": empty value in '", values, "'");
    item = item.substr(b, e - b + 1);
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    AFA_CHECK(end && *end == '\0' && std::isfinite(v), option, ": '", item, "' is not a number");
    out.push_back(v);
  }
  return out;
}

BlockWeights parse_block_weights(const std::string& values, std::optional<double> base_alpha) {
  std::vector<double> v = parse_numbers(values, "--block-weights");
  BlockWeights w;
  if (v.size() == 26) {
    AFA_CHECK(!base_alpha, "--block-weights has 26 values (BASE first), so --base-alpha is not needed");
    for (int i = 0; i < kNumBlocks; ++i) w.alpha[i] = v[i];
  } else if (v.size() == 25) {
    AFA_CHECK(base_alpha.has_value(), "--block-weights with 25 values needs --base-alpha (or give 26, BASE first)");
    w.alpha[0] = *base_alpha;
    for (int i = 0; i < 25; ++i) w.alpha[i + 1] = v[i];
  } else {
    fail("--block-weights needs 25 values (IN00..IN11, M00, OUT00..OUT11) or 26 (BASE first), not ", v.size());
  }
  return w;
}

namespace {

using Shape = double (*)(int);
struct Preset {
  const char* name;
  Shape f;
};
constexpr double kPi = 3.14159265358979323846;
double smooth(int p) {
  double x = p / 24.0;
  return 3 * x * x - 2 * x * x * x;
}
double cosine(int p) { return (1 - std::cos(kPi * p / 24.0)) / 2; }
const Preset kPresets[] = {
    {"ALL_A", [](int) { return 0.0; }},
    {"ALL_B", [](int) { return 1.0; }},
    {"FLAT_25", [](int) { return 0.25; }},
    {"FLAT_75", [](int) { return 0.75; }},
    {"GRAD_V", [](int p) { return std::abs(p - 12) / 12.0; }},
    {"GRAD_A", [](int p) { return 1.0 - std::abs(p - 12) / 12.0; }},
    {"IN_ONLY", [](int p) { return p < 12 ? 1.0 : 0.0; }},
    {"MID_ONLY", [](int p) { return p == 12 ? 1.0 : 0.0; }},
    {"OUT_ONLY", [](int p) { return p > 12 ? 1.0 : 0.0; }},
    {"SMOOTHSTEP", smooth},
    {"REVERSE_SMOOTHSTEP", [](int p) { return 1.0 - smooth(p); }},
    {"COSINE", cosine},
    {"REVERSE_COSINE", [](int p) { return 1.0 - cosine(p); }},
};

}  // namespace

std::optional<std::array<double, 25>> block_preset(const std::string& name) {
  for (const auto& p : kPresets) {
    if (name != p.name) continue;
    std::array<double, 25> out{};
    for (int i = 0; i < 25; ++i) out[i] = p.f(i);
    return out;
  }
  return std::nullopt;
}

std::vector<std::string> block_preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.push_back(p.name);
  return out;
}

}  // namespace afa::merge
