#!/usr/bin/env bash
# Our Table I (weightedkv-spec.md §4-§5): streaming perplexity of every policy
# on the four held-out corpora with the eval model, windows L0, 2 L0 and 4 L0
# (stride L/2), budgets L0/16 and L0/4, 4 sinks, default recent windows,
# cache-index positions; the full cache only at L0. One `wkv ppl` run per
# (corpus, window) evaluates every (policy, budget) in one batch.
#
# Usage: bench/table1.sh [OUT_DIR] [MAX_TOKENS_PER_DOCUMENT] [DOCUMENTS_PER_CORPUS]
# Environment: MODEL, TOKENIZER, L0 (trained context), CORPORA, WINDOWS (multiples of L0, default "1 2 4"),
# SKIP_DOCUMENTS (documents to pass over in each corpus's name order first, default 0).
# Writes OUT_DIR/<model>_<corpus>_L<window>.json and .txt, then docs/results tables via bench/table1_report.py
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
max_tokens=${2:-4096}
docs=${3:-2}
model=${MODEL:-../shared/models/wkv-eval-8m.bin}
tokenizer=${TOKENIZER:-../shared/models/wkv-eval-8m.tokenizer.model}
l0=${L0:-1024}
corpora=${CORPORA:-pg19 proofpile arxiv web}
multiples=${WINDOWS:-1 2 4}
skip=${SKIP_DOCUMENTS:-0}
small=$((l0 / 16)); large=$((l0 / 4))
mkdir -p "$out"
name=$(basename "$model" | sed 's/\.[^.]*$//')
for corpus in $corpora; do
    files=()
    for f in $(ls ../shared/corpora/"$corpus"/* | sort | tail -n +$((skip + 1)) | head -n "$docs"); do files+=(-f "$f"); done
    for m in $multiples; do
        window=$((m * l0))
        policies=streaming,h2o,tova,cam,evict,weightedkv
        [ "$window" -eq "$l0" ] && policies=full,$policies
        echo "== $corpus window $window" >&2
        ./build/cli/wkv ppl -m "$model" -t "$tokenizer" "${files[@]}" --ctx "$window" --max-tokens "$max_tokens" \
            --policy "$policies" --budget "$small,$large" --json "$out/${name}_${corpus}_L${window}.json" \
            > "$out/${name}_${corpus}_L${window}.txt"
    done
done
