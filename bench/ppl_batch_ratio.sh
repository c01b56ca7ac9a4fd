#!/usr/bin/env bash
# The cost of evaluating all 7 policies in one batched pass, as a ratio to
# evaluating the full cache alone, on the same files in the same invocation:
#   --lanes 1       one window at a time: what batching the policies saves;
#   default lanes   windows of every file side by side as well.
# The four runs take turns, REPEATS times, and the medians are compared
# (one run of each on this 2-core machine varies by up to 20%).
# Usage: bench/ppl_batch_ratio.sh [TOKENS] [REPEATS] [FILE ...]   (MODEL, TOKENIZER from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
tokens=${1:-1024}
repeats=${2:-3}
shift $(($# < 2 ? $# : 2))
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(../shared/corpora/pg19/news_from_nowhere_morris_1890.txt)
model=${MODEL:-../shared/models/wkv-eval-8m.bin}
tokenizer=${TOKENIZER:-../shared/models/wkv-eval-8m.tokenizer.model}
file_args=()
for f in "${files[@]}"; do file_args+=(-f "$f"); done

run() {  # prints the wall seconds of one wkv ppl run
    /usr/bin/time -f "%e" ./build/cli/wkv ppl -m "$model" -t "$tokenizer" "${file_args[@]}" --ctx 512 --max-tokens "$tokens" "$@" \
        2>&1 >/dev/null | tail -1
}
middle() { printf '%s\n' "$@" | median; }

all_policies=(--policy full,streaming,h2o,tova,cam,evict,weightedkv --budget 64)
declare -a one1 all1 oned alld
for ((i = 0; i < repeats; i++)); do
    one1+=("$(run --policy full --lanes 1)")
    all1+=("$(run "${all_policies[@]}" --lanes 1)")
    oned+=("$(run --policy full)")
    alld+=("$(run "${all_policies[@]}")")
done
report() {
    local label=$1 one=$2 all=$3
    echo "$label: full cache alone $one s, all 7 policies in one batch $all s, ratio $(echo "scale=2; $all / $one" | bc)"
}
echo "${#files[@]} file(s), $tokens tokens each, median of $repeats runs (full alone: ${one1[*]} | ${oned[*]}; all 7: ${all1[*]} | ${alld[*]})"
report "--lanes 1     " "$(middle "${one1[@]}")" "$(middle "${all1[@]}")"
report "default lanes " "$(middle "${oned[@]}")" "$(middle "${alld[@]}")"
