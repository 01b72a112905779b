// numpy's .npy / .npz read without Python: arrays made here byte for byte as numpy writes them (format
// 1.0 and 2.0 headers, C and Fortran order), pytorch-fid's statistics layout, and broken files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "afa/io/npz_file.h"
#include "afa/util/error.h"
#include "test_util.h"
#include "torch_save_format.h"

namespace {

using namespace afa::test::torch_save;

// An .npy file: magic, version, header padded with spaces to a multiple of 64 ending in '\n', the data.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false,
                int major = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const size_t pre = major == 1 ? 10 : 12;
  dict += std::string((64 - (pre + dict.size() + 1) % 64) % 64, ' ') + "\n";
  return std::string("\x93NUMPY", 6) + char(major) + char(0) + le(dict.size(), major == 1 ? 2 : 4) + dict + data;
}

std::string doubles(const std::vector<double>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(NpzFile, ReadsArraysAsNumpyWritesThem) {
  afa::test::TempDir dir("npz_read");
  const auto path = (dir.path / "stats.npz").string();
  write_bytes(path, zip_file({{"mu.npy", npy("<f8", "(3,)", doubles({1.5, -2, 3}))},
                              {"sigma.npy", npy("<f8", "(2, 3)", doubles({1, 2, 3, 4, 5, 6}), true)},
                              {"f.npy", npy("<f4", "(2,)", floats({0.25f, 8}), false, 2)},
                              {"s.npy", npy("<i8", "()", le(7, 8))}}));
  const auto a = afa::io::load_npz(path);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_TRUE(torch::equal(a.at("mu"), torch::tensor({1.5, -2.0, 3.0}, torch::kFloat64)));
  // Fortran order: column-major bytes, the same logical array.
  EXPECT_TRUE(torch::equal(a.at("sigma"), torch::tensor({1.0, 3.0, 5.0, 2.0, 4.0, 6.0}, torch::kFloat64).view({2, 3})));
  EXPECT_TRUE(torch::equal(a.at("f"), torch::tensor({0.25f, 8.0f})));
  EXPECT_EQ(a.at("s").dim(), 0);
  EXPECT_EQ(a.at("s").item<int64_t>(), 7);
}

// A file written by Python's zipfile (the fuzz seed; numpy's np.savez uses the same module).
TEST(NpzFile, ReadsAnArchiveWrittenByPythonsZipfile) {
  const auto a = afa::io::load_npz(std::string(AFA_SOURCE_DIR) + "/fuzz/corpus/fuzz_npz/seed_stats.npz");
  EXPECT_TRUE(torch::equal(a.at("mu"), torch::tensor({0.5, -1.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(a.at("sigma"), torch::tensor({1.0, 0.1, 0.1, 2.0}, torch::kFloat64).view({2, 2})));
  EXPECT_EQ(a.at("n").item<int64_t>(), 7);
}

TEST(NpzFile, BrokenFilesAreClearErrors) {
  afa::test::TempDir dir("npz_bad");
  const auto path = (dir.path / "x.npz").string();
  auto err = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return afa::test::error_of([&] { afa::io::load_npz(path); });
  };
  EXPECT_NE(err("not a zip").find("not an .npz"), std::string::npos);
  EXPECT_NE(err(zip_file({{"a.npy", "garbage"}})).find("magic"), std::string::npos);
  EXPECT_NE(err(zip_file({{"a.npy", npy("<f8", "(4,)", doubles({1, 2}))}})).find("the shape needs 32"), std::string::npos);
  EXPECT_NE(err(zip_file({{"a.npy", npy(">f8", "(1,)", doubles({1}))}})).find("unsupported numpy dtype '>f8'"),
            std::string::npos);
  EXPECT_NE(err(zip_file({{"a.npy", npy("<f8", "(1,)", doubles({1}))}}, false, 8)).find("savez"), std::string::npos);
  const auto long_header = std::string("\x93NUMPY\x01\x00", 8) + le(60000, 2) + "{}";
  EXPECT_NE(err(zip_file({{"a.npy", long_header}})).find("runs past"), std::string::npos);
}

}  // namespace
