#!/usr/bin/env bash
# Perplexity by K/V cache type, wkv against llama.cpp on the same tokens: one
# window of the first N tokens of a text (BOS first), every next token scored,
# the full cache, each type of `wkv ppl --kv-type` against f16, and llama.cpp's
# perplexity with the same `-ctk`/`-ctv` (flash attention on, which its
# quantised V needs) where it accepts the file. llama.cpp's own refusal is
# printed as it gives it.
#
#   bench/kv_types_ppl.sh [-n TOKENS] [-t TYPES] [-o OUT.md] MODEL.gguf TEXT
#
# TYPES: comma-separated, K/V alike (default f32,f16,q8_0,q4_0). llama.cpp
# runs on its CPU backend, the reference its perplexity fixtures came from.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

n_tokens=1024 types=f32,f16,q8_0,q4_0 out=""
while getopts "n:t:o:" opt; do
    case $opt in
        n) n_tokens=$OPTARG ;; t) types=$OPTARG ;; o) out=$OPTARG ;;
        *) echo "usage: $0 [-n TOKENS] [-t TYPES] [-o OUT.md] MODEL.gguf TEXT" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: $0 [-n TOKENS] [-t TYPES] [-o OUT.md] MODEL.gguf TEXT" >&2; exit 2; }
model=$1 text=$2

wkv=${WKV:-build/cli/wkv}
[ -x "$wkv" ] || { echo "$0: $wkv not built (run ./setup.sh)" >&2; exit 2; }
ensure_peer llama_cpp_ppl.mjs

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The same ids for both: wkv's tokenizer, the first n_tokens of them.
"$wkv" tokenize -m "$model" -f "$text" > "$tmp/ids.txt"
tr ' ' '\n' < "$tmp/ids.txt" | awk -v n="$n_tokens" 'NR <= n' | paste -sd, | sed 's/^/[/; s/$/]/' > "$tmp/ids.json"
"$wkv" ppl -m "$model" -f "$text" --ctx "$n_tokens" --max-tokens "$n_tokens" --policy full --kv-type "$types" \
    --json "$tmp/wkv.json" > /dev/null 2>&1

f16=$(tr -d '\n ' < "$tmp/wkv.json" | grep -o '"kv_type":"f16"[^}]*"perplexity":[0-9.e+-]*' | grep -o '"perplexity":[0-9.e+-]*' | cut -d: -f2 || true)
table="| K/V | wkv ppl | vs wkv f16 | llama.cpp ppl (CPU, flash attention) | wkv vs llama.cpp |
|---|---|---|---|---|"
for type in ${types//,/ }; do
    ppl=$(tr -d '\n ' < "$tmp/wkv.json" | grep -o "\"kv_type\":\"$type\"[^}]*\"perplexity\":[0-9.e+-]*" | grep -o '"perplexity":[0-9.e+-]*' | cut -d: -f2)
    upper=$(echo "$type" | tr a-z A-Z)
    if node "$peer_dir/llama_cpp_ppl.mjs" "$model" "$tmp/ids.json" "$upper" "$upper" cpu > "$tmp/peer.json" 2> "$tmp/peer.err"; then
        peer=$(json_field perplexity < "$tmp/peer.json")
        peer_cell=$(printf '%.4f' "$peer")
        versus=$(awk -v a="$ppl" -v b="$peer" 'BEGIN { printf "%+.3f %%", (a / b - 1) * 100 }')
    else
        peer_cell="refused: $(grep -m1 -o 'llama_init_from_model: .*' "$tmp/peer.err" || tail -n1 "$tmp/peer.err")"
        versus="-"
    fi
    vs_f16=$([ -n "$f16" ] && awk -v a="$ppl" -v b="$f16" 'BEGIN { printf "%+.3f %%", (a / b - 1) * 100 }' || echo "-")
    table+="
| $type | $(printf '%.4f' "$ppl") | $vs_f16 | $peer_cell | $versus |"
done
summary="$(basename "$model"), the first $n_tokens tokens of $(basename "$text"), one window, full cache; $("$wkv" devices 2>/dev/null | head -n1 || true)"
echo "$summary"
echo
echo "$table"
write_report "$out" "$summary" "$table"
