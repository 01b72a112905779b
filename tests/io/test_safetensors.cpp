// The safetensors reader must survive every kind of broken file with an afa::Error naming the file and
// (where there is one) the tensor; the writer must round-trip dtypes, shapes and metadata.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/util/error.h"
#include "golden.h"

namespace fs = std::filesystem;
using afa::io::SafeTensorsFile;

namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("afa_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes an 8-byte length + header + data file with the given raw pieces.
  std::string raw(const std::string& name, const std::string& header, const std::string& data,
                  int64_t header_len = -1) {
    std::string p = (dir_ / name).string();
    std::ofstream f(p, std::ios::binary);
    uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << header << data;
    return p;
  }

  // Expects opening `path` to throw an afa::Error whose message contains the file and `needle`.
  void expect_error(const std::string& path, const std::string& needle) {
    try {
      SafeTensorsFile f(path);
      FAIL() << "no error for " << path;
    } catch (const afa::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
    }
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtypeAndMetadata) {
  std::vector<std::pair<std::string, torch::Tensor>> ts = {
      {"f32", torch::randn({2, 3})},
      {"f16", torch::randn({4}).to(torch::kHalf)},
      {"bf16", torch::randn({3, 1}).to(torch::kBFloat16)},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"i64", torch::arange(5, torch::kInt64)},
      {"i32", torch::arange(7, torch::kInt32)},
      {"u8", torch::arange(9, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"noncontig", torch::randn({4, 5}).t()},
  };
  std::string p = (dir_ / "rt.safetensors").string();
  afa::io::save_safetensors(p, ts, {{"format", "pt"}, {"note", "x"}});
  SafeTensorsFile f(p);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "x");
  ASSERT_EQ(f.names().size(), ts.size());
  for (const auto& [name, t] : ts) {
    auto got = f.get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, t.contiguous())) << name;
  }
  // Tensors view a private mapping: writing to one must not change the file.
  auto v = f.get("f32");
  v.zero_();
  EXPECT_TRUE(torch::equal(afa::io::load_safetensors(p).at("f32"), ts[0].second));
}

TEST_F(SafetensorsTest, ReadsTheGoldenFiles) {
  SafeTensorsFile f(afa::test::golden("pipelines/A.safetensors"));
  EXPECT_EQ(f.names().size(), 964u);
  auto t = f.get("model.diffusion_model.input_blocks.0.0.weight");
  EXPECT_EQ(t.scalar_type(), torch::kHalf);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{32, 4, 3, 3}));
}

TEST_F(SafetensorsTest, RejectsTruncatedFile) {
  std::string p = (dir_ / "t.safetensors").string();
  afa::io::save_safetensors(p, {{"a", torch::randn({16})}});
  fs::resize_file(p, fs::file_size(p) - 4);
  expect_error(p, "'a'");
  expect_error(p, "truncated");
}

TEST_F(SafetensorsTest, RejectsTooShortFile) { expect_error(raw("short", "", "").substr(0), "not a safetensors"); }

TEST_F(SafetensorsTest, RejectsHeaderLongerThanFile) {
  expect_error(raw("long", "{}", "", 4096), "past the end of the file");
  expect_error(raw("huge", "{}", "", int64_t(1) << 40), "100 MB");
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  expect_error(raw("bad1", "{\"a\": {\"dtype\": \"F32\",", ""), "not valid JSON");
  expect_error(raw("bad2", "[1, 2, 3]", ""), "not a JSON object");
  expect_error(raw("bad3", "{\"a\": 5}", ""), "'a'");
  expect_error(raw("bad4", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", "xxxx"), "data_offsets");
  expect_error(raw("bad5", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "xxxx"),
               "shape");
}

TEST_F(SafetensorsTest, RejectsOverlappingOffsets) {
  std::string h =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  expect_error(raw("overlap", h, std::string(12, '\0')), "overlaps");
}

TEST_F(SafetensorsTest, RejectsGapsAndTrailingBytes) {
  std::string h = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  expect_error(raw("gap", h, std::string(8, '\0')), "gap");
  std::string h2 = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  expect_error(raw("trail", h2, std::string(8, '\0')), "after the last tensor");
}

TEST_F(SafetensorsTest, RejectsWrongByteCount) {
  std::string h = R"({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 8]}})";
  expect_error(raw("count", h, std::string(8, '\0')), "'w': 8 bytes stored but dtype F16 x shape needs 6");
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  std::string h = R"({"w": {"dtype": "F8_E9", "shape": [1], "data_offsets": [0, 1]}})";
  expect_error(raw("dtype", h, std::string(1, '\0')), "unknown dtype 'F8_E9'");
}

TEST_F(SafetensorsTest, RejectsDuplicateNames) {
  std::string h =
      R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
      R"( "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})";
  expect_error(raw("dup", h, std::string(2, '\0')), "appears twice");
}

TEST_F(SafetensorsTest, RejectsEndBeforeBeginAndBadMetadata) {
  std::string h = R"({"a": {"dtype": "U8", "shape": [0], "data_offsets": [1, 0]}})";
  expect_error(raw("rev", h, std::string(1, '\0')), "end < begin");
  expect_error(raw("meta", R"({"__metadata__": {"k": 1}})", ""), "__metadata__");
}

TEST_F(SafetensorsTest, MissingFileAndMissingTensorAreErrors) {
  expect_error((dir_ / "nope.safetensors").string(), "cannot open");
  std::string p = (dir_ / "ok.safetensors").string();
  afa::io::save_safetensors(p, {{"a", torch::zeros({1})}});
  SafeTensorsFile f(p);
  EXPECT_THROW(f.get("b"), afa::Error);
}

TEST_F(SafetensorsTest, UnalignedDataIsCopied) {
  // One U8 byte first puts the F32 tensor at an odd address.
  std::string h =
      R"({"b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
      R"( "f": {"dtype": "F32", "shape": [1], "data_offsets": [1, 5]}})";
  float one = 1.0f;
  std::string data(1, '\x07');
  data.append(reinterpret_cast<const char*>(&one), 4);
  SafeTensorsFile f(raw("unaligned", h, data));
  EXPECT_EQ(f.get("f").item<float>(), 1.0f);
  EXPECT_EQ(f.get("b").item<uint8_t>(), 7);
}

}  // namespace
