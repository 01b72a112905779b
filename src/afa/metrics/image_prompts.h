// Which prompt belongs to which image, for the prompted metrics (clip-t, pick, hps, ir). Two conventions:
//   text file     one prompt per line, one line per image in the images' sorted order (a final newline
//                 and "\r\n" are fine);
//   JSON lines    FILE.jsonl, one object per line: {"image": "NAME.png", "prompt": "..."} ("file_name" and
//                 "text" are accepted too), matched to the images by file name; entries for images that
//                 are not there are ignored (a shard's manifest may list more).
// afa bench-quality writes a manifest (prompts*.jsonl) into its images folder, so afa eval finds the
// prompts of such folders without --prompts.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace afa::metrics {

// name -> prompt of a JSON-lines manifest; throws afa::Error naming file and line.
std::map<std::string, std::string> read_prompt_manifest(const std::string& path);

// Writes one {"image", "prompt"} line per entry, in name order, atomically.
void write_prompt_manifest(const std::string& path, const std::map<std::string, std::string>& prompts);

// The manifests afa bench-quality leaves in a folder: prompts.jsonl and prompts.*.jsonl, sorted.
std::vector<std::string> folder_prompt_manifests(const std::string& folder);

// One prompt per file (`files` are image paths). `prompts_file` as above (.jsonl by name, else lines in
// order); empty: the manifests of `folders` merged. Throws afa::Error naming the first image without a
// prompt, a count mismatch, or a name two manifests give different prompts.
std::vector<std::string> prompts_for_images(const std::vector<std::string>& files, const std::string& prompts_file,
                                            const std::vector<std::string>& folders);

}  // namespace afa::metrics
