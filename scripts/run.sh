#!/usr/bin/env bash
# Sets up, builds, and runs the main job: text-to-image with the smallest model at hand (the tiny
# SD 1.5-structured pipeline in ../shared/golden), written to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
MODEL="${AFA_MODEL:-../shared/golden/pipelines/A}"
./build/afa info "$MODEL"
./build/afa generate -m "$MODEL" -p "a photo of an astronaut riding a horse on mars" \
  --steps 20 --sampler dpm++2m --seed 42 -W 128 -H 128 -o out/astronaut.png
echo "wrote out/astronaut.png"
