#include "afa/util/allocator.h"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace afa {

void reuse_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                        // no block gets its own mapping (so none is unmapped)
  mallopt(M_TRIM_THRESHOLD, INT_MAX);            // give the heap's top back only past 2 GB of free memory
#endif
}

}  // namespace afa
