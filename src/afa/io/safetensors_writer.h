// A streaming safetensors writer: the header (names, dtypes, shapes, metadata) is fixed first, then the
// tensors are written one at a time, so a caller never holds them all (a merge of N multi-GB models).
// The file appears atomically: a temporary beside the target, fsync, rename on commit(); a writer
// destroyed before commit() removes its temporary and leaves the target untouched.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace afa::io {

class SafeTensorsWriter {
 public:
  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
  };
  // Opens the temporary file and writes the header; throws afa::Error naming `path` on failure.
  SafeTensorsWriter(std::string path, std::vector<Entry> entries,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafeTensorsWriter();
  SafeTensorsWriter(const SafeTensorsWriter&) = delete;
  SafeTensorsWriter& operator=(const SafeTensorsWriter&) = delete;

  // The next tensor, in the order of `entries`; its name, dtype and shape must match the entry.
  void write(const std::string& name, const torch::Tensor& t);
  // Part of the next tensor: consecutive rows (dim 0) in order, so that a large tensor need not be in
  // memory whole; the entry is complete once all its rows are appended.
  void append_rows(const std::string& name, const torch::Tensor& rows);
  // After the last tensor: flush, fsync and rename the temporary onto the target.
  void commit();
  size_t written() const { return next_; }

 private:
  void abandon();
  std::string path_, target_, tmp_;  // target_: path_ or the file its link points to
  std::vector<Entry> entries_;
  std::FILE* file_ = nullptr;
  size_t next_ = 0;
  int64_t rows_done_ = 0;  // rows of entries_[next_] appended so far
  bool committed_ = false;
};

}  // namespace afa::io
