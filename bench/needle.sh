#!/usr/bin/env bash
# The needle-in-a-haystack heat maps of docs/results.md: every policy at two
# budgets on the constructed retrieval model (model/retrieval_model.hpp, written
# first with wkv_synthetic_gguf) and on the eval model, on the default device.
#   bench/needle.sh [OUT_DIR]   (default bench/results/needle)
# WKV names another wkv binary. Writes retrieval.{json,svg,txt} and eval.{json,svg,txt} there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/needle}
shared=${WKV_SHARED:-../shared}
mkdir -p "$out" "$HOME/.cache/wkv-synthetic"
model=$HOME/.cache/wkv-synthetic/retrieval.f32.gguf
build/wkv_synthetic_gguf retrieval f32 - "$model" >/dev/null
wkv=${WKV:-build/cli/wkv}
policies=full,streaming,h2o,tova,cam,evict,weightedkv

"$wkv" needle -m "$model" --lengths 300,600,1000,1500 --depths 0,0.25,0.5,0.75,0.9,1 --trials 2 \
    --policy "$policies" --budget 128,512 --json "$out/retrieval.json" --svg "$out/retrieval.svg" | tee "$out/retrieval.txt"
"$wkv" needle -m "$shared/models/wkv-eval-8m.f16.gguf" --lengths 250,500,1000 --depths 0,0.5,1 --trials 2 \
    --policy "$policies" --budget 128,512 --json "$out/eval.json" --svg "$out/eval.svg" | tee "$out/eval.txt"
