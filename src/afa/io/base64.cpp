#include "afa/io/base64.h"

#include <cstdint>
#include <fstream>
#include <sstream>

#include "afa/util/error.h"

namespace afa::io {

std::string base64_encode(const std::string& b) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (size_t i = 0; i < b.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(b[i])) << 16;
    if (i + 1 < b.size()) v |= uint32_t(uint8_t(b[i + 1])) << 8;
    if (i + 2 < b.size()) v |= uint8_t(b[i + 2]);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < b.size() ? t[(v >> 6) & 63] : '=';
    out += i + 2 < b.size() ? t[v & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  AFA_CHECK(text.size() % 4 == 0, "base64: the length ", text.size(), " is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const int d = k >= 4 - size_t(pad) ? 0 : value(text[i + k]);
      AFA_CHECK(d >= 0, "base64: invalid character at offset ", i + k);
      v = v << 6 | uint32_t(d);
    }
    out += char(v >> 16);
    if (pad < 2) out += char((v >> 8) & 255);
    if (pad < 1) out += char(v & 255);
  }
  return out;
}

std::string data_uri(const std::string& path, const std::string& mime) {
  std::ifstream in(path, std::ios::binary);
  AFA_CHECK(in, path, ": cannot read it to inline it");
  std::ostringstream s;
  s << in.rdbuf();
  return "data:" + mime + ";base64," + base64_encode(s.str());
}

}  // namespace afa::io
