#!/usr/bin/env bash
# Builds the demo world from scratch with afa's own commands (issue: the demo world): the toy data, a new
# SD-1.5-shaped model (models/recipe/model_config.json), its VAE, the base U-Net, three experts fine-tuned
# from the base on their subsets, and the AFA aggregators with the ablations. Every step is seeded; a step
# whose output exists is skipped, so an interrupted run continues where it stopped.
# Usage: scripts/demo_world.sh [WORK_DIR]   (default: demo-world/; AFA=path/to/afa, THREADS=N,
#        SHIP=1 to write the shipped copies into MODELS_OUT, default models/; afa demo --retrain runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
W="${1:-demo-world}"
AFA="${AFA:-./build/afa}"
T="${THREADS:-0}"
mkdir -p "$W"
step() { echo "== $1 ($(date +%H:%M:%S))"; }
# train NAME DIR ARGS...: `afa train ARGS -o DIR`, skipped once DIR/.complete exists; a run that was
# interrupted after a checkpoint continues from it (--resume keeps that run's settings).
train() {
  local name="$1" dir="$2"; shift 2
  [ -f "$dir/.complete" ] && return 0
  step "$name"
  if [ -f "$dir/training_state.json" ]; then "$AFA" train --resume "$dir" --threads "$T"
  else "$AFA" train "$@" -o "$dir" --threads "$T"; fi
  touch "$dir/.complete"
}

# 1. Data: 64x64 scenes, a held-out split by caption, the expert subsets and the toy vocabulary.
[ -d "$W/data" ] || { step "toy data"; "$AFA" toydata --count 6000 --seed 1 -o "$W/data"; }
# 2. A new model: fresh weights, the toy vocabulary, a fixed random text encoder (it is never trained:
#    its features only need to tell the toy world's words and their order apart).
[ -d "$W/init" ] || { step "new model"; "$AFA" init --config models/recipe/model_config.json \
  --tokenizer "$W/data/tokenizer" -o "$W/init" --seed 1; }
# 3. The VAE (8x8x4 latents of 64x64 images).
[ -d "$W/vae" ] || { step "VAE"; "$AFA" train --vae -m "$W/init" --data "$W/data/train.jsonl" -o "$W/vae" \
  --max-steps "${VAE_STEPS:-1500}" --batch-size 16 --resolution 64 --lr 4e-4 --warmup-steps 50 --seed 1 --threads "$T"; }
# 4. The base U-Net on the whole world (latents cached: the VAE is frozen from here on).
train base "$W/base" --unet -m "$W/vae" --data "$W/data/train.jsonl" --resolution 64 --center-crop \
  --batch-size 32 --max-steps "${BASE_STEPS:-1200}" --lr 4e-4 --warmup-steps 100 --drop-text 0.1 \
  --save-every 500 --cache-latents --seed 1
# 5. Three experts fine-tuned from the base, each on its speciality (round shapes; warm colours on textured
#    backgrounds; two-object scenes).
for e in round warm pair; do
  train "expert $e" "$W/expert-$e" --unet -m "$W/base/model" --data "$W/data/expert_$e.jsonl" --resolution 64 \
    --center-crop --batch-size 32 --max-steps "${EXPERT_STEPS:-400}" --lr 2e-4 --warmup-steps 20 --drop-text 0.1 \
    --save-every 200 --cache-latents --seed 2
done
# 6. AFA aggregators over the three experts (the paper's recipe scaled down: 400 steps instead of tens of
#    thousands, so lr 1e-3 instead of 1e-4), and the ablations.
# The full AFA gets twice the steps of each ablation (the ablations only need to show their gap).
for m in afa last-block-only scalar no-time no-text; do
  n="${AGG_STEPS:-400}"; [ "$m" = afa ] || n="${ABLATION_STEPS:-200}"
  train "aggregators $m" "$W/aggregators-$m" -m "$W/expert-round/model" -m "$W/expert-warm/model" \
    -m "$W/expert-pair/model" --data "$W/data/train.jsonl" --method "$m" --hidden-size 32 --heads 4 \
    --resolution 64 --center-crop --batch-size 8 --max-steps "$n" --lr 1e-3 --weight-decay 0.01 \
    --warmup-steps 20 --drop-text 0.1 --save-every 100 --cache-latents --seed 3
done
# 7. With SHIP=1: the shipped copies in MODELS_OUT (F16 diffusers folders, aggregator sets as single F16
#    files, loss curves for the model cards). autoMBW's cached search is dropped: the next afa demo redoes it.
#    The fidelity classifier is a measuring instrument, not a model under test: copied, not retrained.
if [ "${SHIP:-0}" = 1 ]; then
  step "ship"
  M="${MODELS_OUT:-models}"
  mkdir -p "$M/aggregators"
  [ -f "$M/toy_classifier.safetensors" ] || cp models/toy_classifier.safetensors "$M/"
  for n in base expert-round expert-warm expert-pair; do
    rm -rf "${M:?}/$n"; "$AFA" convert "$W/$n/model" -o "$M/$n" --dtype f16
    python3 scripts/loss_curve.py "$W/$n/train_log.jsonl" loss "$M/$n/loss.svg" "$n: U-Net training loss"
  done
  python3 scripts/loss_curve.py "$W/vae/logs/vae_train_log.jsonl" l1 "$M/base/vae_l1.svg" "VAE: reconstruction L1"
  for m in afa last-block-only scalar no-time no-text; do
    rm -f "$M/aggregators/$m.safetensors"
    "$AFA" convert "$W/aggregators-$m" -o "$M/aggregators/$m.safetensors" --dtype f16
    python3 scripts/loss_curve.py "$W/aggregators-$m/train_log.jsonl" loss "$M/aggregators/$m.svg" \
      "aggregators $m: training loss"
  done
  rm -f "$M/merges/auto_mbw.json"
fi
step "done"
