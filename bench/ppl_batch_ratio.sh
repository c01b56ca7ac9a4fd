#!/usr/bin/env bash
# The cost of evaluating all 7 policies in one batched pass, as a ratio to
# evaluating the full cache alone, on the same file in the same invocation:
# once with one window at a time (--lanes 1: what batching the policies saves)
# and once with the default lanes (windows side by side as well).
# Usage: bench/ppl_batch_ratio.sh [MODEL] [FILE] [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/wkv-eval-8m.bin}
file=${2:-../shared/corpora/pg19/news_from_nowhere_morris_1890.txt}
tokens=${3:-1024}
tok=../shared/models/wkv-eval-8m.tokenizer.model
run() { /usr/bin/time -f "%e" ./build/cli/wkv ppl -m "$model" -t "$tok" -f "$file" --ctx 512 --max-tokens "$tokens" "$@" 2>&1 >/dev/null | tail -1; }
all_policies=(--policy full,streaming,h2o,tova,cam,evict,weightedkv --budget 64)
for lanes in "--lanes 1" ""; do
    one=$(run --policy full $lanes)
    all=$(run "${all_policies[@]}" $lanes)
    echo "${lanes:-default lanes}: one policy (full): ${one} s; all 7 policies batched: ${all} s; ratio $(echo "scale=2; $all / $one" | bc)"
done
