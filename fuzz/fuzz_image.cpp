// PNG and JPEG decoding (libpng / libjpeg behind afa's reader) and PNG text chunks.
#include "afa/io/image.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool jpeg = size > 0 && (data[0] & 1);  // the reader goes by content; the name varies too
  const std::string path = afa::fuzz::write_input(jpeg ? "in.jpg" : "in.png", data, size);
  afa::fuzz::expect_only_afa_errors([&] {
    auto img = afa::io::read_image(path);
    if (img.dim() != 3 || img.size(2) != 3) __builtin_trap();
  });
  afa::fuzz::expect_only_afa_errors([&] { afa::io::read_png_text(path); });
  return 0;
}
