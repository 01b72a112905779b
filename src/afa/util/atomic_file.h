// Writing output files so that a reader never sees half of one (a temporary file beside it, then a
// rename), and never into something that is not a regular file: a device, a FIFO or a folder named as an
// output is refused; a symbolic link is written through (its target replaced, the link kept), as `cp` does.
#pragma once

#include <string>

namespace afa {

// Checks, before any work, that `path` can become a regular file: not empty, not a folder, device, FIFO
// or socket (or a link to one), in an existing folder. `option` names where the path came from ("-o").
// Throws afa::Error naming the user's path.
void check_output_file(const std::string& path, const std::string& option);

// The file an atomic write of `path` replaces: `path` itself, or the target of a symbolic link
// (relative targets resolved against the link's folder). Throws afa::Error for non-regular files.
std::string atomic_target(const std::string& path);

// Throws afa::Error naming the file when it cannot be written.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace afa
