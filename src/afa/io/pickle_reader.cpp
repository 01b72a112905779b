#include "afa/io/pickle_reader.h"

#include <cstring>
#include <sstream>
#include <unordered_map>

#include "afa/util/error.h"

namespace afa::io {

namespace {

using Kind = PickleValue::Kind;

// Far beyond what a state dict needs (SD 1.5: ~1100 tensors, ~15 values each), small enough that a
// hostile pickle cannot make us allocate more than a few hundred MB of values.
constexpr size_t kMaxValues = size_t(1) << 22;
constexpr size_t kMaxStack = size_t(1) << 22;
constexpr size_t kMaxMarks = size_t(1) << 16;
constexpr size_t kMaxMemo = size_t(1) << 22;
constexpr size_t kMaxLine = 1024;  // GLOBAL's module and name lines

}  // namespace

std::string describe(const PickleValue& v) {
  switch (v.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int (" + std::to_string(v.s.size()) + " bytes)";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple of " + std::to_string(v.items.size());
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global '" + v.s + "'";
    case Kind::Object: return v.s;
  }
  return "value";
}

PickleMachine::PickleMachine(std::string source, PickleHooks hooks)
    : source_(std::move(source)), hooks_(std::move(hooks)) {}

PickleMachine::~PickleMachine() {
  // Emptying every container first means no value's destructor reaches another one.
  for (auto& v : arena_) {
    std::vector<PickleRef>().swap(v->items);
    std::vector<std::pair<PickleRef, PickleRef>>().swap(v->entries);
  }
}

void PickleMachine::error(const std::string& what) const { fail(source_, ": ", what); }

PickleRef PickleMachine::make(Kind kind) {
  if (arena_.size() >= kMaxValues)
    error("pickle builds more than " + std::to_string(kMaxValues) + " values; not a tensor state dict");
  arena_.push_back(std::make_shared<PickleValue>());
  arena_.back()->kind = kind;
  return arena_.back();
}

PickleRef PickleMachine::load(const uint8_t* data, uint64_t size, uint64_t* consumed) {
  uint64_t pos = 0, op_at = 0;
  uint8_t op = 0;
  std::vector<PickleRef> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, PickleRef> memo;
  const PickleRef none = make(Kind::None), yes = make(Kind::Bool), no = make(Kind::Bool);
  yes->i = 1;

  auto bad = [&](const std::string& what) -> void {
    std::ostringstream os;
    os << "malformed pickle: " << what << " (opcode 0x" << std::hex << int(op) << std::dec << " at byte " << op_at
       << ")";
    error(os.str());
  };
  auto need = [&](uint64_t n) {
    if (n > size - pos) bad("needs " + std::to_string(n) + " bytes but only " + std::to_string(size - pos) +
                            " are left (truncated?)");
  };
  auto uint = [&](int n) {
    need(n);
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | data[pos + k];
    pos += n;
    return v;
  };
  auto text = [&](uint64_t n) {
    need(n);  // before allocating: a length can claim anything
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  };
  auto line = [&]() {
    for (uint64_t k = pos; k < size && k - pos <= kMaxLine; ++k) {
      if (data[k] == '\n') {
        std::string s(reinterpret_cast<const char*>(data + pos), k - pos);
        pos = k + 1;
        return s;
      }
    }
    bad("GLOBAL's name is not a line");
    return std::string();
  };
  auto push = [&](PickleRef v) {
    if (stack.size() >= kMaxStack) bad("stack deeper than " + std::to_string(kMaxStack));
    stack.push_back(std::move(v));
  };
  auto pop = [&]() {
    const size_t floor = marks.empty() ? 0 : marks.back();
    if (stack.size() <= floor) bad("stack underflow");
    PickleRef v = std::move(stack.back());
    stack.pop_back();
    return v;
  };
  auto top = [&]() -> PickleRef& {
    const size_t floor = marks.empty() ? 0 : marks.back();
    if (stack.size() <= floor) bad("stack underflow");
    return stack.back();
  };
  auto pop_mark = [&]() {
    if (marks.empty()) bad("no MARK to pop to");
    std::vector<PickleRef> items(std::make_move_iterator(stack.begin() + marks.back()),
                                 std::make_move_iterator(stack.end()));
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  };
  auto make_int = [&](int64_t v) {
    PickleRef r = make(Kind::Int);
    r->i = v;
    return r;
  };
  auto make_str = [&](Kind k, std::string s) {
    PickleRef r = make(k);
    r->s = std::move(s);
    return r;
  };
  auto make_seq = [&](Kind k, std::vector<PickleRef> items) {
    PickleRef r = make(k);
    r->items = std::move(items);
    return r;
  };
  auto set_items = [&](PickleValue& dict, std::vector<PickleRef>& kv) {
    if (dict.kind != Kind::Dict) bad("SETITEM(S) on a " + describe(dict));
    if (kv.size() % 2) bad("SETITEMS with an odd number of items");
    for (size_t k = 0; k < kv.size(); k += 2) dict.entries.emplace_back(kv[k], kv[k + 1]);
  };
  auto long_value = [&](uint64_t n) {
    need(n);
    if (n <= 8) {  // sign-extended little-endian two's complement
      uint64_t v = 0;
      for (uint64_t k = n; k-- > 0;) v = (v << 8) | data[pos + k];
      if (n > 0 && n < 8 && (data[pos + n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);
      pos += n;
      return make_int(static_cast<int64_t>(v));
    }
    return make_str(Kind::BigInt, text(n));
  };
  auto global = [&](const std::string& module, const std::string& name) {
    hooks_.check_global(module, name);
    return make_str(Kind::Global, module + "." + name);
  };
  auto call = [&](const PickleRef& callable, const PickleRef& args) {
    if (callable->kind != Kind::Global) bad("call of a " + describe(*callable) + ", not of a global");
    if (args->kind != Kind::Tuple) bad("call of '" + callable->s + "' with a " + describe(*args) + " as arguments");
    push(hooks_.call(*this, *callable, *args));
  };

  while (true) {
    op_at = pos;
    if (pos >= size) {
      op = 0;
      bad("ends without STOP (truncated?)");
    }
    op = data[pos++];
    switch (op) {
      case 0x80: {  // PROTO
        const uint64_t v = uint(1);
        if (v < 2 || v > 5) bad("protocol " + std::to_string(v) + " (only 2 to 5 are read)");
        break;
      }
      case 0x95: {  // FRAME: a length hint; the opcodes inside read as usual
        const uint64_t n = uint(8);
        need(n);
        break;
      }
      case '.': {  // STOP
        PickleRef result = pop();
        if (consumed) *consumed = pos;
        return result;
      }
      case '(':
        if (marks.size() >= kMaxMarks) bad("more than " + std::to_string(kMaxMarks) + " nested MARKs");
        marks.push_back(stack.size());
        break;
      case '0': pop(); break;                      // POP
      case '1': pop_mark(); break;                 // POP_MARK
      case '2': { PickleRef v = top(); push(v); break; }  // DUP
      case 'N': push(none); break;
      case 0x88: push(yes); break;                 // NEWTRUE
      case 0x89: push(no); break;                  // NEWFALSE
      case 'J': push(make_int(static_cast<int32_t>(uint(4)))); break;  // BININT
      case 'K': push(make_int(static_cast<int64_t>(uint(1)))); break;  // BININT1
      case 'M': push(make_int(static_cast<int64_t>(uint(2)))); break;  // BININT2
      case 0x8a: push(long_value(uint(1))); break;  // LONG1
      case 0x8b: {                                  // LONG4
        const uint64_t n = uint(4);
        if (n & 0x80000000u) bad("negative LONG4 length");
        push(long_value(n));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        need(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | data[pos + k];
        pos += 8;
        PickleRef r = make(Kind::Float);
        std::memcpy(&r->f, &bits, 8);
        push(r);
        break;
      }
      case 'X': push(make_str(Kind::String, text(uint(4)))); break;     // BINUNICODE
      case 0x8c: push(make_str(Kind::String, text(uint(1)))); break;    // SHORT_BINUNICODE
      case 0x8d: push(make_str(Kind::String, text(uint(8)))); break;    // BINUNICODE8
      case 'T': {                                                       // BINSTRING (Python 2 str)
        const uint64_t n = uint(4);
        if (n & 0x80000000u) bad("negative BINSTRING length");
        push(make_str(Kind::String, text(n)));
        break;
      }
      case 'U': push(make_str(Kind::String, text(uint(1)))); break;     // SHORT_BINSTRING
      case 'B': push(make_str(Kind::Bytes, text(uint(4)))); break;      // BINBYTES
      case 'C': push(make_str(Kind::Bytes, text(uint(1)))); break;      // SHORT_BINBYTES
      case 0x8e: case 0x96: push(make_str(Kind::Bytes, text(uint(8)))); break;  // BINBYTES8, BYTEARRAY8
      case ')': push(make_seq(Kind::Tuple, {})); break;                 // EMPTY_TUPLE
      case 0x85: { PickleRef a = pop(); push(make_seq(Kind::Tuple, {a})); break; }  // TUPLE1
      case 0x86: {                                                                  // TUPLE2
        PickleRef b = pop(), a = pop();
        push(make_seq(Kind::Tuple, {a, b}));
        break;
      }
      case 0x87: {  // TUPLE3
        PickleRef c = pop(), b = pop(), a = pop();
        push(make_seq(Kind::Tuple, {a, b, c}));
        break;
      }
      case 't': push(make_seq(Kind::Tuple, pop_mark())); break;  // TUPLE
      case ']': push(make_seq(Kind::List, {})); break;           // EMPTY_LIST
      case 'l': push(make_seq(Kind::List, pop_mark())); break;   // LIST
      case '}': push(make(Kind::Dict)); break;                   // EMPTY_DICT
      case 'd': {                                                // DICT
        auto kv = pop_mark();
        PickleRef d = make(Kind::Dict);
        set_items(*d, kv);
        push(d);
        break;
      }
      case 0x8f: push(make_seq(Kind::Set, {})); break;           // EMPTY_SET
      case 0x91: push(make_seq(Kind::Set, pop_mark())); break;   // FROZENSET
      case 0x90: {                                               // ADDITEMS
        auto items = pop_mark();
        PickleRef& s = top();
        if (s->kind != Kind::Set) bad("ADDITEMS on a " + describe(*s));
        s->items.insert(s->items.end(), items.begin(), items.end());
        break;
      }
      case 'a': {  // APPEND
        PickleRef v = pop();
        PickleRef& l = top();
        if (l->kind != Kind::List) bad("APPEND to a " + describe(*l));
        l->items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        PickleRef& l = top();
        if (l->kind != Kind::List) bad("APPENDS to a " + describe(*l));
        l->items.insert(l->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {  // SETITEM
        PickleRef v = pop(), k = pop();
        std::vector<PickleRef> kv{k, v};
        set_items(*top(), kv);
        break;
      }
      case 'u': {  // SETITEMS
        auto kv = pop_mark();
        set_items(*top(), kv);
        break;
      }
      case 'q': case 'r': case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
        const uint64_t idx = op == 'q' ? uint(1) : op == 'r' ? uint(4) : memo.size();
        PickleRef v = top();
        if (memo.size() >= kMaxMemo && !memo.count(idx)) bad("memo larger than " + std::to_string(kMaxMemo));
        memo[idx] = std::move(v);
        break;
      }
      case 'h': case 'j': {  // BINGET, LONG_BINGET
        const uint64_t idx = uint(op == 'h' ? 1 : 4);
        auto it = memo.find(idx);
        if (it == memo.end()) bad("memo key " + std::to_string(idx) + " was never stored");
        push(it->second);
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        push(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleRef name = pop(), module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) bad("STACK_GLOBAL of non-strings");
        push(global(module->s, name->s));
        break;
      }
      case 'R': {  // REDUCE
        PickleRef args = pop(), callable = pop();
        call(callable, args);
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), as the hooks see it a call
        PickleRef args = pop(), cls = pop();
        call(cls, args);
        break;
      }
      case 0x92: {  // NEWOBJ_EX: only without keyword arguments
        PickleRef kwargs = pop(), args = pop(), cls = pop();
        if (kwargs->kind != Kind::Dict || !kwargs->entries.empty()) bad("NEWOBJ_EX with keyword arguments");
        call(cls, args);
        break;
      }
      case 'b': {  // BUILD
        PickleRef state = pop();
        hooks_.build(*top(), *state);
        break;
      }
      case 'Q': {  // BINPERSID
        PickleRef pid = pop();
        push(hooks_.persistent_load(*this, *pid));
        break;
      }
      case 0x82: case 0x83: case 0x84:  // EXT1, EXT2, EXT4: the copyreg extension registry names code
        bad("extension-registry opcode (refused: it names code to run)");
        break;
      case 'I': case 'L': case 'S': case 'V': case 'F': case 'p': case 'g': case 'P': case 'i': case 'o':
        bad("protocol 0/1 text opcode (only protocols 2 to 5 are read)");
        break;
      default:
        bad("unknown opcode");
        break;
    }
  }
}

}  // namespace afa::io
