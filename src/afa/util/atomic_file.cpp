#include "afa/util/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "afa/util/error.h"

namespace afa {

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    AFA_CHECK(f.good(), path, ": cannot write (", std::strerror(errno), ")");
    f << text;
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      fail(path, ": write failed (", std::strerror(errno), ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    fail("cannot rename ", tmp, " to ", path, ": ", why);
  }
}

}  // namespace afa
