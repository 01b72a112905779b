#!/usr/bin/env bash
# The main job: sets up and builds afa, then reruns the paper's experiment in the demo world on the shipped
# models (afa demo: base models, merges, ensembles, AFA and its ablations; the table, plots and images in
# demo-out/report.html), and draws one image with the demo's base model (demo-out/base.png).
# Arguments go to afa demo (e.g. --quick, --steps 50,20,10, --seeds 2, -o DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
OUT=demo-out
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in -o | --output) OUT="${args[i + 1]}" ;; --output=*) OUT="${args[i]#--output=}" ;; esac
done
./build/afa demo "$@"
PROMPT="a large blue square at the bottom and a large white ring at the bottom right on a plain teal background"  # held out
MODEL="${AFA_MODEL:-models/base}"
./build/afa generate -m "$MODEL" -p "$PROMPT" --steps 50 --sampler ddim --seed 0 -W 64 -H 64 -o "$OUT/base.png"
echo "open $OUT/report.html (the table, the steps plot, the images); $OUT/base.png is the base model's \"$PROMPT\""
