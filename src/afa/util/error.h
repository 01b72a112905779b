// One error type for everything a user can cause: bad files, bad arguments, mismatched models.
// The message carries the context ("file X, tensor Y: ..."); the CLI prints it and exits with 2.
// Broken invariants of afa's own code are InternalError (AFA_INTERNAL_ASSERT), reported as bugs (exit 1).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace afa {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A broken internal invariant: a bug in afa, never the user's input. The CLI reports it as an internal
// error (exit 1) so that it is not mistaken for bad input.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
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

template <typename... Args>
[[noreturn]] void internal_error(const char* file, int line, const char* condition, const Args&... args) {
  std::ostringstream os;
  os << file << ":" << line << ": " << condition << " failed";
  if constexpr (sizeof...(args) > 0) {
    os << ": ";
    detail::append(os, args...);
  }
  os << " (a bug in afa; please report it)";
  throw InternalError(os.str());
}

}  // namespace afa

// AFA_CHECK(cond, "message parts", ...) throws afa::Error when cond is false.
#define AFA_CHECK(cond, ...)          \
  do {                                \
    if (!(cond)) ::afa::fail(__VA_ARGS__); \
  } while (0)

// AFA_INTERNAL_ASSERT(cond, "optional message parts", ...) throws afa::InternalError when cond is false: for
// invariants of afa's own code (as PyTorch's TORCH_INTERNAL_ASSERT), never for checking input.
#define AFA_INTERNAL_ASSERT(cond, ...) \
  do {                                 \
    if (!(cond)) ::afa::internal_error(__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
  } while (0)
