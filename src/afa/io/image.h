// Images in and out: PNG and JPEG decoding to RGB, PNG encoding with text chunks (A1111 reads the
// generation parameters from a tEXt chunk named "parameters").
#pragma once

#include <torch/types.h>

#include <map>
#include <string>

namespace afa::io {

// Decodes a PNG or JPEG file (detected by its signature) to a uint8 tensor [H, W, 3] (RGB; grey and
// palette expanded, alpha dropped, 16-bit reduced). Throws afa::Error naming the file when it is not a
// readable image.
torch::Tensor read_image(const std::string& path);

// The PNG bytes of a uint8 [H, W, 3] (or [H, W, 1]) tensor with the given text chunks (iTXt). The one
// encoder of afa: files, the server's base64 images and reports hold the same bytes for the same input.
std::string encode_png(const torch::Tensor& image_hwc_u8, const std::map<std::string, std::string>& text = {});

// Writes encode_png's bytes to `path`, atomically.
void write_png(const std::string& path, const torch::Tensor& image_hwc_u8,
               const std::map<std::string, std::string>& text = {});

// Writes bytes to `path` through a temporary file beside it (fsync, rename): readers never see half a file.
void write_file_atomic(const std::string& path, const std::string& bytes);

// The tEXt/iTXt chunks of a PNG file.
std::map<std::string, std::string> read_png_text(const std::string& path);

// [-1, 1] float [3, H, W] (a VAE output) -> uint8 [H, W, 3], as diffusers: (x/2+0.5).clamp(0,1), *255, round.
torch::Tensor to_uint8_image(const torch::Tensor& chw);

}  // namespace afa::io
