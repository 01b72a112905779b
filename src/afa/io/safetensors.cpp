#include "afa/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "afa/io/mapped_file.h"
#include "afa/util/error.h"

namespace afa::io {

namespace {

// Bounds a header must respect: 100 MB is the limit the reference implementation uses.
constexpr uint64_t kMaxHeader = 100ull * 1000 * 1000;

struct DType {
  const char* name;
  torch::ScalarType type;
  size_t size;
};
const DType kDTypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8},  {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DType* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

torch::ScalarType dtype_from_name(const std::string& name) {
  const DType* d = find_dtype(name);
  AFA_CHECK(d, "unknown safetensors dtype '", name, "'");
  return d->type;
}

std::string dtype_name(torch::ScalarType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  fail("dtype ", c10::toString(t), " cannot be stored in safetensors");
}

size_t dtype_size(const std::string& name) {
  const DType* d = find_dtype(name);
  AFA_CHECK(d, "unknown safetensors dtype '", name, "'");
  return d->size;
}

// The file mapped privately (copy-on-write): tensors may be modified without touching the file.
struct SafeTensorsFile::Mapping {
  std::shared_ptr<MappedFile> file;
};

SafeTensorsFile::SafeTensorsFile(const std::string& path) : path_(path), map_(std::make_shared<Mapping>()) {
  map_->file = MappedFile::open(path);
  const uint64_t file_size = map_->file->size();
  if (file_size < 8) fail(path, ": not a safetensors file (", file_size, " bytes, shorter than the 8-byte header length)");
  const uint8_t* bytes = map_->file->data();

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeader)
    fail(path, ": header length ", header_len, " is larger than the 100 MB limit (not a safetensors file?)");
  if (header_len > file_size - 8)
    fail(path, ": header length ", header_len, " runs past the end of the file (", file_size,
         " bytes): truncated or not a safetensors file");
  if (header_len < 2 || bytes[8] != '{')
    fail(path, ": header is not a JSON object (not a safetensors file?)");

  // JSON objects keep the last of duplicate keys; the callback sees every top-level key to reject them.
  nlohmann::json header;
  std::set<std::string> keys;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
        !keys.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                   reinterpret_cast<const char*>(bytes + 8 + header_len), on_event);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": header is not valid JSON: ", e.what());
  }
  if (!duplicate.empty()) fail(path, ", tensor '", duplicate, "': name appears twice in the header");
  if (!header.is_object()) fail(path, ": header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<TensorInfo> infos;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(path, ": __metadata__ value '", m.key(), "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail(path, ", tensor '", name, "': entry is not an object");
    TensorInfo info;
    info.name = name;
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string()) fail(path, ", tensor '", name, "': missing or non-string dtype");
    if (sh == v.end() || !sh->is_array()) fail(path, ", tensor '", name, "': missing or non-array shape");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(path, ", tensor '", name, "': data_offsets must be two non-negative integers");
    info.dtype = dt->get<std::string>();
    const DType* d = find_dtype(info.dtype);
    if (!d) fail(path, ", tensor '", name, "': unknown dtype '", info.dtype, "'");
    uint64_t numel = 1;
    for (const auto& s : *sh) {
      if (!s.is_number_unsigned()) fail(path, ", tensor '", name, "': shape entries must be non-negative integers");
      uint64_t n = s.get<uint64_t>();
      if (n != 0 && numel > (UINT64_MAX / 8) / n) fail(path, ", tensor '", name, "': shape overflows");
      numel *= n;
      info.shape.push_back(static_cast<int64_t>(n));
    }
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.end < info.begin) fail(path, ", tensor '", name, "': data_offsets end < begin");
    if (info.end > data_size)
      fail(path, ", tensor '", name, "': data ends at byte ", info.end, " but the data section has only ",
           data_size, " bytes (truncated file?)");
    if (info.end - info.begin != numel * d->size)
      fail(path, ", tensor '", name, "': ", info.end - info.begin, " bytes stored but dtype ", info.dtype,
           " x shape needs ", numel * d->size);
    infos.push_back(std::move(info));
  }
  // Offsets must tile the data section exactly: ordered, no overlap, no holes.
  std::sort(infos.begin(), infos.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  for (const auto& info : infos) {
    if (info.begin < expect)
      fail(path, ", tensor '", info.name, "': data [", info.begin, ", ", info.end,
           ") overlaps the previous tensor");
    if (info.begin > expect)
      fail(path, ", tensor '", info.name, "': gap of ", info.begin - expect,
           " bytes before its data (offsets must be contiguous)");
    expect = info.end;
  }
  if (expect != data_size)
    fail(path, ": ", data_size - expect, " bytes after the last tensor (the data section must end there)");
  for (auto& info : infos) {
    names_.push_back(info.name);
    index_.emplace(info.name, std::move(info));
  }
  data_offset_ = 8 + header_len;
}

SafeTensorsFile::~SafeTensorsFile() = default;

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, ": no tensor named '", name, "'");
  return it->second;
}

torch::Tensor SafeTensorsFile::get(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const DType* d = find_dtype(ti.dtype);
  auto opts = torch::TensorOptions().dtype(d->type).device(torch::kCPU);
  uint8_t* ptr = map_->file->mutable_data() + data_offset_ + ti.begin;
  if (ti.end == ti.begin) return torch::empty(ti.shape, opts);
  if (reinterpret_cast<uintptr_t>(ptr) % d->size == 0) {
    auto keep = map_;
    return torch::from_blob(ptr, ti.shape, [keep](void*) {}, opts);
  }
  // Misaligned data (the format does not require alignment): copy.
  auto t = torch::empty(ti.shape, opts);
  std::memcpy(t.data_ptr(), ptr, ti.end - ti.begin);
  return t;
}

std::map<std::string, torch::Tensor> SafeTensorsFile::all() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& n : names_) out.emplace(n, get(n));
  return out;
}

std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  SafeTensorsFile f(path);
  return f.all();
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail(path, ": '__metadata__' cannot be a tensor name");
    if (!seen.insert(name).second) fail(path, ": duplicate tensor name '", name, "'");
    auto c = t.detach().to(torch::kCPU).contiguous();
    uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');  // pad so that the data section starts 8-aligned

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot write ", tmp, ": ", std::strerror(errno));
  bool ok = true;
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((uint64_t(h.size()) >> (8 * i)) & 0xff);
  ok = ok && std::fwrite(len, 1, 8, f) == 8;
  ok = ok && std::fwrite(h.data(), 1, h.size(), f) == h.size();
  for (const auto& c : data) {
    size_t n = static_cast<size_t>(c.numel()) * c.element_size();
    if (n) ok = ok && std::fwrite(c.data_ptr(), 1, n, f) == n;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("cannot write ", path, ": ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno));
  }
}

void save_safetensors_map(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> v(tensors.begin(), tensors.end());
  save_safetensors(path, v, metadata);
}

}  // namespace afa::io
