#include "afa/io/zip_archive.h"

#include <array>

#include "afa/util/error.h"

namespace afa::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint64_t kEndSize = 22, kLocator64Size = 20, kEnd64Size = 56, kCentralSize = 46, kLocalSize = 30;
constexpr uint32_t k32 = 0xffffffffu;

uint64_t le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

uint32_t crc32(const uint8_t* data, uint64_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (uint64_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

bool looks_like_zip(const uint8_t* data, uint64_t size) { return size >= 4 && le(data, 4) == kLocalSig; }

ZipArchive::ZipArchive(const uint8_t* data, uint64_t size, const std::string& path)
    : data_(data), size_(size), path_(path) {
  // The end record sits in the last 22 + 65535 (the longest comment) bytes; search it from the back.
  AFA_CHECK(size >= kEndSize, path, ": not a zip archive (", size, " bytes, shorter than its end record)");
  uint64_t end = UINT64_MAX;
  const uint64_t lowest = size - kEndSize > 0xffff ? size - kEndSize - 0xffff : 0;
  for (uint64_t p = size - kEndSize + 1; p-- > lowest;) {
    if (le(data + p, 4) == kEndSig && p + kEndSize + le(data + p + 20, 2) <= size) {
      end = p;
      break;
    }
  }
  AFA_CHECK(end != UINT64_MAX, path, ": zip end-of-central-directory record not found (truncated file?)");
  const uint8_t* e = data + end;
  uint64_t disk = le(e + 4, 2), cd_disk = le(e + 6, 2), count_disk = le(e + 8, 2), count = le(e + 10, 2);
  uint64_t cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  // ZIP64: a locator just before the end record points at the 64-bit end record, which then rules.
  if (end >= kLocator64Size && le(data + end - kLocator64Size, 4) == kLocator64Sig) {
    const uint8_t* loc = data + end - kLocator64Size;
    const uint64_t at = le(loc + 8, 8);
    AFA_CHECK(at <= end - kLocator64Size && end - kLocator64Size - at >= kEnd64Size && le(data + at, 4) == kEnd64Sig,
              path, ": bad ZIP64 end-of-central-directory locator");
    const uint8_t* e64 = data + at;
    disk = le(e64 + 16, 4);
    cd_disk = le(e64 + 20, 4);
    count_disk = le(e64 + 24, 8);
    count = le(e64 + 32, 8);
    cd_size = le(e64 + 40, 8);
    cd_offset = le(e64 + 48, 8);
    end = at;  // the directory must end before the ZIP64 record
  } else {
    AFA_CHECK(count != 0xffff && cd_size != k32 && cd_offset != k32, path,
              ": zip archive needs ZIP64 records but has none (truncated file?)");
  }
  AFA_CHECK(disk == 0 && cd_disk == 0 && count_disk == count, path, ": multi-part zip archives are not supported");
  AFA_CHECK(cd_offset <= end && cd_size <= end - cd_offset, path, ": zip central directory (", cd_size,
            " bytes at ", cd_offset, ") lies outside the file (truncated file?)");
  AFA_CHECK(count <= cd_size / kCentralSize, path, ": zip directory claims ", count, " entries in ", cd_size,
            " bytes");

  entries_.reserve(count);
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    AFA_CHECK(cd_end - p >= kCentralSize && le(data + p, 4) == kCentralSig, path, ": zip directory entry ", i,
              " is corrupt");
    const uint8_t* h = data + p;
    const uint64_t flags = le(h + 8, 2), method = le(h + 10, 2), name_len = le(h + 28, 2);
    const uint64_t extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
    AFA_CHECK(kCentralSize + name_len + extra_len + comment_len <= cd_end - p, path, ": zip directory entry ", i,
              " runs past the directory");
    ZipEntry z;
    z.name.assign(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    z.crc32 = static_cast<uint32_t>(le(h + 16, 4));
    uint64_t csize = le(h + 20, 4), usize = le(h + 24, 4), local = le(h + 42, 4), start_disk = le(h + 34, 2);
    // The ZIP64 extra field holds, in this order, those of the four values that are saturated above.
    const uint8_t* x = h + kCentralSize + name_len;
    for (uint64_t q = 0; q + 4 <= extra_len;) {
      const uint64_t id = le(x + q, 2), len = le(x + q + 2, 2);
      AFA_CHECK(q + 4 + len <= extra_len, path, ", zip entry '", z.name, "': bad extra field");
      if (id == 1) {
        uint64_t r = q + 4;
        auto take = [&](uint64_t& v, int n) {
          AFA_CHECK(r + n <= q + 4 + len, path, ", zip entry '", z.name, "': short ZIP64 extra field");
          v = le(x + r, n);
          r += n;
        };
        if (usize == k32) take(usize, 8);
        if (csize == k32) take(csize, 8);
        if (local == k32) take(local, 8);
        if (start_disk == 0xffff) take(start_disk, 4);
      }
      q += 4 + len;
    }
    AFA_CHECK(method == 0, path, ", zip entry '", z.name, "': compressed (method ", method,
              "); torch.save stores entries uncompressed, and only such archives are read");
    AFA_CHECK(!(flags & 1), path, ", zip entry '", z.name, "': encrypted");
    AFA_CHECK(csize == usize, path, ", zip entry '", z.name, "': stored entry whose sizes differ");
    AFA_CHECK(start_disk == 0, path, ", zip entry '", z.name, "': on another disk");
    // The data follows the entry's local header, whose name and extra lengths may differ from the directory's.
    AFA_CHECK(local <= size && size - local >= kLocalSize && le(data + local, 4) == kLocalSig, path,
              ", zip entry '", z.name, "': local header missing at byte ", local, " (truncated file?)");
    const uint64_t lmethod = le(data + local + 8, 2);
    AFA_CHECK(lmethod == 0, path, ", zip entry '", z.name, "': compressed (method ", lmethod, ")");
    z.offset = local + kLocalSize + le(data + local + 26, 2) + le(data + local + 28, 2);
    AFA_CHECK(z.offset <= size && usize <= size - z.offset, path, ", zip entry '", z.name, "': its ", usize,
              " bytes run past the end of the file (truncated file?)");
    z.size = usize;
    AFA_CHECK(index_.emplace(z.name, entries_.size()).second, path, ": zip entry '", z.name, "' appears twice");
    entries_.push_back(std::move(z));
    p += kCentralSize + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::verify_crc(const ZipEntry& e) const {
  const uint32_t c = crc32(data_ + e.offset, e.size);
  AFA_CHECK(c == e.crc32, path_, ", zip entry '", e.name, "': CRC-32 mismatch (corrupt file)");
}

}  // namespace afa::io
