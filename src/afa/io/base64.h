// Base64 (RFC 4648, with padding): images inlined as data URIs, so a report opens without its folder.
#pragma once

#include <string>

namespace afa::io {

std::string base64_encode(const std::string& bytes);

// "data:MIME;base64,..." of a file's bytes. Throws afa::Error naming the file when it cannot be read.
std::string data_uri(const std::string& path, const std::string& mime);

}  // namespace afa::io
