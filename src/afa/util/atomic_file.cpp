#include "afa/util/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa {

namespace {
const char* kind_of(fs::file_type t) {
  switch (t) {
    case fs::file_type::directory: return "a folder";
    case fs::file_type::block: return "a block device";
    case fs::file_type::character: return "a character device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}
}  // namespace

std::string atomic_target(const std::string& path) {
  AFA_CHECK(!path.empty(), "an output path is empty");
  std::error_code ec;
  fs::path p(path);
  for (int hops = 0; fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    AFA_CHECK(hops < 40, path, ": too many levels of symbolic links");
    fs::path t = fs::read_symlink(p, ec);
    AFA_CHECK(!ec, path, ": cannot read the symbolic link (", ec.message(), ")");
    p = t.is_absolute() ? t : p.parent_path() / t;
  }
  const auto st = fs::status(p, ec);
  if (fs::exists(st)) {
    AFA_CHECK(fs::is_regular_file(st), path, " is ", kind_of(st.type()), ": refusing to replace it with an output file");
  }
  return p.string();
}

void check_output_file(const std::string& path, const std::string& option) {
  AFA_CHECK(!path.empty(), option, ": the output path is empty");
  const std::string target = atomic_target(path);
  fs::path dir = fs::path(target).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  AFA_CHECK(fs::is_directory(dir, ec), option, " ", path, ": the folder ", dir.string(), " does not exist");
  AFA_CHECK(::access(dir.c_str(), W_OK) == 0, option, " ", path, ": the folder ", dir.string(), " is not writable");
}

void write_text_atomic(const std::string& path_in, const std::string& text) {
  const std::string path = atomic_target(path_in);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    AFA_CHECK(f.good(), path_in, ": cannot write (", std::strerror(errno), ")");
    f << text;
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      fail(path_in, ": write failed (", std::strerror(errno), ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    fail(path_in, ": cannot replace it (", why, ")");
  }
}

}  // namespace afa
