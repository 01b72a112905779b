// The process's heap policy for large tensors. glibc hands every block over 32 MB straight back to the
// kernel when it is freed (munmap) and maps fresh, zero-filled pages on the next request. libtorch 1.13's
// oneDNN convolutions reorder their weights into a new buffer on every call, so an SD 1.5 U-Net step
// allocated and freed ~2.5 GB and paid a page fault per 4 KB each time: 4 of the 4.3 s of a step at 64×64,
// 3.5 of 7.8 s at 256×256 on the 2-core machine (bench/RESULTS.md). Kept on the heap, those blocks are
// reused from step to step; peak memory is the same.
#pragma once

namespace afa {

// Serve large allocations from the heap and keep freed memory for reuse (glibc; a no-op elsewhere). Call
// once, first thing in main.
void reuse_freed_memory();

}  // namespace afa
