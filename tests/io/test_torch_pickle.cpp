// Pickled torch.save checkpoints: the golden .ckpt files (../shared/golden/ckpt/README.md) hold exactly
// A.safetensors' tensors; hostile pickles are refused naming the global without running anything; and
// hand-made malformed files (truncated, flipped, huge lengths, underflows, storages too small, compressed
// or ZIP64 archives) give afa::Error, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "afa/io/checkpoint.h"
#include "afa/io/pickle_reader.h"
#include "afa/io/safetensors.h"
#include "afa/io/torch_pickle.h"
#include "afa/io/zip_archive.h"
#include "afa/util/error.h"
#include "golden.h"
#include "torch_save_format.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace afa::io;
using afa::test::error_of;
using afa::test::golden;
using namespace afa::test::torch_save;
using namespace std::string_literals;

namespace {

#define EXPECT_MENTIONS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

const char* kMarker = "/tmp/afa-ckpt-pwned";

std::string ckpt(const std::string& name) { return golden("ckpt/" + name); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct Tmp {
  afa::test::TempDir dir{std::string("torch_pickle_") + ::testing::UnitTest::GetInstance()->current_test_info()->name()};
  std::string operator/(const std::string& n) const { return (dir.path / n).string(); }
};

// Same dtype and the same bits (floats compared as integers of their size, so -0 and NaN count too).
::testing::AssertionResult same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type()) return ::testing::AssertionFailure() << a.scalar_type() << " vs " << b.scalar_type();
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << a.sizes() << " vs " << b.sizes();
  auto bits = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    switch (c.element_size()) {
      case 8: return c.view(torch::kInt64);
      case 4: return c.view(torch::kInt32);
      case 2: return c.view(torch::kInt16);
      default: return c.view(torch::kUInt8);
    }
  };
  if (!torch::equal(bits(a), bits(b))) return ::testing::AssertionFailure() << "values differ";
  return ::testing::AssertionSuccess();
}

// Runs `bytes` through a machine whose hooks refuse everything.
PickleRef run_plain(PickleMachine& m, const std::string& bytes) {
  return m.load(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
PickleHooks refuse_all() {
  PickleHooks h;
  h.check_global = [](const std::string& m, const std::string& n) { afa::fail("global ", m, ".", n, " refused"); };
  h.call = [](PickleMachine&, const PickleValue&, const PickleValue&) -> PickleRef { afa::fail("no calls"); };
  h.build = [](PickleValue&, const PickleValue&) { afa::fail("no build"); };
  h.persistent_load = [](PickleMachine&, const PickleValue&) -> PickleRef { afa::fail("no persistent ids"); };
  return h;
}
std::string plain_error(const std::string& bytes) {
  return error_of([&] {
    PickleMachine m("test.pkl", refuse_all());
    run_plain(m, bytes);
  });
}

}  // namespace

TEST(TorchPickle, Crc32CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0xcbf43926u);
}

TEST(TorchPickle, GoldenFilesHoldTheSafetensorsTensors) {
  SafeTensorsFile ref(golden("pipelines/A.safetensors"));
  struct Case {
    const char* file;
    const char* format;
    bool upcast;
  } cases[] = {{"A.ckpt", "zip", true},      {"A_f16.ckpt", "zip", false},  {"A_flat.ckpt", "zip", false},
               {"A_legacy.ckpt", "legacy", false}, {"A_extra.ckpt", "zip", false}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    TorchPickleFile f(ckpt(c.file));
    EXPECT_EQ(f.format(), c.format);
    ASSERT_EQ(f.names().size(), ref.names().size());
    EXPECT_EQ(std::set<std::string>(f.names().begin(), f.names().end()),
              std::set<std::string>(ref.names().begin(), ref.names().end()));
    size_t upcast = 0;
    for (const auto& n : ref.names()) {
      torch::Tensor want = ref.get(n), got = f.get(n);
      EXPECT_EQ(f.info(n).shape, ref.info(n).shape) << n;
      if (c.upcast && want.is_floating_point()) {
        EXPECT_EQ(f.info(n).dtype, "F32") << n;
        EXPECT_TRUE(same_bits(got, want.to(torch::kFloat32))) << n;
        ++upcast;
      } else {
        EXPECT_EQ(f.info(n).dtype, ref.info(n).dtype) << n;
        EXPECT_TRUE(same_bits(got, want)) << n;
      }
    }
    if (c.upcast) {
      EXPECT_GT(upcast, 900u);
    }
  }
}

TEST(TorchPickle, ZipTensorsAreAlignedViewsOfTheFile) {
  TorchPickleFile f(ckpt("A_f16.ckpt"));
  const std::string n = "model.diffusion_model.out.2.weight";
  auto a = f.get(n), b = f.get(n);
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // both view the mapping
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % 64, 0u);
  a.zero_();  // copy-on-write: the file and a fresh reader are untouched
  EXPECT_TRUE(same_bits(TorchPickleFile(ckpt("A_f16.ckpt")).get(n), SafeTensorsFile(golden("pipelines/A.safetensors")).get(n)));
}

TEST(TorchPickle, LoadCheckpointOfCkptEqualsSafetensors) {
  const std::vector<std::string> cfg = {golden("pipelines/ldm_config.yaml"), golden("pipelines/text_encoder_config.json")};
  Checkpoint ref = load_checkpoint(golden("pipelines/A.safetensors"), cfg);
  for (const char* name : {"A_f16.ckpt", "A_legacy.ckpt", "A_extra.ckpt", "A.ckpt"}) {
    SCOPED_TRACE(name);
    Checkpoint ck = load_checkpoint(ckpt(name), cfg);
    EXPECT_EQ(ck.format, "ldm-single-file");
    EXPECT_EQ(ck.dtype, std::string(name) == "A.ckpt" ? "F32" : "F16");
    EXPECT_EQ(ck.scheduler_config, ref.scheduler_config);
    for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
      SCOPED_TRACE(component_name(c));
      const auto& a = ref.component(c);
      const auto& b = ck.component(c);
      EXPECT_EQ(a.config, b.config);
      EXPECT_EQ(b.source, ckpt(name));
      ASSERT_EQ(a.tensors.size(), b.tensors.size());
      for (const auto& [k, t] : a.tensors) {
        ASSERT_TRUE(b.tensors.count(k)) << k;
        const auto& u = b.tensors.at(k);
        EXPECT_TRUE(same_bits(u, u.scalar_type() == t.scalar_type() ? t : t.to(u.scalar_type()))) << k;
      }
    }
  }
  EXPECT_EQ(ref.unet.tensors.size(), 684u);
}

TEST(TorchPickle, HostileFilesAreRefusedNamingTheGlobal) {
  std::remove(kMarker);
  std::string err = error_of([] { TorchPickleFile f(ckpt("evil_os_system.ckpt")); });
  EXPECT_MENTIONS(err, "evil_os_system.ckpt");
  EXPECT_MENTIONS(err, "forbidden global 'posix.system'");
  err = error_of([] { TorchPickleFile f(ckpt("evil_builtins_eval.pkl")); });
  EXPECT_MENTIONS(err, "evil_builtins_eval.pkl");
  EXPECT_MENTIONS(err, "forbidden global '__builtin__.eval'");
  err = error_of([] { load_checkpoint(ckpt("evil_os_system.ckpt")); });
  EXPECT_MENTIONS(err, "forbidden global 'posix.system'");
  // STACK_GLOBAL (protocol 4) inside a zip, and a global that is only called later, are refused too.
  Tmp tmp;
  write_bytes(tmp / "sg.pt", zip_file({{"sg/data.pkl", "\x80\x04" + str("os") + str("system") + "\x93" + str("true") + "\x85R."}}));
  err = error_of([&] { TorchPickleFile f(tmp / "sg.pt"); });
  EXPECT_MENTIONS(err, "forbidden global 'os.system'");
  EXPECT_FALSE(fs::exists(kMarker));
}

TEST(TorchPickle, HandMadeLegacyAndZipFiles) {
  Tmp tmp;
  // w: 3 floats; v: elements 1 and 3 of a 4-float storage (stride 2); u and u2 share one storage.
  const std::string data3 = floats({1, 2, 3}), data4 = floats({10, 11, 12, 13});
  auto main = [](bool legacy) {
    return dict({{"w", tensor("0", 3, 0, {3}, {1}, legacy)},
                 {"v", tensor("1", 4, 1, {2}, {2}, legacy)},
                 {"u", tensor("1", 4, 0, {2, 2}, {2, 1}, legacy)},
                 {"step", num(470000)},
                 {"blob", glob("_codecs", "encode") + "(" + str("ab\xc3\xbf") + str("latin1") + "tR"}});
  };
  write_bytes(tmp / "l.ckpt", legacy_file(main(true), {{"0", data3}, {"1", data4}}));
  write_bytes(tmp / "z.ckpt", zip_file({{"z/data.pkl", pickle(main(false))}, {"z/data/0", data3}, {"z/data/1", data4},
                                        {"z/version", "3\n"}}));
  write_bytes(tmp / "z64.ckpt", zip_file({{"z/data.pkl", pickle(main(false))}, {"z/data/0", data3}, {"z/data/1", data4}}, true));
  for (const char* name : {"l.ckpt", "z.ckpt", "z64.ckpt"}) {
    SCOPED_TRACE(name);
    TorchPickleFile f(tmp / name);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "v", "u"}));
    EXPECT_TRUE(torch::equal(f.get("w"), torch::tensor({1.f, 2.f, 3.f})));
    EXPECT_TRUE(torch::equal(f.get("v"), torch::tensor({11.f, 13.f})));
    EXPECT_TRUE(torch::equal(f.get("u"), torch::tensor({10.f, 11.f, 12.f, 13.f}).view({2, 2})));
    auto v = f.get("v");
    auto u = f.get("u");
    u.fill_(0);  // tensors over one storage are copies: they never alias
    EXPECT_TRUE(torch::equal(v, torch::tensor({11.f, 13.f})));
    EXPECT_TRUE(f.get("u").is_contiguous() && f.get("v").is_contiguous());
  }
}

TEST(TorchPickle, LightningStyleCheckpointLoads) {
  // What training checkpoints carry beside the weights: a Parameter, the state dict's _metadata (BUILD),
  // the ModelCheckpoint callback keyed by its class with a numpy scalar inside, bytes via _codecs.
  Tmp tmp;
  const std::string param = glob("torch._utils", "_rebuild_parameter") + "(" + tensor("0", 3, 0, {3}, {1}, false) +
                            "\x88" + glob("collections", "OrderedDict") + ")Rt" + "R";
  const std::string sd = glob("collections", "OrderedDict") + ")R" + "(" + str("w") + param + "u" +
                         dict({{"_metadata", dict({{"", dict({{"version", num(1)}})}})}}) + "b";
  const std::string dtype = glob("numpy", "dtype") + "(" + str("f8") + "\x89\x88tR" + "(" + num(3) + str("<") +
                            "NNN" + num(-1) + num(-1) + num(0) + "tb";
  const std::string score = glob("numpy.core.multiarray", "scalar") + "(" + dtype + "C\x08" + std::string(8, '\0') + "tR";
  const std::string callbacks = "}(" + glob("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint") +
                                dict({{"best_model_score", score}, {"dirpath", str("/x")}}) + "u";
  const std::string top = dict({{"epoch", num(6)}, {"global_step", num(470000)}, {"state_dict", sd},
                                {"callbacks", callbacks}, {"hparams", glob("__builtin__", "set") + "(](" + num(1) + "etR"}});
  write_bytes(tmp / "l.ckpt", zip_file({{"l/data.pkl", pickle(top)}, {"l/data/0", floats({4, 5, 6})}}));
  TorchPickleFile f(tmp / "l.ckpt");
  EXPECT_EQ(f.names(), std::vector<std::string>{"w"});
  EXPECT_TRUE(torch::equal(f.get("w"), torch::tensor({4.f, 5.f, 6.f})));
  EXPECT_FALSE(f.get("w").requires_grad());
}

TEST(TorchPickle, MalformedHandMadeFilesAreErrors) {
  Tmp tmp;
  auto err_of_file = [&](const std::string& bytes, const char* ext = ".ckpt") {
    const std::string p = tmp / (std::string("m") + ext);
    write_bytes(p, bytes);
    return error_of([&] { TorchPickleFile f(p); });
  };
  const std::string d3 = floats({1, 2, 3});
  // A storage smaller than the tensor's extent, by size, by offset and by stride.
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 2, 0, {3}, {1}, true)}}), {{"0", floats({1, 2})}})),
                  "of a storage of 2 elements");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 1, {3}, {1}, true)}}), {{"0", d3}})), "reaches element 3");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {2}, {3}, true)}}), {{"0", d3}})), "reaches element 3");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {3}, {-1}, true)}}), {{"0", d3}})), "negative");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {1LL << 40, 1LL << 40}, {0, 0}, true)}}), {{"0", d3}})),
                  "overflows");
  // The pickle's storage size disagrees with the stored count; a storage cut off; one never stored.
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 4, 0, {3}, {1}, true)}}), {{"0", d3}})), "holds 3 elements");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {3}, {1}, true)}}), {{"0", d3}}).substr(0, 200)),
                  "m.ckpt");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {3}, {1}, true)}}), {})), "used but not stored");
  // A zip storage entry smaller than its tensor; a missing one; a compressed entry; big-endian data.
  EXPECT_MENTIONS(err_of_file(zip_file({{"z/data.pkl", pickle(dict({{"w", tensor("0", 4, 0, {3}, {1}, false)}}))}, {"z/data/0", d3}})),
                  "holds 12 bytes");
  EXPECT_MENTIONS(err_of_file(zip_file({{"z/data.pkl", pickle(dict({{"w", tensor("7", 3, 0, {3}, {1}, false)}}))}, {"z/data/0", d3}})),
                  "no entry z/data/7");
  EXPECT_MENTIONS(err_of_file(zip_file({{"z/data.pkl", pickle(dict({{"w", tensor("0", 3, 0, {3}, {1}, false)}}))}, {"z/data/0", d3}},
                              false, 8)),
                  "compressed");
  EXPECT_MENTIONS(err_of_file(zip_file({{"z/data.pkl", pickle(dict({{"w", tensor("0", 3, 0, {3}, {1}, false)}}))},
                                        {"z/byteorder", "big"}, {"z/data/0", d3}})),
                  "byte order 'big'");
  EXPECT_MENTIONS(err_of_file(zip_file({{"z/other.pkl", pickle("}")}})), "data.pkl");
  // No tensors; not a dict; a storage type that is not one; a tensor over a non-storage; BUILD on a list.
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"step", num(3)}}), {})), "no tensors");
  EXPECT_MENTIONS(err_of_file(legacy_file("]", {})), "not a dict");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", tensor("0", 3, 0, {3}, {1}, true, "FloatTensor")}}), {{"0", d3}})),
                  "forbidden global 'torch.FloatTensor'");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", glob("torch._utils", "_rebuild_tensor") + "(" + num(1) + num(0) +
                                                           tuple({1}) + tuple({1}) + "tR"}}),
                                          {})),
                  "not a storage");
  EXPECT_MENTIONS(err_of_file(legacy_file("]}b", {})), "BUILD on a list");
  EXPECT_MENTIONS(err_of_file(legacy_file(dict({{"w", glob("torch", "FloatStorage") + ")R"}}), {})), "persistent id");
  // One big list passed to OrderedDict again and again: stopped by the copy budget, not quadratic.
  std::string again = "](";
  for (int i = 0; i < 10000; ++i) again += "NN\x86";
  again += "eq\x01" + glob("collections", "OrderedDict") + "q\x02";
  for (int i = 0; i < 1000; ++i) again += "h\x02h\x01\x85R0";
  EXPECT_MENTIONS(err_of_file(legacy_file(again + "}", {})), "copies more than");
  // Not a checkpoint at all, an empty file, a tar archive.
  EXPECT_MENTIONS(err_of_file("PK"), "not a torch.save checkpoint");
  EXPECT_MENTIONS(err_of_file(""), "empty file");
  EXPECT_MENTIONS(err_of_file(pickle("K\x05")), "no magic number");
  EXPECT_MENTIONS(err_of_file(std::string(257, '\x80') + "ustar" + std::string(300, '\0')), "tar archive");
}

TEST(TorchPickle, PickleMachineRejectsBadPickles) {
  EXPECT_MENTIONS(plain_error("\x80\x02X\xff\xff\xff\x7f" "abc."), "truncated");            // huge BINUNICODE
  EXPECT_MENTIONS(plain_error("\x80\x02\x8e" + le(1ull << 62, 8) + "."), "truncated");      // huge BINBYTES8
  EXPECT_MENTIONS(plain_error("\x80\x02\x8b\xff\xff\xff\xff."), "negative LONG4");
  EXPECT_MENTIONS(plain_error("\x80\x02."), "stack underflow");
  EXPECT_MENTIONS(plain_error("\x80\x02Ns."), "stack underflow");
  EXPECT_MENTIONS(plain_error("\x80\x02(N\x86."), "stack underflow");  // TUPLE2 cannot reach below a MARK
  EXPECT_MENTIONS(plain_error("\x80\x02t."), "no MARK");
  EXPECT_MENTIONS(plain_error("\x80\x02\xff."), "unknown opcode");
  EXPECT_MENTIONS(plain_error("\x80\x02I1\n."), "protocol 0/1");
  EXPECT_MENTIONS(plain_error("\x80\x09N."), "protocol 9");
  EXPECT_MENTIONS(plain_error("\x80\x02h\x05."), "never stored");
  EXPECT_MENTIONS(plain_error("\x80\x02N"), "without STOP");
  EXPECT_MENTIONS(plain_error("\x80\x02NNa."), "APPEND to a None");
  EXPECT_MENTIONS(plain_error("\x80\x02}(Nu."), "odd number");
  EXPECT_MENTIONS(plain_error("\x80\x02" "cos\nsystem\n."), "global os.system refused");
  EXPECT_MENTIONS(plain_error("\x80\x02" "cos\nsys"), "not a line");
  EXPECT_MENTIONS(plain_error("\x80\x02\x82\x01."), "extension-registry");
  EXPECT_MENTIONS(plain_error("\x80\x02NN\x8c\x01xR."), "not of a global");
  EXPECT_MENTIONS(plain_error("test"), "test.pkl");
  // Deep nesting and a list that contains itself: built and torn down without recursion or leaks.
  std::string deep = "\x80\x02";
  for (int i = 0; i < 200000; ++i) deep += "]";
  for (int i = 0; i < 199999; ++i) deep += "a";
  deep += ".";
  EXPECT_EQ(plain_error(deep), "(no error)");
  PickleMachine m("self.pkl", refuse_all());
  PickleRef self = run_plain(m, "\x80\x02]q\x00h\x00" "a."s);
  ASSERT_EQ(self->items.size(), 1u);
  EXPECT_EQ(self->items[0].get(), self.get());
  // Values come out as written.
  PickleRef v = run_plain(m, "\x80\x02(J\xfe\xff\xff\xff\x8a\x02\x00\x80G\x3f\xf8\x00\x00\x00\x00\x00\x00\x88U\x02hiC\x01\x07t."s);
  ASSERT_EQ(v->items.size(), 6u);
  EXPECT_EQ(v->items[0]->i, -2);
  EXPECT_EQ(v->items[1]->i, -32768);
  EXPECT_EQ(v->items[2]->f, 1.5);
  EXPECT_EQ(v->items[3]->i, 1);
  EXPECT_EQ(v->items[4]->s, "hi");
  EXPECT_EQ(v->items[5]->s, "\x07");
}

TEST(TorchPickle, TruncatedGoldenFilesAreErrors) {
  Tmp tmp;
  for (const char* name : {"A_f16.ckpt", "A_legacy.ckpt"}) {
    SCOPED_TRACE(name);
    const std::string bytes = read_bytes(ckpt(name));
    ASSERT_GT(bytes.size(), 1000000u);
    // Every few bytes through the pickles and the directory, and a few cuts through the tensor data.
    std::vector<size_t> cuts;
    for (size_t c = 0; c < 170000; c += 1999) cuts.push_back(c);
    for (size_t c : {size_t(1), size_t(2), size_t(15), size_t(21), size_t(137), bytes.size() / 2, bytes.size() - 1})
      cuts.push_back(c);
    for (size_t back = 1; back < 110000; back += 5003) cuts.push_back(bytes.size() - back);
    for (size_t c : cuts) {
      write_bytes(tmp / name, bytes.substr(0, c));
      const std::string err = error_of([&] { TorchPickleFile f(tmp / name); });
      EXPECT_MENTIONS(err, tmp / name) << "cut at " << c;
    }
  }
}

TEST(TorchPickle, FlippedBytesAreErrorsOrHarmless) {
  Tmp tmp;
  // Zip: data.pkl is covered by its CRC, so any flip there is an error.
  const std::string zip = read_bytes(ckpt("A_f16.ckpt"));
  int errors = 0, tried = 0;
  for (size_t at = 64; at < 141000; at += 4099) {
    std::string b = zip;
    b[at] = char(b[at] ^ 0x5a);
    write_bytes(tmp / "f.ckpt", b);
    const std::string err = error_of([&] { TorchPickleFile f(tmp / "f.ckpt"); });
    EXPECT_MENTIONS(err, "CRC-32") << "flip at " << at;
  }
  // Legacy pickles have no checksum: a flip gives an error, or a file whose tensors all read (no UB).
  const std::string legacy = read_bytes(ckpt("A_legacy.ckpt"));
  for (size_t at = 0; at < 165900; at += 3001) {
    std::string b = legacy;
    b[at] = char(b[at] ^ 0xff);
    write_bytes(tmp / "f.ckpt", b);
    ++tried;
    const std::string err = error_of([&] {
      TorchPickleFile f(tmp / "f.ckpt");
      for (const auto& n : f.names()) f.get(n).sum();
    });
    if (err != "(no error)") {
      ++errors;
      EXPECT_MENTIONS(err, tmp / "f.ckpt");
    }
  }
  RecordProperty("legacy_flips", std::to_string(errors) + " errors of " + std::to_string(tried));
  EXPECT_GT(errors, tried / 2);  // most flips hit structure, not a key's letters (30 of 56 at these places)
  // The zip directory: flips there are errors or harmless too.
  for (size_t at = zip.size() - 100000; at < zip.size(); at += 3001) {
    std::string b = zip;
    b[at] = char(b[at] ^ 0xff);
    write_bytes(tmp / "f.ckpt", b);
    error_of([&] {
      TorchPickleFile f(tmp / "f.ckpt");
      for (const auto& n : f.names()) f.get(n).sum();
    });
  }
}

TEST(TorchPickle, DiffusersFolderWithPickleBinComponents) {
  // pipelines/A with its U-Net and text encoder re-stored as torch.save zips (diffusion_pytorch_model.bin,
  // transformers' pytorch_model.bin): the folder loads to the same weights.
  Tmp tmp;
  const fs::path dir = tmp / "A";
  fs::copy(golden("pipelines/A"), dir, fs::copy_options::recursive);
  auto to_bin = [&](const std::string& from, const std::string& to) {
    auto tensors = load_safetensors((dir / from).string());
    std::vector<std::pair<std::string, std::string>> entries, kv;
    int k = 0;
    for (const auto& [name, t] : tensors) {
      ASSERT_TRUE(t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kInt64) << name;
      const std::string key = std::to_string(k++);
      auto c = t.contiguous();
      kv.emplace_back(name, tensor(key, c.numel(), 0, c.sizes().vec(), c.strides().vec(), false,
                                   t.scalar_type() == torch::kInt64 ? "LongStorage" : "FloatStorage"));
      entries.emplace_back("archive/data/" + key,
                           std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
    }
    entries.insert(entries.begin(), {"archive/data.pkl", pickle(glob("collections", "OrderedDict") + ")R" + dict(kv).substr(1))});
    fs::remove(dir / from);
    write_bytes((dir / to).string(), zip_file(entries));
  };
  to_bin("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin");
  to_bin("text_encoder/model.safetensors", "text_encoder/pytorch_model.bin");
  Checkpoint ref = load_checkpoint(golden("pipelines/A"));
  Checkpoint ck = load_checkpoint(dir.string());
  EXPECT_EQ(ck.unet.source, (dir / "unet/diffusion_pytorch_model.bin").string());
  EXPECT_EQ(ck.text_encoder.source, (dir / "text_encoder/pytorch_model.bin").string());
  for (Component c : {Component::UNet, Component::VAE, Component::TextEncoder}) {
    SCOPED_TRACE(component_name(c));
    ASSERT_EQ(ck.component(c).tensors.size(), ref.component(c).tensors.size());
    for (const auto& [n, t] : ref.component(c).tensors) EXPECT_TRUE(same_bits(ck.component(c).tensors.at(n), t)) << n;
  }
}

TEST(TorchPickle, RandomlyMutatedSmallFilesAreErrorsOrLoad) {
  // Small hand-made files of both formats with 1 to 4 random bytes changed, thousands of times (fixed
  // seed): each gives an afa::Error or a file whose tensors all read; under ASan/UBSan, nothing else.
  Tmp tmp;
  auto main = [](bool legacy) {
    return dict({{"w", tensor("0", 3, 0, {3}, {1}, legacy)}, {"v", tensor("1", 4, 1, {2}, {2}, legacy, "HalfStorage")},
                 {"n", "(" + num(1) + "\x88" + glob("_codecs", "encode") + "(" + str("x") + str("latin1") + "tRt"}});
  };
  const std::string d3 = floats({1, 2, 3}), h4("\x00\x3c\x00\x40\x00\x42\x00\x44", 8);  // F16 1, 2, 3, 4
  const std::string legacy = legacy_file(main(true), {{"0", d3}, {"1", h4, 2}});
  const std::string zip = zip_file({{"z/data.pkl", pickle(main(false))}, {"z/data/0", d3}, {"z/data/1", h4}}, true);
  for (const std::string* b : {&legacy, &zip}) {
    write_bytes(tmp / "ok.ckpt", *b);
    TorchPickleFile f(tmp / "ok.ckpt");
    ASSERT_EQ(f.names(), (std::vector<std::string>{"w", "v"}));
    EXPECT_TRUE(torch::equal(f.get("v"), torch::tensor({2.f, 4.f}).to(torch::kHalf)));
  }
  std::mt19937 rng(1234);
  int loaded = 0, errors = 0;
  for (const std::string& base : {legacy, zip}) {
    for (int round = 0; round < 1500; ++round) {
      std::string b = base;
      const int changes = 1 + int(rng() % 4);
      for (int c = 0; c < changes; ++c) b[rng() % b.size()] = char(rng() & 0xff);
      write_bytes(tmp / "m.ckpt", b);
      const std::string err = error_of([&] {
        TorchPickleFile f(tmp / "m.ckpt");
        for (const auto& n : f.names()) f.get(n).to(torch::kFloat64).sum().item<double>();
      });
      if (err == "(no error)") ++loaded; else ++errors;
    }
  }
  RecordProperty("mutations", std::to_string(errors) + " errors, " + std::to_string(loaded) + " loaded");
  EXPECT_GT(errors, 1000);
  EXPECT_GT(loaded, 10);  // changes in tensor bytes or letters of keys leave a valid file
}
