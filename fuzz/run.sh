#!/usr/bin/env bash
# Builds the fuzz targets (clang, libFuzzer, ASan + UBSan) in build-fuzz and runs each one on its corpus.
#   fuzz/run.sh [SECONDS]     each target for SECONDS (default 60); corpora grow in build-fuzz/corpus/
#   fuzz/run.sh --runs N      each target for N executions (CI's smoke run)
#   FUZZ_TARGETS="fuzz_image fuzz_safetensors" fuzz/run.sh 600   only these
# Seeds come from ../shared/golden and the shipped models. A crash, leak, timeout or an exception other
# than afa::Error stops the run with the reproducer in build-fuzz/findings/ and exit 1. Prints one line per
# target: executions, executions per second, coverage (edges), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
golden="${AFA_GOLDEN_DIR:-$root/../shared/golden}"
dir="${AFA_FUZZ_DIR:-build-fuzz}"
limit=(-max_total_time="${1:-60}")
# A fixed number of runs also fixes the seed: CI's smoke run is the same every time.
if [ "${1:-}" = "--runs" ]; then limit=(-runs="${2:?--runs N}" -seed=1); fi

# clang and its runtime libraries (libFuzzer, the sanitizers): Debian 12's clang only recommends the latter.
source scripts/apt_packages.sh
apt_packages clang libclang-rt-14-dev > /dev/null
source scripts/ccache.sh
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DAFA_FUZZ=ON \
  -DAFA_BUILD_TESTS=OFF -DAFA_BUILD_BENCH=OFF "${LAUNCHER[@]}" > /dev/null
if [ -n "${FUZZ_TARGETS:-}" ]; then
  # shellcheck disable=SC2086
  cmake --build "$dir" -j"$(nproc)" --target $FUZZ_TARGETS
else
  cmake --build "$dir" -j"$(nproc)" --target fuzz_all
fi

# Seed corpora: real files of each kind (copied afresh; what the fuzzer adds stays).
corpus="$dir/corpus"
seed() {  # seed TARGET FILE...
  mkdir -p "$corpus/$1"
  local t=$1; shift
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$corpus/$t/seed_$(basename "$(dirname "$f")")_$(basename "$f")"; done
  return 0
}
parts() {  # parts TARGET NAME FILE...: the files joined by the harness's separator, as one seed
  local t=$1 name=$2; shift 2
  mkdir -p "$corpus/$t"
  local out="$corpus/$t/seed_$name" first=1
  : > "$out"
  for f in "$@"; do
    [ $first = 1 ] || printf '\n--8<--\n' >> "$out"
    first=0
    cat "$f" >> "$out"
  done
}
seed fuzz_safetensors "$golden"/t2i/seed42_latents.safetensors "$golden"/lora/lora_kohya.safetensors \
  "$golden"/schedulers/ddim_10.safetensors "$golden"/afa/aggregators_perturbed/aggregator_0/aggregator.safetensors
seed fuzz_model_configs "$golden"/pipelines/A/{unet,vae,text_encoder}/config.json \
  "$golden"/pipelines/A/scheduler/scheduler_config.json "$golden"/pipelines/A/model_index.json \
  models/base/model_index.json
seed fuzz_torch_pickle "$golden"/ckpt/evil_os_system.ckpt "$golden"/ckpt/evil_builtins_eval.pkl
seed fuzz_ldm_yaml "$golden"/pipelines/ldm_config.yaml models/recipe/*.yaml
parts fuzz_tokenizer_files toy models/base/tokenizer/vocab.json models/base/tokenizer/merges.txt <(echo "a red circle")
mkdir -p "$corpus/fuzz_tokenize_text"
printf 'a photo of an astronaut riding a horse' > "$corpus/fuzz_tokenize_text/seed_prompt"
printf 'caf\xc3\xa9 \xe2\x98\x83 <|endoftext|> (masterpiece:1.2), 1girl!!' > "$corpus/fuzz_tokenize_text/seed_unicode"
seed fuzz_image "$golden"/t2i/ddim10.png docs/demo/*.png
parts fuzz_aggregators folder "$golden"/afa/aggregators_perturbed/model_config.json \
  "$golden"/afa/aggregators_perturbed/aggregator_0/config.json \
  "$golden"/afa/aggregators_perturbed/aggregator_0/aggregator.safetensors
mkdir -p "$corpus/fuzz_training_data"
printf '{"image": "a.png", "text": "a red circle"}\n{"image_file": "b.jpg", "prompt": "x"}\n\n' \
  > "$corpus/fuzz_training_data/seed_lines"
for extra in fuzz/corpus/*; do  # checked-in seeds: regression inputs of fixed findings
  [ -d "$extra" ] && mkdir -p "$corpus/$(basename "$extra")" && cp -f "$extra"/* "$corpus/$(basename "$extra")/" 2>/dev/null || true
done

mkdir -p "$dir/findings" "$dir/logs"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
targets=${FUZZ_TARGETS:-$(cd "$dir" && ls fuzz_* | grep -v '\.' )}
status=0
printf '%-22s %14s %10s %8s %8s\n' target executions exec/s edges corpus
for t in $targets; do
  log="$dir/logs/$t.log"
  mkdir -p "$corpus/$t"
  if ! "$dir/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 \
       -artifact_prefix="$dir/findings/$t-" "$corpus/$t" > "$log" 2>&1; then
    echo "$t: FOUND A PROBLEM (see $log and $dir/findings/)"; status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  printf '%-22s %14s %10s %8s %8s\n' "$t" "$execs" "$rate" "$cov" "$(ls "$corpus/$t" | wc -l)"
done
exit $status
