// The output folder of a training run besides its checkpoint: the JSON-lines log and the latent cache,
// which move along with each checkpoint save, and the rule for which folders a fresh run may write into.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace afa::train {

constexpr const char* kLogName = "train_log.jsonl";
constexpr const char* kCacheName = "latent_cache";

// Entries a run keeps beside its checkpoint (moved along on each save).
const std::vector<std::string>& carried_entries();

// A fresh run may write into a folder that does not exist, is empty, or holds only what an earlier run of
// ours left before its first checkpoint; anything else would be replaced by the checkpoint. Throws afa::Error.
void check_fresh_output(const std::string& out);

// Starts OUT's log: the resumed run's lines up to its checkpoint's step, so that a crash after a checkpoint
// leaves no lines for steps that will be redone (written atomically).
void prepare_log(const std::string& out, const std::string& resume, int64_t step);

// Appends one line to OUT's log.
void append_log(const std::string& out, const nlohmann::json& line);

bool same_path(const std::string& a, const std::string& b);

// One training run per output folder: an exclusive flock on OUT.lock (beside OUT, since OUT itself is
// replaced by every checkpoint save) for the life of the run, holding the owner's PID. A second run on the
// same folder throws afa::Error naming that PID. The lock file is removed when the run ends.
class RunLock {
 public:
  explicit RunLock(const std::string& out);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace afa::train
