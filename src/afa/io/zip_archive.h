// A minimal reader of the zip archives torch.save writes (torch >= 1.6): the central directory (ZIP64 where
// the archive is large), and the place of each entry's bytes in the file. Only stored (uncompressed)
// entries are accepted, since torch writes nothing else and they can then be viewed in place.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace afa::io {

struct ZipEntry {
  std::string name;
  uint64_t offset = 0;  // of the entry's first data byte, from the start of the file
  uint64_t size = 0;    // bytes (stored, so compressed size == uncompressed size)
  uint32_t crc32 = 0;   // as the central directory records it
};

class ZipArchive {
 public:
  // Parses and validates the directory of the `size` bytes at `data`; every error is an afa::Error that
  // names `path`. The bytes must outlive the archive.
  ZipArchive(const uint8_t* data, uint64_t size, const std::string& path);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // Null when there is no entry of that name.
  const ZipEntry* find(const std::string& name) const;
  // Checks the entry's bytes against its recorded CRC-32; throws afa::Error naming file and entry.
  void verify_crc(const ZipEntry& e) const;
  const uint8_t* bytes(const ZipEntry& e) const { return data_ + e.offset; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  std::string path_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t> index_;
};

// Whether the bytes start like a zip archive (a local file header).
bool looks_like_zip(const uint8_t* data, uint64_t size);

// CRC-32 (the zip / zlib polynomial).
uint32_t crc32(const uint8_t* data, uint64_t size, uint32_t crc = 0);

}  // namespace afa::io
