#!/usr/bin/env bash
# Installs the build dependencies (Debian 12 packages) and configures + builds afa in ./build.
# Usage: scripts/setup.sh [extra cmake args]   (AFA_BUILD_DIR overrides ./build)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ccache pkg-config libtorch-dev libopenblas0-pthread nlohmann-json3-dev libcli11-dev
          libpng-dev libjpeg-dev libyaml-cpp-dev libicu-dev libgloo-dev libgtest-dev libbenchmark-dev
          libcpp-httplib-dev)
source scripts/apt_packages.sh
apt_packages "${PACKAGES[@]}"

BUILD="${AFA_BUILD_DIR:-build}"
source scripts/ccache.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" "$@" > /dev/null
cmake --build "$BUILD" -j"$(nproc)"
