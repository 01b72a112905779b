#!/usr/bin/env bash
# Time and peak resident memory of `afa merge` on N random SD 1.5 single files (LDM naming, F16 like
# CivitAI's by default), written once by bench_sd15 --write-sd15. Figures go to bench/RESULTS.md.
#
#   bench/merge_sd15.sh [DIR]    env: N=3 FILE_DTYPE=f16 METHOD=weighted HASH=0 THREADS=0
set -euo pipefail
cd "$(dirname "$0")/.."
build="${AFA_BUILD_DIR:-build}"
dir="${1:-/tmp/afa_random_sd15}"
n="${N:-3}" method="${METHOD:-weighted}"
models=()
for ((i = 0; i < n; i++)); do
  f="$dir/random_sd15_$i.safetensors"
  [[ -f "$f" ]] || "$build/bench_sd15" --write-sd15 "$dir" --models "$n" --dtype "${FILE_DTYPE:-f16}"
  models+=(-m "$f")
done
args=(merge "${models[@]}" -o "$dir/merged.safetensors" --method "$method" --threads "${THREADS:-0}")
[[ "${HASH:-0}" == 1 ]] || args+=(--no-hash)
[[ "$method" == add-difference || "$method" == ties ]] && args+=(--alpha 0.5)
[[ "$method" == ties ]] && args+=(--density 0.3)
inputs=0
for ((i = 0; i < n; i++)); do inputs=$((inputs + $(stat -c %s "$dir/random_sd15_$i.safetensors"))); done
echo "afa ${args[*]}"
/usr/bin/time -f "N=$n $method: peak RSS %M KiB, wall %e s" "$build/afa" "${args[@]}"
echo "inputs: $((inputs / 1000000)) MB in $n files"
rm -f "$dir/merged.safetensors"
