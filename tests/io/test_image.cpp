#include <gtest/gtest.h>
#include <jpeglib.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "afa/io/image.h"
#include "afa/util/error.h"
#include "golden.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("afa_img_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write_jpeg(const std::string& path, const torch::Tensor& img, int quality) {
  FILE* f = std::fopen(path.c_str(), "wb");
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = img.size(1);
  c.image_height = img.size(0);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  for (int64_t y = 0; y < img.size(0); ++y) {
    JSAMPROW row = img.data_ptr<uint8_t>() + y * img.size(1) * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    afa::io::read_image(path);
    FAIL() << "no error for " << path;
  } catch (const afa::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << m;
  }
}

TEST(Image, PngRoundTripsPixelsAndUtf8Text) {
  auto dir = temp_dir();
  auto img = torch::randint(0, 256, {13, 7, 3}, torch::kUInt8);
  std::string p = (dir / "a.png").string();
  std::map<std::string, std::string> text = {
      {"parameters", "a café, 日本\nNegative prompt: blurry\nSteps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 42"},
      {"Software", "afa"}};
  afa::io::write_png(p, img, text);
  EXPECT_TRUE(torch::equal(afa::io::read_image(p), img));
  EXPECT_EQ(afa::io::read_png_text(p), text);
  // The file holds encode_png's bytes (what the server sends base64-encoded).
  std::ifstream in(p, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, afa::io::encode_png(img, text));
  fs::remove_all(dir);
}

TEST(Image, ReadsTheGoldenPngAsItsU8Tensor) {
  auto ref = afa::io::load_safetensors(afa::test::golden("t2i/ddim10_io.safetensors")).at("image_u8");
  auto img = afa::io::read_image(afa::test::golden("t2i/ddim10.png"));
  EXPECT_TRUE(torch::equal(img, ref.to(torch::kUInt8)));
}

TEST(Image, ReadsJpeg) {
  auto dir = temp_dir();
  auto img = torch::full({16, 24, 3}, 128, torch::kUInt8);
  img.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 8), 0}, 250);
  std::string p = (dir / "a.jpg").string();
  write_jpeg(p, img, 95);
  auto got = afa::io::read_image(p);
  ASSERT_EQ(got.sizes(), img.sizes());
  // Lossy: compare away from the colour edge, where chroma subsampling blurs.
  auto diff = (got.to(torch::kInt32) - img.to(torch::kInt32)).abs();
  EXPECT_LE(diff.index({torch::indexing::Slice(), torch::indexing::Slice(0, 6)}).max().item<int>(), 6);
  EXPECT_LE(diff.index({torch::indexing::Slice(), torch::indexing::Slice(10, 24)}).max().item<int>(), 6);
  fs::remove_all(dir);
}

TEST(Image, BadImagesAreErrorsNamingTheFile) {
  auto dir = temp_dir();
  std::string txt = (dir / "notes.png").string();
  std::ofstream(txt) << "this is not an image";
  expect_error(txt, "not a PNG or JPEG");
  std::string png = (dir / "trunc.png").string();
  afa::io::write_png(png, torch::randint(0, 256, {64, 64, 3}, torch::kUInt8));
  fs::resize_file(png, fs::file_size(png) / 2);
  expect_error(png, "not a valid PNG");
  std::string jpg = (dir / "trunc.jpg").string();
  write_jpeg(jpg, torch::randint(0, 256, {64, 64, 3}, torch::kUInt8), 90);
  std::string bytes;
  {
    std::ifstream in(jpg, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(jpg, std::ios::binary).write(bytes.data(), 20);
  expect_error(jpg, "JPEG");
  std::ofstream(jpg, std::ios::binary).write(bytes.data(), bytes.size() / 2);  // libjpeg only warns
  expect_error(jpg, "not a valid JPEG");
  expect_error((dir / "missing.png").string(), "cannot open");
  EXPECT_THROW(afa::io::write_png((dir / "x.png").string(), torch::zeros({4, 4, 3})), afa::Error);
  fs::remove_all(dir);
}

TEST(Image, ToUint8MatchesDiffusersRounding) {
  auto io = afa::io::load_safetensors(afa::test::golden("t2i/ddim10_io.safetensors"));
  auto u8 = afa::io::to_uint8_image(io.at("image_decoded")[0]);
  auto ref = io.at("image_u8").to(torch::kUInt8);
  // The decoded image here is the golden float output itself, so rounding must agree exactly.
  EXPECT_TRUE(torch::equal(u8, ref));
}

}  // namespace
