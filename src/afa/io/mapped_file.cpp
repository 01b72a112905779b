#include "afa/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "afa/util/error.h"

namespace afa::io {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ == 0) {  // mmap refuses empty ranges; readers see an empty span and report it
    ::close(fd);
    return f;
  }
  void* addr = mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) fail("cannot map ", path, ": ", std::strerror(err));
  f->data_ = static_cast<uint8_t*>(addr);
  return f;
}

MappedFile::~MappedFile() {
  if (data_) munmap(data_, size_);
}

}  // namespace afa::io
