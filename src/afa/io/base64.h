// Base64 (RFC 4648, with padding): images inlined as data URIs, so a report opens without its folder, and
// the server's images and HTTP Basic credentials.
#pragma once

#include <string>

namespace afa::io {

std::string base64_encode(const std::string& bytes);
// The bytes of padded base64 text; throws afa::Error at the first character that is not base64.
std::string base64_decode(const std::string& text);

// "data:MIME;base64,..." of a file's bytes. Throws afa::Error naming the file when it cannot be read.
std::string data_uri(const std::string& path, const std::string& mime);

}  // namespace afa::io
