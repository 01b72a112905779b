// Writing a small text file so that a reader never sees half of it: a temporary file beside it, then a
// rename.
#pragma once

#include <string>

namespace afa {

// Throws afa::Error naming the file when it cannot be written.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace afa
