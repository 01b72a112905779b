// A pickle virtual machine (protocols 2-5) that never runs code: it builds plain values (None, bool, int,
// float, str, bytes, tuple, list, dict, set) itself, and leaves every GLOBAL, REDUCE / NEWOBJ / BUILD and
// persistent id to hooks that the caller supplies (torch_pickle.cpp: an allow-list of what torch.save
// writes for tensors). Malformed input is an afa::Error naming the source; sizes are checked against
// the bytes left before anything is allocated, and the stack and memo are bounded.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace afa::io {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Set, Global, Object };
  Kind kind = Kind::None;
  int64_t i = 0;   // Bool, Int; Object: the hooks' handle
  double f = 0;    // Float
  std::string s;   // String, Bytes; BigInt: little-endian two's complement; Global: "module.name"; Object: its type
  std::vector<PickleRef> items;                         // Tuple, List, Set
  std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict, in insertion order (as Python keeps it)
};

// "int", "str", "dict", "global 'torch.HalfStorage'", ... for messages.
std::string describe(const PickleValue& v);

class PickleMachine;

struct PickleHooks {
  // GLOBAL / STACK_GLOBAL: throws (naming the global) unless it is allowed; nothing is looked up.
  std::function<void(const std::string& module, const std::string& name)> check_global;
  // REDUCE and NEWOBJ on an allowed global: the value it stands for (made with PickleMachine::make).
  std::function<PickleRef(PickleMachine&, const PickleValue& global, const PickleValue& args)> call;
  // BUILD: applies `state` to `target` or throws.
  std::function<void(PickleValue& target, const PickleValue& state)> build;
  // BINPERSID: the object a persistent id stands for.
  std::function<PickleRef(PickleMachine&, const PickleValue& pid)> persistent_load;
};

class PickleMachine {
 public:
  // `source` names the input in messages ("file X" or "file X, entry Y").
  PickleMachine(std::string source, PickleHooks hooks);
  ~PickleMachine();  // takes every value apart without recursion (cycles and deep nesting are harmless)
  PickleMachine(const PickleMachine&) = delete;
  PickleMachine& operator=(const PickleMachine&) = delete;

  // Runs the pickle that starts at data[0] up to its STOP; `*consumed` gets the bytes it took.
  PickleRef load(const uint8_t* data, uint64_t size, uint64_t* consumed = nullptr);

  // A new value owned by this machine (alive until the machine is destroyed).
  PickleRef make(PickleValue::Kind kind);
  const std::string& source() const { return source_; }
  [[noreturn]] void error(const std::string& what) const;

 private:
  std::string source_;
  PickleHooks hooks_;
  std::vector<PickleRef> arena_;  // every value made, so that teardown needs no recursion
};

}  // namespace afa::io
