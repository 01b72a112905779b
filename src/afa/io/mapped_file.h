// A whole file mapped privately (copy-on-write) into memory: tensors may view it and even be modified
// without touching the file. Shared by readers that hand out zero-copy views (they keep it alive).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace afa::io {

class MappedFile {
 public:
  // Throws afa::Error naming the file when it cannot be opened or mapped or is not a regular file.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  std::string path_;
  uint8_t* data_ = nullptr;  // null for an empty file
  uint64_t size_ = 0;
};

}  // namespace afa::io
