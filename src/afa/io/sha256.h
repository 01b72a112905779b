// SHA-256 (FIPS 180-4) of bytes and files: the recipe a merge records (A1111 and supermerger name models
// by the full file's sha256 and by the "legacy" hash of 64 KiB at offset 1 MiB), the identity of a
// training run's models and the integrity of its checkpoints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace afa::io {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Whole file, streamed; throws afa::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// A1111's model_hash: the first 8 hex digits of the sha256 of 0x10000 bytes at offset 0x100000.
std::string legacy_model_hash(const std::string& path);

}  // namespace afa::io
