#!/usr/bin/env bash
# Two builds of wkv on the same files, their runs interleaved (base, new, base,
# new, ...): medians of prefill and decode tokens/s and the ratio new / base.
# How a change to a kernel or to the engine is judged, at every size that
# matters (the eval model and bench/real_shapes.sh's files).
#
#   bench/ab.sh [-p N] [-n N] [-r ROUNDS] [-a "BENCH FLAGS"] [-A "BASE FLAGS"] [-B "NEW FLAGS"] [-o OUT.md]
#               BASE_WKV NEW_WKV MODEL...
#
# -a passes more flags to both sides' `wkv bench` (a cache policy, say: -a "--policy weightedkv --budget 32");
# -A and -B to one side each, so that one build can be judged against itself with
# another setting: bench/ab.sh -A "--kv-type f16" -B "--kv-type q8_0" build/cli/wkv build/cli/wkv MODEL.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

n_prompt=64 n_predict=64 rounds=5 out="" extra="" base_extra="" new_extra=""
usage() { echo "usage: $0 [-p N] [-n N] [-r ROUNDS] [-a \"BENCH FLAGS\"] [-A \"BASE FLAGS\"] [-B \"NEW FLAGS\"] [-o OUT.md] BASE_WKV NEW_WKV MODEL..." >&2; exit 2; }
while getopts "p:n:r:a:A:B:o:" opt; do
    case $opt in
        p) n_prompt=$OPTARG ;; n) n_predict=$OPTARG ;; r) rounds=$OPTARG ;; a) extra=$OPTARG ;; o) out=$OPTARG ;;
        A) base_extra=$OPTARG ;; B) new_extra=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || usage
base=$1 new=$2
shift 2
for w in "$base" "$new"; do [ -x "$w" ] || { echo "$0: $w is not an executable" >&2; exit 2; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

table="| file | base prefill tok/s | new prefill tok/s | prefill ratio | base decode tok/s | new decode tok/s | decode ratio |
|---|---|---|---|---|---|---|"
for model in "$@"; do
    : > "$tmp/base" ; : > "$tmp/new"
    for ((r = 0; r < rounds; r++)); do
        for side in base new; do
            wkv=$base own=$base_extra
            [ $side = new ] && wkv=$new own=$new_extra
            # shellcheck disable=SC2086 # $extra and $own are lists of flags
            "$wkv" bench -m "$model" -p "$n_prompt" -n "$n_predict" -r 1 $extra $own --json "$tmp/r.json" > /dev/null
            echo "$(json_field prefill_tok_s < "$tmp/r.json") $(json_field decode_tok_s < "$tmp/r.json")" >> "$tmp/$side"
        done
    done
    bp=$(cut -d' ' -f1 "$tmp/base" | median); bd=$(cut -d' ' -f2 "$tmp/base" | median)
    np=$(cut -d' ' -f1 "$tmp/new" | median); nd=$(cut -d' ' -f2 "$tmp/new" | median)
    row=$(awk -v f="$(basename "$model")" -v bp="$bp" -v bd="$bd" -v np="$np" -v nd="$nd" \
        'BEGIN { printf "| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |", f, bp, np, np / bp, bd, nd, nd / bd }')
    echo "$row"
    table="$table
$row"
done
summary="$new${new_extra:+ $new_extra} against $base${base_extra:+ $base_extra}, -p $n_prompt -n $n_predict${extra:+ $extra}, $rounds interleaved rounds, medians:"
write_report "$out" "$summary" "$table"
