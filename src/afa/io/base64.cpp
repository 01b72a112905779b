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

std::string data_uri(const std::string& path, const std::string& mime) {
  std::ifstream in(path, std::ios::binary);
  AFA_CHECK(in, path, ": cannot read it to inline it");
  std::ostringstream s;
  s << in.rdbuf();
  return "data:" + mime + ";base64," + base64_encode(s.str());
}

}  // namespace afa::io
