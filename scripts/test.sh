#!/usr/bin/env bash
# Builds afa and runs the whole test suite. Tests read the reference outputs from ../shared/golden.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir "${AFA_BUILD_DIR:-build}" --output-on-failure -j"$(nproc)"
