#!/usr/bin/env bash
# End-to-end memory and time of an N-model SD 1.5 ensemble on the CPU: writes N random SD 1.5 single files
# (LDM naming, F16 like CivitAI's by default) once, then runs `afa generate` on them under /usr/bin/time and
# prints the peak resident memory. Figures go to bench/RESULTS.md.
#
#   bench/memory_sd15.sh [DIR]    env: N=3 SIZE=512 STEPS=2 FILE_DTYPE=f16 METHOD=block-avg THREADS=0
set -euo pipefail
cd "$(dirname "$0")/.."
build="${AFA_BUILD_DIR:-build}"
dir="${1:-/tmp/afa_random_sd15}"
n="${N:-3}" size="${SIZE:-512}" steps="${STEPS:-2}" method="${METHOD:-block-avg}"
models=()
for ((i = 0; i < n; i++)); do
  f="$dir/random_sd15_$i.safetensors"
  [[ -f "$f" ]] || "$build/bench_sd15" --write-sd15 "$dir" --models "$n" --dtype "${FILE_DTYPE:-f16}"
  models+=(-m "$f")
done
[[ "$n" == 1 ]] && method=single
args=(generate "${models[@]}" -p "a lighthouse on a cliff at dawn" --steps "$steps" -W "$size" -H "$size"
      --sampler ddim --seed 1 -o "$dir/out.png" --threads "${THREADS:-0}")
[[ "$method" != single ]] && args+=(--method "$method")
echo "afa ${args[*]}"
/usr/bin/time -f "N=$n ${size}x${size} $steps steps ($method): peak RSS %M KiB, wall %e s" "$build/afa" "${args[@]}"
