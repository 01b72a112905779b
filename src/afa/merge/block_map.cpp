#include "afa/merge/block_map.h"

#include <cstdlib>

#include "afa/util/error.h"

namespace afa::merge {

const std::array<const char*, kNumBlocks> kBlockIds = {
    "BASE", "IN00", "IN01", "IN02", "IN03", "IN04", "IN05", "IN06", "IN07", "IN08", "IN09", "IN10", "IN11",
    "M00", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09",
    "OUT10", "OUT11"};

BlockConvention parse_block_convention(const std::string& name) {
  if (name == "supermerger") return BlockConvention::kSupermerger;
  if (name == "base-ends") return BlockConvention::kBaseEnds;
  fail("unknown block map '", name, "' (expected supermerger or base-ends)");
}

const char* block_convention_name(BlockConvention c) {
  return c == BlockConvention::kSupermerger ? "supermerger" : "base-ends";
}

namespace {

constexpr int kIn0 = 1, kMid = 13, kOut0 = 14, kLastOut = 25;

// The number after `marker` (".input_blocks.") when followed by a dot; -1 otherwise.
int numbered(const std::string& key, const std::string& marker) {
  auto pos = key.find(marker);
  if (pos == std::string::npos) return -1;
  size_t i = pos + marker.size(), j = i;
  while (j < key.size() && key[j] >= '0' && key[j] <= '9') ++j;
  if (j == i || j >= key.size() || key[j] != '.') return -1;
  return std::atoi(key.substr(i, j - i).c_str());
}

}  // namespace

int block_of_ldm_key(const std::string& key, BlockConvention c) {
  // Only U-Net keys have blocks; supermerger's substring tests would otherwise catch e.g. VAE names.
  if (key.rfind(io::kLdmUNetPrefix, 0) != 0) return 0;
  if (key.find("time_embed") != std::string::npos) return c == BlockConvention::kSupermerger ? kIn0 : 0;
  if (key.find(".out.") != std::string::npos) return c == BlockConvention::kSupermerger ? kLastOut : 0;
  int n = numbered(key, ".input_blocks.");
  if (n >= 0 && n < 12) return kIn0 + n;
  if (numbered(key, ".middle_block.") >= 0) return kMid;
  n = numbered(key, ".output_blocks.");
  if (n >= 0 && n < 12) return kOut0 + n;
  return 0;
}

int block_index(const std::string& id) {
  for (int i = 0; i < kNumBlocks; ++i)
    if (id == kBlockIds[i]) return i;
  return -1;
}

std::map<std::string, int> diffusers_block_map(io::Component component, const nlohmann::json& config,
                                               BlockConvention c) {
  std::map<std::string, int> out;
  for (const auto& e : io::component_params(component, config)) out[e.diffusers] = block_of_ldm_key(e.ldm, c);
  return out;
}

}  // namespace afa::merge
