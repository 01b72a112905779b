#include "afa/io/image.h"

#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <torch/torch.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "afa/util/atomic_file.h"
#include "afa/util/error.h"

namespace afa::io {

namespace {

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) std::fclose(f);
  }
};
using File = std::unique_ptr<FILE, FileCloser>;

File open_file(const std::string& path, const char* mode) {
  File f(std::fopen(path.c_str(), mode));
  if (!f) fail("cannot open ", path, ": ", std::strerror(errno));
  return f;
}

// libpng reports errors by longjmp to the caller's setjmp; the message is kept here. No C++ object is
// created between a setjmp and the libpng calls it guards, so the jump skips no destructor.
struct PngError {
  char message[256] = {0};
};
void png_error_fn(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof(e->message), "%s", msg);
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

// libpng allocates a chunk's declared length before reading it: a 100-byte file declaring a 1.6 GB
// chunk would cost 1.6 GB (found by fuzzing). Every declared length must fit in what the file holds.
void check_png_chunks(const std::string& path) {
  File f = open_file(path, "rb");
  std::fseek(f.get(), 0, SEEK_END);
  const long size = std::ftell(f.get());
  long pos = 8;  // after the signature
  unsigned char head[8];
  while (pos + 8 <= size) {
    std::fseek(f.get(), pos, SEEK_SET);
    if (std::fread(head, 1, 8, f.get()) != 8) break;
    const uint64_t length = (uint64_t(head[0]) << 24) | (uint64_t(head[1]) << 16) | (uint64_t(head[2]) << 8) | head[3];
    const std::string type(reinterpret_cast<const char*>(head + 4), 4);
    if (pos + 12 + int64_t(length) > size)
      fail(path, ": not a valid PNG image (chunk '", type, "' declares ", length, " bytes, the file has ",
           size - pos - 12, " left: truncated or corrupt)");
    if (type == "IEND") break;
    pos += 12 + long(length);
  }
}

// The simplified API does every conversion (palette, grey, 16-bit, alpha) and reports errors in-band.
torch::Tensor read_png(const std::string& path) {
  check_png_chunks(path);
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str()))
    fail(path, ": not a valid PNG image (", image.message, ")");
  image.format = PNG_FORMAT_RGB;
  if (image.width == 0 || image.height == 0 || uint64_t(image.width) * image.height > (1ull << 28)) {
    png_image_free(&image);
    fail(path, ": impossible PNG size ", image.width, "x", image.height);
  }
  auto img = torch::empty({int64_t(image.height), int64_t(image.width), 3}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, img.data_ptr<uint8_t>(), 0, nullptr))
    fail(path, ": not a valid PNG image (", image.message, ")");
  return img;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// libjpeg only warns about truncated or corrupt data and fills the rest with grey; a silently damaged
// image is worse than an error, so warnings (level -1) are fatal here.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
  }
}

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

torch::Tensor read_jpeg(const std::string& path) {
  File f = open_file(path, "rb");
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  torch::Tensor img;  // constructed before setjmp so that longjmp skips no destructors we need
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail(path, ": not a valid JPEG image (", err.message, ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f.get());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int64_t w = cinfo.output_width, h = cinfo.output_height;
  if (cinfo.output_components != 3 || w * h > (1ll << 28)) {
    jpeg_destroy_decompress(&cinfo);
    fail(path, ": unsupported JPEG (", cinfo.output_components, " channels, ", w, "x", h, ")");
  }
  img = torch::empty({h, w, 3}, torch::kUInt8);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.data_ptr<uint8_t>() + size_t(cinfo.output_scanline) * w * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return img;
}

}  // namespace

torch::Tensor read_image(const std::string& path) {
  unsigned char sig[8] = {0};
  {
    File f = open_file(path, "rb");
    if (std::fread(sig, 1, 8, f.get()) < 3) fail(path, ": too short to be an image");
  }
  if (png_sig_cmp(sig, 0, 8) == 0) return read_png(path);
  if (sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) return read_jpeg(path);
  fail(path, ": not a PNG or JPEG image");
}

namespace {
// libpng's write callback: append to a std::string.
void png_append(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}
void png_no_flush(png_structp) {}
}  // namespace

std::string encode_png(const torch::Tensor& image, const std::map<std::string, std::string>& text) {
  AFA_CHECK(image.dim() == 3 && (image.size(2) == 3 || image.size(2) == 1) && image.scalar_type() == torch::kUInt8,
            "encode_png needs a uint8 [H, W, 3 or 1] tensor, got ", image.sizes());
  auto img = image.to(torch::kCPU).contiguous();
  // volatile: read after setjmp returns through libpng's longjmp (-Wclobbered).
  const volatile int64_t h = img.size(0), w = img.size(1), c = img.size(2);
  // iTXt keeps UTF-8 prompts intact; A1111 reads both tEXt and iTXt.
  std::vector<png_text> chunks;
  for (const auto& [k, v] : text) {
    png_text t{};
    t.compression = PNG_ITXT_COMPRESSION_NONE;
    t.key = const_cast<char*>(k.c_str());
    t.text = const_cast<char*>(v.c_str());
    t.itxt_length = v.size();
    chunks.push_back(t);
  }
  std::string out;
  PngError err;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) fail("out of memory encoding a PNG");
  volatile bool ok = false;
  if (setjmp(png_jmpbuf(png)) == 0) {
    png_set_write_fn(png, &out, png_append, png_no_flush);
    png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8, c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (!chunks.empty()) png_set_text(png, info, chunks.data(), int(chunks.size()));
    png_write_info(png, info);
    for (int64_t y = 0; y < h; ++y) png_write_row(png, img.data_ptr<uint8_t>() + y * w * c);
    png_write_end(png, nullptr);
    ok = true;
  }
  png_destroy_write_struct(&png, &info);
  if (!ok) fail("cannot encode a PNG: ", err.message);
  return out;
}

void write_png(const std::string& path, const torch::Tensor& image, const std::map<std::string, std::string>& text) {
  AFA_CHECK(image.dim() == 3 && (image.size(2) == 3 || image.size(2) == 1) && image.scalar_type() == torch::kUInt8,
            path, ": write_png needs a uint8 [H, W, 3 or 1] tensor, got ", image.sizes());
  write_file_atomic(path, encode_png(image, text));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // A link is written through; a device, FIFO or folder is refused (util/atomic_file.h).
  const std::string target = atomic_target(path);
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  File f(std::fopen(tmp.c_str(), "wb"));
  if (!f) fail(path, ": cannot write (", std::strerror(errno), ")");
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f.get()) == bytes.size();
  ok = ok && std::fflush(f.get()) == 0 && ::fsync(fileno(f.get())) == 0;
  const int write_errno = errno;
  f.reset();
  if (!ok) {
    std::remove(tmp.c_str());
    fail("cannot write ", path, ": ", std::strerror(write_errno));
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    fail(path, ": cannot replace it (", std::strerror(err), ")");
  }
}

std::map<std::string, std::string> read_png_text(const std::string& path) {
  check_png_chunks(path);
  File f = open_file(path, "rb");
  std::map<std::string, std::string> out;
  PngError err;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) fail(path, ": out of memory reading PNG");
  png_textp texts = nullptr;
  volatile int n = -1;  // read after libpng's longjmp (-Wclobbered)
  if (setjmp(png_jmpbuf(png)) == 0) {
    // A compressed text chunk may inflate without bound (a decompression bomb): the generation
    // parameters are a few KB, so 16 MB per chunk is plenty.
    png_set_chunk_malloc_max(png, 16 << 20);
    png_init_io(png, f.get());
    png_read_info(png, info);
    n = png_get_text(png, info, &texts, nullptr);
  }
  for (int i = 0; i < n; ++i)
    out[texts[i].key] = std::string(texts[i].text, texts[i].itxt_length ? texts[i].itxt_length : texts[i].text_length);
  png_destroy_read_struct(&png, &info, nullptr);
  if (n < 0) fail(path, ": not a valid PNG image (", err.message, ")");
  return out;
}

torch::Tensor to_uint8_image(const torch::Tensor& chw) {
  AFA_CHECK(chw.dim() == 3, "to_uint8_image needs [C, H, W], got ", chw.sizes());
  auto x = (chw.to(torch::kFloat32).to(torch::kCPU) / 2 + 0.5).clamp(0, 1);
  return (x * 255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
}

}  // namespace afa::io
