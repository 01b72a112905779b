#include "afa/util/json_file.h"

#include <fstream>

#include "afa/util/error.h"

namespace afa {

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream f(path);
  AFA_CHECK(f.good(), path, ": cannot open ", what);
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": ", what, " is not valid JSON (", e.what(), ")");
  }
}

}  // namespace afa
