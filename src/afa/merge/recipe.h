// The recipe a merge writes into its output's safetensors metadata, under the keys A1111 and
// supermerger read, so that a merge can be reproduced and traced:
//   sd_merge_recipe  JSON: afa's full recipe (method, alpha, block weights and map, TIES/DARE settings,
//                    dtype, LoRAs, inputs) plus A1111's fields (primary/secondary/tertiary_model_hash,
//                    interp_method, multiplier, save_as_half);
//   sd_merge_models  JSON: {sha256: {name, legacy_hash, size, sd_merge_recipe}} for every input, plus
//                    the inputs' own sd_merge_models (the ancestry of merges of merges);
//   format "pt".
// Folders have no single file to hash: they are recorded by name as "folder:<name>".
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace afa::merge {

class Merger;

std::map<std::string, std::string> merge_metadata(const Merger& m);

// How an input is identified in the recipe: sha256 (or "size:<bytes>" without hashing), name, size.
nlohmann::json describe_input(const std::string& path, bool hash);

}  // namespace afa::merge
