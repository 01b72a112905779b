// One error type for everything a user can cause: bad files, bad arguments, mismatched models.
// The message carries the context ("file X, tensor Y: ..."); the CLI prints it and exits with 2.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace afa {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// fail("file ", path, ": header is ", n, " bytes") -> throws afa::Error with the concatenated message.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(os.str());
}

}  // namespace afa

// AFA_CHECK(cond, "message parts", ...) throws afa::Error when cond is false.
#define AFA_CHECK(cond, ...)          \
  do {                                \
    if (!(cond)) ::afa::fail(__VA_ARGS__); \
  } while (0)
