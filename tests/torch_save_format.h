// Hand-made torch.save files for tests (no Python): protocol-2 pickles as torch.save writes them, the
// legacy (pre-1.6) layout, and the zip layout (stored entries, data aligned to 64 bytes, optional ZIP64).
// Also a plain zip writer for other zip-based formats (numpy's .npz).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "afa/io/zip_archive.h"

namespace afa::test::torch_save {

using afa::io::crc32;

inline std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
  return s;
}
inline std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
inline std::string num(int64_t v) {
  if (v >= 0 && v < 256) return "K" + le(v, 1);
  if (v >= INT32_MIN && v <= INT32_MAX) return "J" + le(uint64_t(v), 4);
  return "\x8a\x08" + le(uint64_t(v), 8);  // LONG1
}
inline std::string glob(const std::string& m, const std::string& n) { return "c" + m + "\n" + n + "\n"; }
inline std::string tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (auto x : v) s += num(x);
  return s + "t";
}
// _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())
inline std::string tensor(const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                   const std::vector<int64_t>& stride, bool legacy, const std::string& type = "FloatStorage") {
  return glob("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") + glob("torch", type) + str(key) +
         str("cpu") + num(numel) + (legacy ? "N" : "") + "tQ" + num(offset) + tuple(size) + tuple(stride) + "\x89" +
         glob("collections", "OrderedDict") + ")Rt" + "R";
}
// {name: value, ...} with SETITEMS
inline std::string dict(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string s = "}(";
  for (const auto& [k, v] : kv) s += str(k) + v;
  return s + "u";
}
inline std::string pickle(const std::string& body) { return "\x80\x02" + body + "."; }
inline std::string floats(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

inline const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);

// A legacy file: magic, version, sys info, `main`, the key list, then the storages (key, element count, bytes).
struct StorageBytes {
  std::string key, bytes;
  int elem = 4;  // element size
};
inline std::string legacy_file(const std::string& main, const std::vector<StorageBytes>& storages) {
  std::string s = pickle("\x8a\x0a" + kMagic) + pickle("M" + le(1001, 2)) +
                  pickle(dict({{"protocol_version", "M" + le(1001, 2)}, {"little_endian", "\x88"}})) + pickle(main);
  std::string keys = "](";
  for (const auto& st : storages) keys += str(st.key);
  s += pickle(keys + "e");
  for (const auto& st : storages) s += le(st.bytes.size() / st.elem, 8) + st.bytes;
  return s;
}

// A zip archive of stored entries as torch writes it (data aligned to 64 bytes); zip64 writes every size
// and offset through ZIP64 extra fields and end records, as torch does for archives over 4 GB.
inline std::string zip_file(const std::vector<std::pair<std::string, std::string>>& entries, bool zip64 = false,
                     uint16_t method = 0) {
  std::string out, cd;
  for (const auto& [name, data] : entries) {
    const uint64_t local = out.size();
    const uint32_t crc = crc32(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    size_t pad = (64 - (local + 30 + name.size() + 4) % 64) % 64;
    std::string extra = le(0x4655, 2) + le(pad, 2) + std::string(pad, 'Z');
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(crc, 4) + le(data.size(), 4) +
           le(data.size(), 4) + le(name.size(), 2) + le(extra.size(), 2) + name + extra + data;
    const uint32_t sat = 0xffffffffu;
    std::string x64 = zip64 ? le(1, 2) + le(24, 2) + le(data.size(), 8) + le(data.size(), 8) + le(local, 8) : "";
    cd += le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(crc, 4) +
          le(zip64 ? sat : data.size(), 4) + le(zip64 ? sat : data.size(), 4) + le(name.size(), 2) +
          le(x64.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(zip64 ? sat : local, 4) + name + x64;
  }
  const uint64_t cd_at = out.size();
  out += cd;
  if (zip64) {
    const uint64_t e64 = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(entries.size(), 8) +
           le(entries.size(), 8) + le(cd.size(), 8) + le(cd_at, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(e64, 8) + le(1, 4);
    out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(0xffff, 2) + le(0xffff, 2) + le(0xffffffffu, 4) +
           le(0xffffffffu, 4) + le(0, 2);
  } else {
    out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(entries.size(), 2) + le(entries.size(), 2) +
           le(cd.size(), 4) + le(cd_at, 4) + le(0, 2);
  }
  return out;
}

// One tensor of a hand-made state dict: its storage class (FloatStorage, HalfStorage, LongStorage, ...),
// the raw little-endian bytes of its elements, row-major.
struct SavedTensor {
  std::string name, storage_type;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  std::string bytes;
};

// A state-dict file in torch.save's zip format: {name: tensor, ...}, one storage per tensor.
inline std::string state_dict_file(const std::string& archive, const std::vector<SavedTensor>& tensors) {
  std::vector<std::pair<std::string, std::string>> kv, entries;
  entries.emplace_back(archive + "/data.pkl", "");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    std::vector<int64_t> stride(t.shape.size(), 1);
    for (int d = int(t.shape.size()) - 2; d >= 0; --d) stride[d] = stride[d + 1] * t.shape[d + 1];
    const std::string key = std::to_string(i);
    kv.emplace_back(t.name, tensor(key, t.numel, 0, t.shape, stride, false, t.storage_type));
    entries.emplace_back(archive + "/data/" + key, t.bytes);
  }
  entries[0].second = pickle(dict(kv));
  return zip_file(entries);
}

}  // namespace afa::test::torch_save
