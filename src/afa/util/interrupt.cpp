#include "afa/util/interrupt.h"

#include <signal.h>

#include <csignal>

namespace afa {

namespace {
volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_previous_int, g_previous_term;

extern "C" void on_stop_signal(int sig) { g_signal = sig; }

void install(int sig, struct sigaction* previous) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // One-shot: the handler resets to the default, so a second signal of the kind ends the process.
  // SA_RESTART: system calls in flight (file reads, c10d's sockets) resume instead of failing.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(sig, &sa, previous);
}
}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal = 0;
  install(SIGINT, &g_previous_int);
  install(SIGTERM, &g_previous_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

bool InterruptGuard::requested() const { return g_signal != 0; }

int InterruptGuard::signal() const { return g_signal; }

}  // namespace afa
