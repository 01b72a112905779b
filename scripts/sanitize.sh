#!/usr/bin/env bash
# The input parsers (safetensors, checkpoints, configs, images, tokenizer) under AddressSanitizer, UBSan and
# LeakSanitizer: builds test_io and test_text with -DAFA_SANITIZE=ON in build-asan and runs them. Any
# sanitizer report fails the run. Needs the packages scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${AFA_ASAN_DIR:-build-asan}"
source scripts/ccache.sh
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAFA_SANITIZE=ON -DAFA_BUILD_BENCH=OFF "${LAUNCHER[@]}" > /dev/null
cmake --build "$dir" -j"$(nproc)" --target test_io test_text
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export AFA_THREADS=1
for t in test_io test_text; do
  echo "== $t under ASan + UBSan"
  "$dir/$t" --gtest_brief=1
done
