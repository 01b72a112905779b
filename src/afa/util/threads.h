// libtorch's intra-op thread pool starts at 1 thread on Debian's build; we default it to the machine's cores.
#pragma once

namespace afa {

// Sets torch's intra-op threads. n <= 0 means: the AFA_THREADS environment variable if set, else all cores.
// Returns the number set.
int set_threads(int n = 0);

}  // namespace afa
