#include "afa/io/safetensors_writer.h"

#include <unistd.h>

#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "afa/io/safetensors.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace afa::io {

SafeTensorsWriter::SafeTensorsWriter(std::string path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(std::move(path)), entries_(std::move(entries)) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& e : entries_) {
    if (e.name == "__metadata__") fail(path_, ": '__metadata__' cannot be a tensor name");
    if (!seen.insert(e.name).second) fail(path_, ": duplicate tensor name '", e.name, "'");
    uint64_t numel = 1;
    for (int64_t s : e.shape) numel *= static_cast<uint64_t>(s);
    const std::string dt = dtype_name(e.dtype);
    uint64_t bytes = numel * dtype_size(dt);
    header[e.name] = {{"dtype", dt}, {"shape", e.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');  // the data section starts 8-aligned

  target_ = atomic_target(path_);  // a link is written through; a device, FIFO or folder is refused
  tmp_ = target_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) fail(path_, ": cannot write (", std::strerror(errno), ")");
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((uint64_t(h.size()) >> (8 * i)) & 0xff);
  if (std::fwrite(len, 1, 8, file_) != 8 || std::fwrite(h.data(), 1, h.size(), file_) != h.size()) {
    int err = errno;
    abandon();
    fail("cannot write ", path_, ": ", std::strerror(err));
  }
}

SafeTensorsWriter::~SafeTensorsWriter() {
  if (!committed_) abandon();
}

void SafeTensorsWriter::abandon() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  if (!tmp_.empty()) std::remove(tmp_.c_str());
}

void SafeTensorsWriter::write(const std::string& name, const torch::Tensor& t) {
  AFA_CHECK(next_ >= entries_.size() || t.sizes().vec() == entries_[next_].shape || entries_[next_].name != name,
            path_, ", tensor '", name, "': shape ", t.sizes(), " does not match the header's ",
            c10::IntArrayRef(entries_[next_].shape));
  AFA_CHECK(rows_done_ == 0, path_, ", tensor '", name, "': written whole after some of its rows");
  if (t.dim() == 0) {
    append_rows(name, t.reshape({1}));  // a scalar is one row of one element
  } else {
    append_rows(name, t);
  }
}

void SafeTensorsWriter::append_rows(const std::string& name, const torch::Tensor& rows) {
  AFA_CHECK(file_ && !committed_, path_, ": write after commit or failure");
  AFA_CHECK(next_ < entries_.size(), path_, ": tensor '", name, "' is one more than the header lists");
  const Entry& e = entries_[next_];
  AFA_CHECK(e.name == name, path_, ": tensor '", name, "' written where the header expects '", e.name, "'");
  // Rows of a scalar entry: the one element.
  const int64_t total_rows = e.shape.empty() ? 1 : e.shape[0];
  std::vector<int64_t> row_shape(e.shape.empty() ? e.shape.begin() : e.shape.begin() + 1, e.shape.end());
  std::vector<int64_t> got = rows.sizes().vec();
  const int64_t n_rows = got.empty() ? 1 : got[0];
  std::vector<int64_t> got_row(got.empty() ? got.begin() : got.begin() + 1, got.end());
  AFA_CHECK(rows.scalar_type() == e.dtype && got_row == row_shape && rows_done_ + n_rows <= total_rows, path_,
            ", tensor '", name, "': ", c10::toString(rows.scalar_type()), " ", rows.sizes(),
            " does not match the header's ", c10::toString(e.dtype), " ", c10::IntArrayRef(e.shape));
  auto c = rows.detach().to(torch::kCPU).contiguous();
  size_t n = static_cast<size_t>(c.numel()) * c.element_size();
  if (n && std::fwrite(c.data_ptr(), 1, n, file_) != n) {
    int err = errno;
    abandon();
    fail("cannot write ", path_, ": ", std::strerror(err));
  }
  rows_done_ += n_rows;
  if (rows_done_ == total_rows) {
    ++next_;
    rows_done_ = 0;
  }
}

void SafeTensorsWriter::commit() {
  AFA_CHECK(file_ && !committed_, path_, ": commit after commit or failure");
  AFA_CHECK(next_ == entries_.size(), path_, ": only ", next_, " of ", entries_.size(), " tensors written");
  bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  int err = errno;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok) {
    abandon();
    fail("cannot write ", path_, ": ", std::strerror(err));
  }
  if (std::rename(tmp_.c_str(), target_.c_str()) != 0) {
    err = errno;
    abandon();
    fail(path_, ": cannot replace it (", std::strerror(err), ")");
  }
  committed_ = true;
}

}  // namespace afa::io
