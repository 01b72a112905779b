#include "afa/train/model_identity.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "afa/io/sha256.h"
#include "afa/util/error.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kChunk = 64 * 1024;
constexpr int kSamples = 16;  // chunks per file besides the first

bool is_weight_file(const fs::path& p) {
  static const char* kExt[] = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"};
  const std::string e = p.extension().string();
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

// Feeds the file's first chunk and kSamples chunks evenly spaced up to its end into `h`.
void sample_file(const fs::path& p, uint64_t size, io::Sha256& h) {
  std::ifstream f(p, std::ios::binary);
  AFA_CHECK(f, p.string(), ": cannot read");
  std::string buf(kChunk, '\0');
  auto read_at = [&](uint64_t off) {
    const uint64_t n = std::min<uint64_t>(kChunk, size - off);
    f.seekg(std::streamoff(off));
    f.read(&buf[0], std::streamsize(n));
    AFA_CHECK(uint64_t(f.gcount()) == n, p.string(), ": cannot read ", n, " bytes at offset ", off);
    h.update(buf.data(), n);
  };
  if (size <= kChunk * (kSamples + 1)) {
    for (uint64_t off = 0; off < size; off += kChunk) read_at(off);
    return;
  }
  read_at(0);
  for (int i = 1; i <= kSamples; ++i) read_at((size - kChunk) * uint64_t(i) / kSamples);
}

}  // namespace

ModelIdentity model_identity(const std::string& path) {
  const fs::path root(path);
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(root, ec)) {
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec) && is_weight_file(it->path())) files.push_back(it->path());
    AFA_CHECK(!ec, path, ": cannot list the folder: ", ec.message());
    std::sort(files.begin(), files.end());
  } else {
    AFA_CHECK(fs::is_regular_file(root, ec), path, ": no such model file or folder");
    files.push_back(root);
  }
  ModelIdentity m;
  m.name = root.lexically_normal().filename().string();
  if (m.name.empty() || m.name == ".") m.name = fs::absolute(root).lexically_normal().parent_path().filename().string();
  io::Sha256 h;
  for (const auto& f : files) {
    const uint64_t size = fs::file_size(f, ec);
    AFA_CHECK(!ec, f.string(), ": ", ec.message());
    const std::string rel = f == root ? f.filename().string() : f.lexically_relative(root).generic_string();
    // The relative name and size go in too, so that moved or resized files change the identity.
    const std::string head = rel + '\0' + std::to_string(size) + '\0';
    h.update(head.data(), head.size());
    sample_file(f, size, h);
    m.size += size;
  }
  m.fingerprint = h.hex();
  return m;
}

nlohmann::json to_json(const ModelIdentity& m) {
  return {{"name", m.name}, {"size", m.size}, {"fingerprint", m.fingerprint}};
}

ModelIdentity identity_from_json(const nlohmann::json& j) {
  ModelIdentity m;
  m.name = j.value("name", "");
  m.size = j.value("size", uint64_t(0));
  m.fingerprint = j.value("fingerprint", "");
  return m;
}

std::string identity_mismatch(const std::vector<ModelIdentity>& recorded, const std::vector<ModelIdentity>& given,
                              const std::vector<std::string>& given_paths) {
  std::ostringstream out;
  if (recorded.size() != given.size()) {
    out << "the checkpoint was trained with " << recorded.size() << " models, " << given.size() << " are given";
    return out.str();
  }
  if (std::equal(recorded.begin(), recorded.end(), given.begin())) return "";
  auto describe = [](const ModelIdentity& m) {
    return m.name + " (" + std::to_string(m.size) + " bytes, " + m.fingerprint.substr(0, 12) + ")";
  };
  bool permutation = std::is_permutation(recorded.begin(), recorded.end(), given.begin());
  out << (permutation ? "the same models in another order: aggregator slot i belongs to model i; "
                      : "other models than the checkpoint was trained with; ");
  for (size_t i = 0; i < given.size(); ++i)
    if (recorded[i] != given[i])
      out << "model " << i << " is " << given_paths.at(i) << " = " << describe(given[i]) << ", recorded "
          << describe(recorded[i]) << "; ";
  std::string s = out.str();
  return s.substr(0, s.size() - 2);
}

}  // namespace afa::train
