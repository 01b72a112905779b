#include "afa/merge/model_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <torch/torch.h>

#include <cerrno>
#include <cstring>

#include "afa/io/checkpoint.h"
#include "afa/util/error.h"

namespace afa::merge {

// The file mapped privately (copy-on-write), as io::SafeTensorsFile maps it.
struct ModelSource::Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
};

ModelSource::ModelSource(const std::string& path) : path_(path) {
  format_ = io::checkpoint_format(path);
  if (format_ == "ldm-single-file" && io::is_pickle_name(path)) {
    pickle_ = std::make_shared<io::TorchPickleFile>(path);  // validates the structure; runs nothing
    for (const auto& name : pickle_->names()) {
      if (name.rfind("model_ema.", 0) == 0) continue;
      std::string key = io::canonical_ldm_name(name);
      const auto& info = pickle_->info(name);
      if (!index_.emplace(key, Entry{name, 0, 0, info.shape, io::dtype_from_name(info.dtype), {}}).second)
        fail(path, ": key '", name, "' appears twice (with and without text_model.)");
      keys_.push_back(key);
    }
  } else if (format_ == "ldm-single-file") {
    file_ = std::make_shared<io::SafeTensorsFile>(path);  // validates the header and the offsets
    map_ = std::make_shared<Mapping>();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open ", path, ": ", std::strerror(errno));
    map_->size = static_cast<size_t>(::lseek(fd, 0, SEEK_END));
    map_->addr = mmap(nullptr, map_->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map_->addr == MAP_FAILED) fail("cannot map ", path, ": ", std::strerror(errno));
    const auto* bytes = static_cast<const uint8_t*>(map_->addr);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    data_offset_ = 8 + header_len;
    for (const auto& name : file_->names()) {
      if (name.rfind("model_ema.", 0) == 0) continue;
      std::string key = io::canonical_ldm_name(name);
      const auto& info = file_->info(name);
      Entry e{name, info.begin, info.end, info.shape, io::dtype_from_name(info.dtype), {}};
      if (!index_.emplace(key, std::move(e)).second)
        fail(path, ": key '", name, "' appears twice (with and without text_model.)");
      keys_.push_back(key);
    }
  }
  if (format_ == "ldm-single-file") {
    bool any = false;
    for (const auto& k : keys_) any = any || io::ldm_component(k).has_value();
    AFA_CHECK(any, path, ": not an LDM single-file checkpoint: no model.diffusion_model.*, first_stage_model.* or "
              "cond_stage_model.transformer.* keys");
    return;
  }
  // A folder: the loader validates every component against its config; the tensors stay mapped views.
  io::Checkpoint ck = io::load_checkpoint(path);
  for (io::Component c : {io::Component::TextEncoder, io::Component::VAE, io::Component::UNet}) {
    const auto& w = ck.component(c);
    for (const auto& e : io::component_params(c, w.config, w.source)) {
      torch::Tensor t = io::diffusers_to_ldm(e, w.tensors.at(e.diffusers));
      index_.emplace(e.ldm, Entry{std::string(io::component_name(c)) + "/" + e.diffusers, 0, 0, io::ldm_shape(e),
                                  t.scalar_type(), t});
      keys_.push_back(e.ldm);
    }
  }
}

const ModelSource::Entry& ModelSource::at(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end()) fail(path_, ": no tensor '", key, "'");
  return it->second;
}

torch::Tensor ModelSource::get(const std::string& key) const {
  const Entry& e = at(key);
  if (pickle_) return pickle_->get(e.stored);
  if (!map_) return e.tensor;
  auto opts = torch::TensorOptions().dtype(e.dtype);
  if (e.end == e.begin) return torch::empty(e.shape, opts);
  uint8_t* ptr = static_cast<uint8_t*>(map_->addr) + data_offset_ + e.begin;
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.dtype) == 0) {
    auto keep = map_;
    return torch::from_blob(ptr, e.shape, [keep](void*) {}, opts);
  }
  auto t = torch::empty(e.shape, opts);  // misaligned (the format allows it): copy
  std::memcpy(t.data_ptr(), ptr, e.end - e.begin);
  return t;
}

void ModelSource::release(const std::string& key, int64_t row_begin, int64_t row_end) const {
  if (!map_) return;
  const Entry& e = at(key);
  uint64_t lo = e.begin, hi = e.end;
  const int64_t rows = e.shape.empty() ? 1 : e.shape[0];
  if (rows > 0 && (row_begin > 0 || (row_end >= 0 && row_end < rows))) {
    const uint64_t row_bytes = (e.end - e.begin) / static_cast<uint64_t>(rows);
    lo = e.begin + row_bytes * static_cast<uint64_t>(row_begin);
    hi = e.begin + row_bytes * static_cast<uint64_t>(row_end < 0 ? rows : row_end);
  }
  // Whole pages inside the range only, so that a neighbour's pages stay.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_->addr) + data_offset_;
  uintptr_t begin = (base + lo + page - 1) / page * page, end = (base + hi) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

const std::map<std::string, std::string>& ModelSource::metadata() const {
  static const std::map<std::string, std::string> none;
  return file_ ? file_->metadata() : none;
}

bool is_mergeable_key(const std::string& key) {
  if (!io::ldm_component(key) || io::is_ignorable_ldm_key(key)) return false;
  return key.find("weight") != std::string::npos || key.find("bias") != std::string::npos;
}

}  // namespace afa::merge
