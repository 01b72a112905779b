// Every input with which fuzzing (fuzz/run.sh) once broke a parser is kept in fuzz/corpus/<target>/crash-*
// and must now be answered with afa::Error (or parse): never another exception, a crash, a hang or
// gigabytes of memory.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <functional>
#include <map>

#include "afa/io/config_files.h"
#include "afa/io/image.h"
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
      {"fuzz_image",
       [](const std::string& f) {
         try {
           io::read_image(f);
         } catch (const afa::Error&) {
         }
         io::read_png_text(f);
       }},
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

long peak_rss_kb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(FuzzRegressions, EveryFoundCrashIsNowAnError) {
  const fs::path corpus = fs::path(AFA_SOURCE_DIR) / "fuzz" / "corpus";
  int checked = 0;
  for (const auto& [target, parse] : parsers()) {
    if (!fs::is_directory(corpus / target)) continue;
    for (const auto& e : fs::directory_iterator(corpus / target)) {
      if (e.path().filename().string().rfind("crash-", 0) != 0) continue;
      SCOPED_TRACE(e.path().string());
      const long peak_before = peak_rss_kb();
      try {
        parse(e.path().string());
      } catch (const afa::Error&) {
      } catch (const std::exception& ex) {
        ADD_FAILURE() << "not an afa::Error: " << ex.what();
      }
      // The PNG text bomb grew past 2 GB before it was bounded; none of these inputs needs 256 MB.
      EXPECT_LT(peak_rss_kb() - peak_before, 256 * 1024);
      ++checked;
    }
  }
  EXPECT_GE(checked, 2);  // the yaml type error and the PNG text bomb found on the first runs
}

}  // namespace
}  // namespace afa::test
