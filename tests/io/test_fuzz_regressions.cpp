// Every input with which fuzzing (fuzz/run.sh) once broke a parser is kept in fuzz/corpus/<target>/crash-*
// and must now be answered with afa::Error (or parse): never another exception, a crash or a hang.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "afa/io/config_files.h"
#include "afa/io/safetensors.h"
#include "afa/io/torch_pickle.h"
#include "afa/util/error.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

// The io-level fuzz targets and the call each one makes (as in fuzz/fuzz_<target>.cpp).
const std::map<std::string, std::function<void(const std::string&)>>& parsers() {
  static const std::map<std::string, std::function<void(const std::string&)>> p = {
      {"fuzz_ldm_yaml", [](const std::string& f) { io::configs_from_ldm_yaml(f); }},
      {"fuzz_safetensors",
       [](const std::string& f) {
         io::SafeTensorsFile s(f);
         for (const auto& n : s.names()) (void)s.get(n);
       }},
      {"fuzz_torch_pickle",
       [](const std::string& f) {
         io::TorchPickleFile t(f);
         for (const auto& n : t.names()) (void)t.get(n);
       }},
  };
  return p;
}

TEST(FuzzRegressions, EveryFoundCrashIsNowAnError) {
  const fs::path corpus = fs::path(AFA_SOURCE_DIR) / "fuzz" / "corpus";
  int checked = 0;
  for (const auto& [target, parse] : parsers()) {
    if (!fs::is_directory(corpus / target)) continue;
    for (const auto& e : fs::directory_iterator(corpus / target)) {
      if (e.path().filename().string().rfind("crash-", 0) != 0) continue;
      SCOPED_TRACE(e.path().string());
      try {
        parse(e.path().string());
      } catch (const afa::Error&) {
      } catch (const std::exception& ex) {
        ADD_FAILURE() << "not an afa::Error: " << ex.what();
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 1);  // the yaml type error found on the first run
}

}  // namespace
}  // namespace afa::test
