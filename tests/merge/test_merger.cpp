// The merge engine by hand on the tiny golden models: exact ends, block weights that move exactly their
// block, the file equal to the in-memory merge, recipes, refusals, folders, the streaming writer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "afa/io/safetensors.h"
#include "afa/io/safetensors_writer.h"
#include "afa/merge/merger.h"
#include "afa/io/sha256.h"
#include "merge_test_util.h"

namespace afa::merge {
namespace {

namespace fs = std::filesystem;
using afa::test::error_of;
using afa::test::golden;
using afa::test::TempDir;
using afa::test::tiny_file;
using nlohmann::json;

MergeOptions two(double alpha) {
  MergeOptions o;
  o.models = {tiny_file("A"), tiny_file("B")};
  o.alpha = {alpha};
  o.hash_inputs = false;
  return o;
}

bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

TEST(Merger, AlphaZeroAndOneReproduceTheModelsBitExactly) {
  io::SafeTensorsFile a(tiny_file("A")), b(tiny_file("B"));
  auto m0 = merge_in_memory(Merger(two(0.0)));
  auto m1 = merge_in_memory(Merger(two(1.0)));
  for (const auto& k : a.names()) {
    EXPECT_TRUE(bit_equal(m0.at(k), a.get(k))) << k;
    EXPECT_TRUE(bit_equal(m1.at(k), b.get(k))) << k;  // every key of the tiny files is merged
  }
}

TEST(Merger, EachBlockWeightMovesExactlyItsBlock) {
  io::SafeTensorsFile a(tiny_file("A")), b(tiny_file("B"));
  for (int block = 0; block < kNumBlocks; ++block) {
    MergeOptions o = two(0.0);
    o.alpha.clear();
    o.block_weights = BlockWeights{};
    o.block_weights->alpha[block] = 1.0;
    Merger m(o);
    auto merged = merge_in_memory(m);
    size_t moved = 0;
    for (const auto& p : m.plan()) {
      const bool mine = p.block == block;
      EXPECT_TRUE(bit_equal(merged.at(p.key), (mine ? b : a).get(p.key))) << kBlockIds[block] << " " << p.key;
      moved += mine;
    }
    EXPECT_GT(moved, 0u) << kBlockIds[block];
  }
}

TEST(Merger, FileEqualsTheInMemoryMergeAndKeepsTheDtype) {
  TempDir tmp("file_eq");
  Merger m(two(0.3));
  merge_to_file(m, tmp.file("out.safetensors"));
  auto in_memory = merge_in_memory(m);
  io::SafeTensorsFile out(tmp.file("out.safetensors"));
  io::SafeTensorsFile a(tiny_file("A"));
  ASSERT_EQ(out.names().size(), in_memory.size());
  for (const auto& k : a.names()) {
    EXPECT_EQ(out.info(k).dtype, "F16") << k;  // the inputs' dtype by default
    EXPECT_TRUE(bit_equal(out.get(k), in_memory.at(k))) << k;
  }
  EXPECT_FALSE(fs::exists(tmp.file("out.safetensors.tmp." + std::to_string(::getpid()))));
  // Written in slabs of rows, large tensors come out the same.
  for (auto method : {Method::kWeighted, Method::kAddDifference, Method::kTies}) {
    MergeOptions o = two(0.3);
    o.method = method;
    if (method != Method::kWeighted) o.models.push_back(tiny_file("C"));
    if (method == Method::kTies) o.density = 0.4;
    Merger ms(o);
    merge_to_file(ms, tmp.file("slabs.safetensors"), {}, 1000);
    io::SafeTensorsFile slabs(tmp.file("slabs.safetensors"));
    auto whole = merge_in_memory(ms);
    for (const auto& k : a.names()) EXPECT_TRUE(bit_equal(slabs.get(k), whole.at(k))) << k;
  }
  MergeOptions o = two(0.3);
  o.dtype = "f32";
  Merger m32(o);
  for (const auto& p : m32.plan()) EXPECT_EQ(p.dtype, torch::kFloat32);
  // F32 output is the float32 merge; its F16 rounding is the default output.
  auto f32 = merge_in_memory(m32);
  for (const auto& k : a.names()) EXPECT_TRUE(bit_equal(f32.at(k).to(torch::kFloat16), in_memory.at(k))) << k;
}

TEST(Merger, RecipeRoundTripsThroughTheMetadata) {
  TempDir tmp("recipe");
  MergeOptions o = two(0.3);
  o.hash_inputs = true;
  merge_to_file(Merger(o), tmp.file("ab.safetensors"));
  io::SafeTensorsFile out(tmp.file("ab.safetensors"));
  const auto& meta = out.metadata();
  ASSERT_TRUE(meta.count("sd_merge_recipe"));
  json r = json::parse(meta.at("sd_merge_recipe"));
  EXPECT_EQ(r["method"], "weighted");
  EXPECT_EQ(r["alpha"], json::array({0.3}));
  EXPECT_EQ(r["block_map"], "supermerger");
  ASSERT_EQ(r["models"].size(), 2u);
  const std::string sha_a = io::sha256_file(tiny_file("A"));
  EXPECT_EQ(r["models"][0]["sha256"], sha_a);
  EXPECT_EQ(r["models"][0]["name"], "A.safetensors");
  EXPECT_EQ(r["models"][1]["size"], fs::file_size(tiny_file("B")));
  EXPECT_EQ(r["primary_model_hash"], sha_a);
  EXPECT_EQ(r["interp_method"], "Weighted sum");
  json models = json::parse(meta.at("sd_merge_models"));
  EXPECT_EQ(models[sha_a]["name"], "A.safetensors");
  // The recipe reproduces the merge.
  MergeOptions again;
  for (const auto& m : r["models"]) again.models.push_back(golden("pipelines/" + m["name"].get<std::string>()));
  again.alpha = r["alpha"].get<std::vector<double>>();
  again.hash_inputs = false;
  auto re = merge_in_memory(Merger(again));
  for (const auto& k : out.names()) EXPECT_TRUE(bit_equal(out.get(k), re.at(k))) << k;
  // A merge of the merge keeps its ancestry.
  MergeOptions o2;
  o2.models = {tmp.file("ab.safetensors"), tiny_file("C")};
  merge_to_file(Merger(o2), tmp.file("abc.safetensors"));
  json models2 = json::parse(io::SafeTensorsFile(tmp.file("abc.safetensors")).metadata().at("sd_merge_models"));
  EXPECT_TRUE(models2.contains(sha_a));
  EXPECT_TRUE(models2[io::sha256_file(tmp.file("ab.safetensors"))]["sd_merge_recipe"].is_object());
}

TEST(Merger, Sha256KnownVectors) {
  EXPECT_EQ(io::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(io::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(io::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Merger, MismatchedModelsWriteNoFile) {
  TempDir tmp("mismatch");
  auto b = io::load_safetensors(tiny_file("B"));
  const std::string gone = "model.diffusion_model.middle_block.1.proj_in.weight";
  b.erase(gone);
  b["model.diffusion_model.out.2.bias"] = torch::zeros({5}, torch::kFloat16);
  io::save_safetensors(tmp.file("bad.safetensors"), b);
  std::string err = error_of([&] {
    MergeOptions o = two(0.5);
    o.models[1] = tmp.file("bad.safetensors");
    merge_to_file(Merger(o), tmp.file("out.safetensors"));
  });
  EXPECT_NE(err.find(gone), std::string::npos) << err;
  EXPECT_NE(err.find("out.2.bias"), std::string::npos) << err;
  EXPECT_NE(err.find("bad.safetensors"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp.file("out.safetensors")));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 1);
}

TEST(Merger, RefusesBadOptionsAndOverwritingAnInput) {
  TempDir tmp("refuse");
  fs::copy_file(tiny_file("A"), tmp.file("A.safetensors"));
  MergeOptions o = two(0.5);
  o.models[0] = tmp.file("A.safetensors");
  const auto before = fs::file_size(tmp.file("A.safetensors"));
  EXPECT_NE(error_of([&] { merge_to_file(Merger(o), tmp.file("A.safetensors")); }).find("is an input"),
            std::string::npos);
  EXPECT_EQ(fs::file_size(tmp.file("A.safetensors")), before);
  struct Case {
    std::function<void(MergeOptions&)> edit;
    std::string needle;
  } cases[] = {
      {[](MergeOptions& o) { o.method = Method::kAddDifference; }, "three models"},
      {[](MergeOptions& o) { o.alpha = {0.2, 0.2}; }, "sum to"},
      {[](MergeOptions& o) { o.density = 0.5; }, "--density"},
      {[](MergeOptions& o) { o.dtype = "f8"; }, "--dtype"},
      {[](MergeOptions& o) { o.models.push_back(tiny_file("C")); }, "--alpha"},
      {[](MergeOptions& o) { o.models[1] = o.models[0]; }, "twice"},
      {[](MergeOptions& o) { o.models[1] = "/nonexistent/B.safetensors"; }, "/nonexistent/B.safetensors"},
  };
  for (auto& c : cases) {
    MergeOptions bad = two(0.5);
    c.edit(bad);
    std::string err = error_of([&] { Merger m(bad); });
    EXPECT_NE(err.find(c.needle), std::string::npos) << c.needle << ": " << err;
  }
}

TEST(Merger, AddDifferenceAndNWeights) {
  io::SafeTensorsFile a(tiny_file("A")), b(tiny_file("B")), c(tiny_file("C"));
  MergeOptions ad;
  ad.models = {tiny_file("A"), tiny_file("B"), tiny_file("C")};
  ad.method = Method::kAddDifference;
  ad.alpha = {0.7};
  ad.dtype = "f32";
  ad.hash_inputs = false;
  auto r = merge_in_memory(Merger(ad));
  MergeOptions w3 = ad;
  w3.method = Method::kWeighted;
  w3.alpha = {0.5, 0.3, 0.2};
  auto r3 = merge_in_memory(Merger(w3));
  for (const auto& k : a.names()) {
    auto A = a.get(k).to(torch::kFloat64), B = b.get(k).to(torch::kFloat64), C = c.get(k).to(torch::kFloat64);
    EXPECT_LE(afa::test::max_abs_diff(r.at(k), A + (B - C) * 0.7), 1e-6) << k;
    EXPECT_LE(afa::test::max_abs_diff(r3.at(k), A * 0.5 + B * 0.3 + C * 0.2), 1e-6) << k;
  }
}

TEST(Merger, TiesOnTheModels) {
  io::SafeTensorsFile a(tiny_file("A"));
  MergeOptions o;
  o.models = {tiny_file("A"), tiny_file("B"), tiny_file("C")};
  o.method = Method::kTies;
  o.density = 0.3;
  o.alpha = {0.0};
  o.hash_inputs = false;
  auto zero = merge_in_memory(Merger(o));
  for (const auto& k : a.names()) EXPECT_TRUE(bit_equal(zero.at(k), a.get(k))) << k;
  o.alpha = {1.0};
  o.dare = true;
  o.seed = 5;
  auto d1 = merge_in_memory(Merger(o)), d2 = merge_in_memory(Merger(o));
  size_t changed = 0;
  for (const auto& k : a.names()) {
    EXPECT_TRUE(bit_equal(d1.at(k), d2.at(k))) << k;
    changed += !torch::equal(d1.at(k), a.get(k));
  }
  EXPECT_GT(changed, a.names().size() / 2);
}

TEST(Merger, FolderAndSingleFileMergeAlike) {
  MergeOptions file = two(0.3), folder = two(0.3);
  file.dtype = folder.dtype = "f32";
  folder.models[0] = golden("pipelines/A");
  auto x = merge_in_memory(Merger(file));
  Merger mf(folder);
  auto y = merge_in_memory(mf);
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [k, t] : x) EXPECT_TRUE(torch::equal(t, y.at(k))) << k;
  EXPECT_EQ(mf.inputs()[0]->format(), "diffusers");
}

TEST(Merger, PickleCheckpointsMergeLikeSafetensors) {
  // The golden .ckpt files hold A.safetensors' tensors: as inputs they must give the same merge, and a
  // one-input merge (what afa convert runs) must give back A's tensors exactly.
  auto y = merge_in_memory(Merger(two(0.3)));
  for (const char* name : {"A_f16.ckpt", "A_legacy.ckpt"}) {
    SCOPED_TRACE(name);
    MergeOptions o = two(0.3);
    o.models[0] = golden(std::string("ckpt/") + name);
    Merger m(o);
    EXPECT_EQ(m.inputs()[0]->format(), "ldm-single-file");
    auto x = merge_in_memory(m);
    ASSERT_EQ(x.size(), y.size());
    for (const auto& [k, t] : x) EXPECT_TRUE(bit_equal(t, y.at(k))) << k;
  }
  MergeOptions one;
  one.models = {golden("ckpt/A_f16.ckpt")};
  one.hash_inputs = false;
  auto conv = merge_in_memory(Merger(one));
  io::SafeTensorsFile a(tiny_file("A"));
  size_t same = 0;
  for (const auto& [k, t] : conv) {
    if (!a.contains(k)) continue;
    EXPECT_TRUE(bit_equal(t, a.get(k))) << k;
    ++same;
  }
  EXPECT_GT(same, 900u);
}

TEST(SafeTensorsWriter, StreamsAndLeavesNothingWhenAbandoned) {
  TempDir tmp("writer");
  const std::string path = tmp.file("w.safetensors");
  {
    io::SafeTensorsWriter w(path, {{"a", torch::kFloat32, {2}}, {"b", torch::kFloat16, {1, 3}}}, {{"k", "v"}});
    w.write("a", torch::tensor({1.f, 2.f}));
    EXPECT_NE(error_of([&] { w.write("a", torch::zeros({2})); }).find("expects 'b'"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator()), 0);
  io::SafeTensorsWriter w(path, {{"a", torch::kFloat32, {2}}, {"b", torch::kFloat16, {1, 3}}}, {{"k", "v"}});
  w.write("a", torch::tensor({1.f, 2.f}));
  EXPECT_NE(error_of([&] { w.write("b", torch::zeros({1, 3})); }).find("does not match"), std::string::npos);
  EXPECT_NE(error_of([&] { w.commit(); }).find("only 1 of 2"), std::string::npos);
  w.write("b", torch::ones({1, 3}, torch::kFloat16));
  w.commit();
  io::SafeTensorsFile f(path);
  EXPECT_EQ(f.metadata().at("k"), "v");
  EXPECT_TRUE(torch::equal(f.get("b"), torch::ones({1, 3}, torch::kFloat16)));
  // A tensor appended in slabs of rows, and a scalar.
  auto big = torch::arange(12, torch::kFloat32).reshape({4, 3});
  io::SafeTensorsWriter s(tmp.file("s.safetensors"), {{"big", torch::kFloat32, {4, 3}}, {"s", torch::kFloat32, {}}});
  s.append_rows("big", big.narrow(0, 0, 3));
  EXPECT_NE(error_of([&] { s.append_rows("big", big.narrow(0, 0, 2)); }).find("does not match"), std::string::npos);
  s.append_rows("big", big.narrow(0, 3, 1));
  s.write("s", torch::tensor(2.5f));
  s.commit();
  io::SafeTensorsFile sf(tmp.file("s.safetensors"));
  EXPECT_TRUE(torch::equal(sf.get("big"), big));
  EXPECT_EQ(sf.get("s").item<float>(), 2.5f);
}

}  // namespace
}  // namespace afa::merge
