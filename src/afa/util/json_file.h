// Reading a JSON file with the error every reader of ours gives: the file named, and what it was for.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace afa {

// Parses `path`; `what` says what the file is ("U-Net config", "training state"). Throws afa::Error
// "PATH: cannot open WHAT" or "PATH: WHAT is not valid JSON (...)".
nlohmann::json read_json_file(const std::string& path, const std::string& what);

}  // namespace afa
