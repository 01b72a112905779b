// Which MBW block a tensor belongs to. Block ids, in supermerger's BLOCKID order:
//   BASE, IN00..IN11, M00, OUT00..OUT11   (26; the 25 U-Net blocks are indices 1..25)
// LDM naming (supermerger's blockfromkey, which the MBW extension agrees with):
//   "time_embed"               -> IN00  (with the first conv, input_blocks.0)
//   ".out." (out.0 / out.2)    -> OUT11 (the final norm and conv join the last output block)
//   ".input_blocks.N."         -> IN<N>,  ".middle_block." -> M00,  ".output_blocks.N." -> OUT<N>
//   anything else (text encoder, VAE, keys outside the U-Net) -> BASE
// Tools disagree on time_embed and out.*: BlockConvention::kBaseEnds sends both to BASE instead (as
// merges that treat only the numbered blocks as blocks do). Diffusers names map through the rename table.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <map>
#include <string>

#include "afa/io/ldm_names.h"

namespace afa::merge {

constexpr int kNumBlocks = 26;  // BASE + 25 U-Net blocks
extern const std::array<const char*, kNumBlocks> kBlockIds;

enum class BlockConvention {
  kSupermerger,  // time_embed -> IN00, out.* -> OUT11 (default)
  kBaseEnds,     // time_embed and out.* -> BASE
};
// "supermerger" / "base-ends"; throws afa::Error for anything else.
BlockConvention parse_block_convention(const std::string& name);
const char* block_convention_name(BlockConvention c);

// Index into kBlockIds (0 = BASE) of a key in LDM single-file naming.
int block_of_ldm_key(const std::string& key, BlockConvention c = BlockConvention::kSupermerger);
// Index of a block id ("IN03"); -1 when unknown.
int block_index(const std::string& id);

// The blocks of one component's diffusers parameter names ("down_blocks.0.resnets.0.conv1.weight"),
// through the rename table built from the component's config.
std::map<std::string, int> diffusers_block_map(io::Component component, const nlohmann::json& config,
                                               BlockConvention c = BlockConvention::kSupermerger);

}  // namespace afa::merge
