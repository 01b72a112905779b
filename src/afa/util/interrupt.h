// Ctrl-C as a request: while an InterruptGuard lives, the first SIGINT only sets a flag that long work
// polls between steps (to save and stop cleanly); a second SIGINT kills as usual.
#pragma once

namespace afa {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  // True once SIGINT arrived since this guard was made.
  bool requested() const;

 private:
  void (*previous_)(int);
};

}  // namespace afa
