#include <gtest/gtest.h>

#include "afa/util/allocator.h"
#include "afa/util/threads.h"

int main(int argc, char** argv) {
  afa::reuse_freed_memory();  // as the afa program
  ::testing::InitGoogleTest(&argc, argv);
  afa::set_threads();  // AFA_THREADS or all cores
  return RUN_ALL_TESTS();
}
