#include "afa/train/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

RunLock::RunLock(const std::string& out) {
  fs::path p = fs::path(out).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  path_ = p.string() + ".lock";
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  for (int attempt = 0; attempt < 10; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    AFA_CHECK(fd_ >= 0, path_, ": cannot create the training lock (", std::strerror(errno), ")");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      ::close(fd_);
      fd_ = -1;
      const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
      fail(out, ": another afa train is writing this folder (PID ", pid.substr(0, pid.find('\n')), ", lock ", path_,
           "); wait for it or choose another -o/--output");
    }
    // The previous owner may have removed the file between our open and our lock: lock the file that is there.
    struct stat held {}, now {};
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
        // The PID is a courtesy for the message; the lock holds without it.
      }
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  fail(path_, ": could not take the training lock");
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

void append_log(const std::string& out, const nlohmann::json& line) {
  std::ofstream f(fs::path(out) / kLogName, std::ios::app);
  f << line.dump() << "\n";
}

}  // namespace afa::train
