#include "afa/train/run_folder.h"

#include <filesystem>
#include <fstream>

#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"

namespace afa::train {

namespace fs = std::filesystem;

bool same_path(const std::string& a, const std::string& b) {
  return fs::weakly_canonical(fs::absolute(a)) == fs::weakly_canonical(fs::absolute(b));
}

const std::vector<std::string>& carried_entries() {
  static const std::vector<std::string> names{kLogName, kCacheName};
  return names;
}

void check_fresh_output(const std::string& out) {
  if (!fs::exists(out)) return;
  AFA_CHECK(fs::is_directory(out), out, ": exists and is not a folder (-o/--output)");
  AFA_CHECK(!has_training_state(out), out, ": holds a training checkpoint; continue it with --resume ", out,
            " or choose another -o/--output");
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    bool ours = false;
    for (const auto& c : carried_entries()) ours = ours || name == c;
    AFA_CHECK(ours, out, ": exists and is not empty (", name, "); the checkpoint would replace it, so choose "
                         "another -o/--output");
  }
}

void prepare_log(const std::string& out, const std::string& resume, int64_t step) {
  fs::create_directories(out);
  const fs::path dst = fs::path(out) / kLogName;
  std::vector<std::string> keep;
  if (!resume.empty()) {
    std::ifstream in(fs::path(resume) / kLogName);
    std::string line;
    while (std::getline(in, line)) {
      try {
        auto j = nlohmann::json::parse(line);
        if (j.value("step", int64_t(0)) <= step) keep.push_back(line);
      } catch (const nlohmann::json::exception&) {
        // a torn last line of a crashed run: dropped
      }
    }
  }
  const fs::path tmp = dst.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    AFA_CHECK(f, tmp.string(), ": cannot write");
    for (const auto& l : keep) f << l << "\n";
  }
  fs::rename(tmp, dst);
}

void append_log(const std::string& out, const nlohmann::json& line) {
  std::ofstream f(fs::path(out) / kLogName, std::ios::app);
  f << line.dump() << "\n";
}

}  // namespace afa::train
