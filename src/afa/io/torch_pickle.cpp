#include "afa/io/torch_pickle.h"

#include <torch/torch.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <set>

#include "afa/io/mapped_file.h"
#include "afa/io/pickle_reader.h"
#include "afa/io/zip_archive.h"
#include "afa/util/error.h"

namespace afa::io {

namespace {

using Kind = PickleValue::Kind;

constexpr int kMaxDims = 64;
constexpr int64_t kLegacyProtocol = 1001;
// torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c as pickle's LONG1 stores it (little-endian).
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);

struct StorageType {
  const char* global;
  torch::ScalarType dtype;
};
const StorageType kStorageTypes[] = {
    {"torch.FloatStorage", torch::kFloat32}, {"torch.HalfStorage", torch::kFloat16},
    {"torch.BFloat16Storage", torch::kBFloat16}, {"torch.DoubleStorage", torch::kFloat64},
    {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
    {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
    {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool},
};

const StorageType* storage_type(const std::string& global) {
  for (const auto& t : kStorageTypes)
    if (global == t.global) return &t;
  return nullptr;
}

// What the loader builds itself (rebuilders, containers). Everything is interpreted here; nothing is called.
const std::set<std::string> kRebuilders = {
    "collections.OrderedDict",        "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",   "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    // Protocol 2 spells a bytes value as _codecs.encode(str, "latin1"); we decode that ourselves.
    "_codecs.encode",
    // Plain containers (Python 2 and 3 spellings).
    "__builtin__.set", "builtins.set", "torch.Size"};
// Inert values that Lightning training checkpoints keep beside the weights (the ModelCheckpoint callback's
// state, numpy scalars in it). They become placeholders, are never interpreted, and end up ignored.
const std::set<std::string> kPlaceholders = {
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", "numpy.core.multiarray.scalar",
    "numpy.dtype"};

// UTF-8 (as BINUNICODE stores a str) to latin-1 bytes, as str.encode("latin1") does; false if impossible.
bool utf8_to_latin1(const std::string& in, std::string& out) {
  out.clear();
  for (size_t k = 0; k < in.size(); ++k) {
    const auto c = static_cast<unsigned char>(in[k]);
    if (c < 0x80) {
      out.push_back(char(c));
    } else if ((c & 0xe0) == 0xc0 && k + 1 < in.size() && (static_cast<unsigned char>(in[k + 1]) & 0xc0) == 0x80) {
      const unsigned cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(in[k + 1]) & 0x3fu);
      if (cp < 0x80 || cp > 0xff) return false;
      out.push_back(char(cp));
      ++k;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

// Builds a TorchPickleFile's tables while the pickle machine runs; the hooks below are the allow-list.
struct TorchPickleParser {
  TorchPickleParser(TorchPickleFile& file, std::string w) : f(file), where(std::move(w)) {}

  TorchPickleFile& f;
  std::string where;  // "file" or "file, entry 'x/data.pkl'"
  bool legacy = false;
  std::map<std::string, size_t> storage_by_key;      // persistent-id key -> storages_ index
  std::vector<TorchPickleFile::Entry> tensors;       // tensor handle -> description
  std::function<uint64_t(const std::string& key, int64_t numel, torch::ScalarType)> locate;  // zip only
  uint64_t copied = 0;  // elements the calls below copied out of existing containers

  // A call copies a container the pickle may pass again and again (a few bytes per call): bounding the
  // total keeps a hostile pickle from taking quadratic time and memory (a state dict copies nothing:
  // torch.save fills its OrderedDict with SETITEMS).
  void copying(size_t n) {
    copied += n;
    if (copied > (uint64_t(1) << 22)) bad("pickle copies more than 2^22 container elements; not a state dict");
  }

  [[noreturn]] void bad(const std::string& what) const { fail(where, ": ", what); }

  PickleHooks hooks() {
    PickleHooks h;
    h.check_global = [this](const std::string& module, const std::string& name) {
      const std::string g = module + "." + name;
      if (!kRebuilders.count(g) && !kPlaceholders.count(g) && !storage_type(g))
        fail(f.path_, ": pickle calls forbidden global '", g,
             "'; refusing to load (only tensor state dicts are read)");
    };
    h.call = [this](PickleMachine& m, const PickleValue& g, const PickleValue& args) { return call(m, g, args); };
    h.build = [this](PickleValue& target, const PickleValue&) {
      // OrderedDict's _metadata, a Parameter's or placeholder's attributes: nothing a weight depends on.
      if (target.kind != Kind::Dict && target.kind != Kind::Object) bad("pickle BUILD on a " + describe(target));
    };
    h.persistent_load = [this](PickleMachine& m, const PickleValue& pid) { return persistent(m, pid); };
    return h;
  }

  int64_t as_int(const PickleValue& v, const char* what) const {
    if (v.kind != Kind::Int) bad(std::string(what) + " is a " + describe(v) + ", not an int");
    return v.i;
  }

  std::vector<int64_t> int_tuple(const PickleValue& v, const char* what) const {
    if (v.kind != Kind::Tuple) bad(std::string(what) + " is a " + describe(v) + ", not a tuple");
    if (v.items.size() > size_t(kMaxDims)) bad(std::string(what) + " has more than 64 dimensions");
    std::vector<int64_t> out;
    for (const auto& x : v.items) out.push_back(as_int(*x, what));
    return out;
  }

  // ('storage', torch.HalfStorage, key, location, numel[, view_metadata]) -> a storage object.
  PickleRef persistent(PickleMachine& m, const PickleValue& pid) {
    const size_t n = legacy ? 6 : 5;
    if (pid.kind != Kind::Tuple || pid.items.size() != n || pid.items[0]->kind != Kind::String ||
        pid.items[0]->s != "storage")
      bad("persistent id is a " + describe(pid) + ", not ('storage', type, key, location, numel" +
          (legacy ? ", view)" : ")"));
    const PickleValue& type = *pid.items[1];
    const StorageType* st = type.kind == Kind::Global ? storage_type(type.s) : nullptr;
    if (!st) bad("storage type is a " + describe(type) + ", not a torch.*Storage");
    if (pid.items[2]->kind != Kind::String) bad("storage key is a " + describe(*pid.items[2]));
    const std::string& key = pid.items[2]->s;
    const int64_t numel = as_int(*pid.items[4], "storage size");
    if (numel < 0) bad("storage '" + key + "' has negative size");
    if (legacy && pid.items[5]->kind != Kind::None) bad("storage views (torch < 0.4 files) are not supported");
    auto it = storage_by_key.find(key);
    if (it == storage_by_key.end()) {
      TorchPickleFile::Storage s;
      s.numel = numel;
      s.dtype = st->dtype;
      if (locate) s.offset = locate(key, numel, st->dtype);
      it = storage_by_key.emplace(key, f.storages_.size()).first;
      f.storages_.push_back(s);
    } else if (f.storages_[it->second].numel != numel || f.storages_[it->second].dtype != st->dtype) {
      bad("storage '" + key + "' is described twice, differently");
    }
    PickleRef r = m.make(Kind::Object);
    r->s = "storage";
    r->i = static_cast<int64_t>(it->second);
    return r;
  }

  // _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) -> a tensor object, its extent checked.
  PickleRef rebuild_tensor(PickleMachine& m, const PickleValue& a, size_t min_args, size_t max_args) {
    if (a.items.size() < min_args || a.items.size() > max_args) bad("tensor rebuilt from " + describe(a));
    const PickleValue& s = *a.items[0];
    if (s.kind != Kind::Object || s.s != "storage") bad("tensor over a " + describe(s) + ", not a storage");
    TorchPickleFile::Entry e;
    e.storage = static_cast<size_t>(s.i);
    const auto& st = f.storages_[e.storage];
    e.storage_offset = as_int(*a.items[1], "storage offset");
    e.info.shape = int_tuple(*a.items[2], "tensor size");
    e.stride = int_tuple(*a.items[3], "tensor stride");
    if (e.stride.size() != e.info.shape.size()) bad("tensor size and stride differ in length");
    e.info.dtype = dtype_name(st.dtype);
    // The last element's index: offset + sum (size-1)*stride, computed without overflow.
    if (e.storage_offset < 0) bad("negative storage offset");
    const uint64_t limit = uint64_t(1) << 62;
    if (static_cast<uint64_t>(e.storage_offset) > limit) bad("storage offset overflows");
    uint64_t last = static_cast<uint64_t>(e.storage_offset), numel = 1;
    for (size_t d = 0; d < e.stride.size(); ++d) {
      if (e.info.shape[d] < 0 || e.stride[d] < 0) bad("negative tensor size or stride");
      const auto n = static_cast<uint64_t>(e.info.shape[d]), s2 = static_cast<uint64_t>(e.stride[d]);
      if (n > 0 && numel > limit / n) bad("tensor size overflows");
      numel *= n;
      if (n > 0 && s2 > 0 && (n - 1) > (limit - last) / s2) bad("tensor extent overflows");
      if (n > 0) last += (n - 1) * s2;
    }
    const uint64_t es = c10::elementSize(st.dtype);
    if (numel > 0 && last >= static_cast<uint64_t>(st.numel))
      bad("tensor of size " + shape_str(e.info.shape) + " reaches element " + std::to_string(last) +
          " of a storage of " + std::to_string(st.numel) + " elements");
    e.info.begin = st.offset + (numel ? static_cast<uint64_t>(e.storage_offset) * es : 0);
    e.info.end = numel ? st.offset + (last + 1) * es : e.info.begin;
    tensors.push_back(std::move(e));
    PickleRef r = m.make(Kind::Object);
    r->s = "tensor";
    r->i = static_cast<int64_t>(tensors.size() - 1);
    return r;
  }

  static std::string shape_str(const std::vector<int64_t>& s) {
    std::string o = "[";
    for (size_t k = 0; k < s.size(); ++k) o += (k ? ", " : "") + std::to_string(s[k]);
    return o + "]";
  }

  PickleRef call(PickleMachine& m, const PickleValue& g, const PickleValue& a) {
    const std::string& name = g.s;
    if (name == "collections.OrderedDict") {
      PickleRef d = m.make(Kind::Dict);
      if (a.items.empty()) return d;
      if (a.items.size() != 1 || a.items[0]->kind != Kind::List) bad("OrderedDict of " + describe(a));
      copying(a.items[0]->items.size());
      for (const auto& p : a.items[0]->items) {
        if ((p->kind != Kind::Tuple && p->kind != Kind::List) || p->items.size() != 2)
          bad("OrderedDict item is a " + describe(*p) + ", not a pair");
        d->entries.emplace_back(p->items[0], p->items[1]);
      }
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(m, a, 6, 7);
    if (name == "torch._utils._rebuild_tensor") return rebuild_tensor(m, a, 4, 4);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.items.size() < 3 || a.items.size() > 4 || a.items[0]->kind != Kind::Object || a.items[0]->s != "tensor")
        bad("parameter rebuilt from " + describe(a));
      return a.items[0];  // a Parameter holds its tensor; requires_grad and hooks do not matter here
    }
    if (name == "_codecs.encode") {
      PickleRef b = m.make(Kind::Bytes);
      if (a.items.size() != 2 || a.items[0]->kind != Kind::String || a.items[1]->kind != Kind::String ||
          (a.items[1]->s != "latin1" && a.items[1]->s != "latin-1") || !utf8_to_latin1(a.items[0]->s, b->s))
        bad("_codecs.encode is only read for latin-1 bytes values");
      copying(b->s.size());
      return b;
    }
    if (name == "__builtin__.set" || name == "builtins.set" || name == "torch.Size") {
      PickleRef r = m.make(name == "torch.Size" ? Kind::Tuple : Kind::Set);
      if (a.items.size() > 1) bad(name + " of " + describe(a));
      if (a.items.size() == 1) {
        const PickleValue& x = *a.items[0];
        if (x.kind != Kind::List && x.kind != Kind::Tuple && x.kind != Kind::Set) bad(name + " of a " + describe(x));
        copying(x.items.size());
        r->items = x.items;
      }
      return r;
    }
    if (kPlaceholders.count(name)) {
      PickleRef r = m.make(Kind::Object);
      r->s = "placeholder " + name;
      return r;
    }
    bad("pickle calls " + name + ", which only appears inside a persistent id");
  }

  // The result: the "state_dict" entry of the top dict if there is one, else the top dict itself.
  void collect(const PickleValue& root) {
    if (root.kind != Kind::Dict) bad("pickle holds a " + describe(root) + ", not a dict of tensors");
    const PickleValue* dict = &root;
    for (const auto& [k, v] : root.entries)
      if (k->kind == Kind::String && k->s == "state_dict" && v->kind == Kind::Dict) dict = v.get();
    for (const auto& [k, v] : dict->entries) {
      if (v->kind != Kind::Object || v->s != "tensor") continue;  // plain values beside the weights
      if (k->kind != Kind::String) bad("a tensor's key is a " + describe(*k) + ", not a str");
      TorchPickleFile::Entry e = tensors[static_cast<size_t>(v->i)];
      e.info.name = k->s;
      auto it = f.index_.find(k->s);
      if (it == f.index_.end()) {
        f.names_.push_back(k->s);
        f.index_.emplace(k->s, std::move(e));
      } else {
        it->second = std::move(e);  // a dict keeps the last value of a key
      }
    }
    if (f.index_.empty()) bad("holds no tensors (not a state dict)");
    for (const auto& [n, e] : f.index_) ++f.storages_[e.storage].users;
  }

  // <name>/data.pkl at the archive's top level: <name> is the folder torch.save named after the file.
  void read_zip(const MappedFile& file) {
    TorchPickleParser& p = *this;
    ZipArchive zip(file.data(), file.size(), f.path());
    const ZipEntry* pkl = nullptr;
    std::string prefix;
    for (const auto& e : zip.entries()) {
      const auto slash = e.name.find('/');
      if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
        pkl = &e;
        prefix = e.name.substr(0, slash + 1);
        break;
      }
    }
    AFA_CHECK(pkl, f.path(), ": a zip archive without <name>/data.pkl is not a torch.save checkpoint");
    if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
      const std::string o(reinterpret_cast<const char*>(zip.bytes(*order)), order->size);
      AFA_CHECK(o == "little", f.path(), ": byte order '", o, "' (only little-endian checkpoints are read)");
    }
    zip.verify_crc(*pkl);
    p.where = f.path() + ", entry '" + pkl->name + "'";
    p.locate = [&](const std::string& key, int64_t numel, torch::ScalarType dtype) -> uint64_t {
      const ZipEntry* e = zip.find(prefix + "data/" + key);
      if (!e) p.bad("storage '" + key + "' has no entry " + prefix + "data/" + key);
      const uint64_t es = c10::elementSize(dtype);
      if (static_cast<uint64_t>(numel) > e->size / es || e->size != static_cast<uint64_t>(numel) * es)
        p.bad("storage '" + key + "' of " + std::to_string(numel) + " elements of " + std::to_string(es) +
              " bytes, but its entry holds " + std::to_string(e->size) + " bytes");
      return e->offset;
    };
    PickleMachine m(p.where, p.hooks());
    PickleRef root = m.load(zip.bytes(*pkl), pkl->size);
    p.collect(*root);
  }

  // Pickles in a row, then the storages' counts and bytes in the order the key list gives.
  void read_legacy(const MappedFile& file) {
    TorchPickleParser& p = *this;
    const uint8_t* data = file.data();
    const uint64_t size = file.size();
    uint64_t pos = 0, used = 0;
    p.legacy = true;
    p.where = f.path();
    PickleMachine m(f.path(), p.hooks());
    PickleRef magic = m.load(data, size, &used);
    AFA_CHECK(magic->kind == Kind::BigInt && magic->s == kLegacyMagic, f.path(),
              ": neither a zip archive nor a legacy torch.save file (no magic number)");
    pos += used;
    PickleRef version = m.load(data + pos, size - pos, &used);
    AFA_CHECK(version->kind == Kind::Int && version->i == kLegacyProtocol, f.path(), ": legacy protocol version ",
              describe(*version), " (only ", kLegacyProtocol, " is read)");
    pos += used;
    PickleRef info = m.load(data + pos, size - pos, &used);
    AFA_CHECK(info->kind == Kind::Dict, f.path(), ": legacy system info is a ", describe(*info));
    for (const auto& [k, v] : info->entries)
      if (k->kind == Kind::String && k->s == "little_endian")
        AFA_CHECK(v->kind == Kind::Bool && v->i == 1, f.path(), ": big-endian checkpoint (only little-endian is read)");
    pos += used;
    PickleRef root = m.load(data + pos, size - pos, &used);
    pos += used;
    PickleRef keys = m.load(data + pos, size - pos, &used);
    pos += used;
    AFA_CHECK(keys->kind == Kind::List, f.path(), ": legacy storage key list is a ", describe(*keys));
    std::set<std::string> seen;
    for (const auto& k : keys->items) {
      AFA_CHECK(k->kind == Kind::String, f.path(), ": legacy storage key is a ", describe(*k));
      auto it = p.storage_by_key.find(k->s);
      AFA_CHECK(it != p.storage_by_key.end(), f.path(), ": storage '", k->s, "' is listed but never used");
      AFA_CHECK(seen.insert(k->s).second, f.path(), ": storage '", k->s, "' is listed twice");
      auto& st = f.storages_[it->second];
      AFA_CHECK(size - pos >= 8, f.path(), ": storage '", k->s, "' is cut off (truncated file?)");
      uint64_t count = 0;
      for (int b = 7; b >= 0; --b) count = (count << 8) | data[pos + b];
      pos += 8;
      AFA_CHECK(count == static_cast<uint64_t>(st.numel), f.path(), ": storage '", k->s, "' holds ", count,
                " elements but the pickle says ", st.numel);
      const uint64_t es = c10::elementSize(st.dtype);
      AFA_CHECK(count <= (size - pos) / es, f.path(), ": storage '", k->s, "' runs past the end of the file (truncated?)");
      st.offset = pos;
      pos += count * es;
    }
    AFA_CHECK(seen.size() == p.storage_by_key.size(), f.path(), ": ", p.storage_by_key.size() - seen.size(),
              " storages are used but not stored");
    // Storage offsets are known only now: fix the tensors' byte ranges.
    for (auto& t : p.tensors) {
      const auto& st = f.storages_[t.storage];
      t.info.begin += st.offset;
      t.info.end += st.offset;
    }
    p.collect(*root);
  }
};

TorchPickleFile::TorchPickleFile(const std::string& path) : path_(path), file_(MappedFile::open(path)) {
  AFA_CHECK(file_->size() > 0, path, ": empty file");
  TorchPickleParser p(*this, path);
  if (looks_like_zip(file_->data(), file_->size())) {
    format_ = "zip";
    p.read_zip(*file_);
  } else {
    AFA_CHECK(!(file_->size() > 262 && std::memcmp(file_->data() + 257, "ustar", 5) == 0), path,
              ": a tar archive (torch < 0.4's format) is not supported");
    AFA_CHECK(file_->data()[0] == 0x80, path, ": not a torch.save checkpoint (neither a zip archive nor a pickle)");
    format_ = "legacy";
    p.read_legacy(*file_);
  }
}

TorchPickleFile::~TorchPickleFile() = default;

const TensorInfo& TorchPickleFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, ": no tensor named '", name, "'");
  return it->second.info;
}

torch::Tensor TorchPickleFile::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, ": no tensor named '", name, "'");
  const Entry& e = it->second;
  const Storage& st = storages_[e.storage];
  auto opts = torch::TensorOptions().dtype(st.dtype).device(torch::kCPU);
  if (e.info.begin == e.info.end) return torch::empty(e.info.shape, opts);
  uint8_t* base = file_->mutable_data() + st.offset;
  const size_t es = c10::elementSize(st.dtype);
  if (reinterpret_cast<uintptr_t>(base) % es != 0) {  // legacy files need not align storages: copy
    auto copy = torch::empty({st.numel}, opts);
    std::memcpy(copy.data_ptr(), base, static_cast<size_t>(st.numel) * es);
    return copy.as_strided(e.info.shape, e.stride, e.storage_offset).contiguous();
  }
  auto keep = file_;
  auto storage = torch::from_blob(base, {st.numel}, [keep](void*) {}, opts);
  auto t = storage.as_strided(e.info.shape, e.stride, e.storage_offset);
  // A view only when nothing else sees the same bytes, so that tensors never alias.
  if (st.users > 1 || !t.is_contiguous()) return t.clone(at::MemoryFormat::Contiguous);
  return t;
}

std::map<std::string, torch::Tensor> TorchPickleFile::all() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& n : names_) out.emplace(n, get(n));
  return out;
}

bool is_pickle_name(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  for (auto& ch : e) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return e == ".ckpt" || e == ".pt" || e == ".pth" || e == ".bin" || e == ".pkl";
}

std::map<std::string, torch::Tensor> load_torch_pickle(const std::string& path) { return TorchPickleFile(path).all(); }

}  // namespace afa::io
