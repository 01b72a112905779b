// Ctrl-C and SIGTERM (what cluster schedulers and `docker stop` send) as a request: while an
// InterruptGuard lives, the first SIGINT or SIGTERM only sets a flag that long work polls between steps
// (to save and stop cleanly); a second one of the same kind kills as usual.
#pragma once

namespace afa {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  // True once SIGINT or SIGTERM arrived since this guard was made.
  bool requested() const;
  // The signal that arrived (SIGINT or SIGTERM), 0 if none.
  int signal() const;
};

}  // namespace afa
