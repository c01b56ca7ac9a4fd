#!/usr/bin/env bash
# wkv against llama.cpp's Vulkan backend on the same GGUF files and the same
# Vulkan device: prefill and decode tokens/s with the same prompt and
# generation lengths, the two engines' runs interleaved, medians and ratios.
#
#   bench/vs_llama_cpp.sh [-p N_PROMPT] [-n N_PREDICT] [-r ROUNDS] [-d DEVICE] [-o OUT.md] MODEL.gguf...
#
# llama.cpp comes from npm, prebuilt (bench/lib.sh, ensure_peer). Node 20 is
# needed (Debian's nodejs) for this benchmark only.
# llama.cpp's Vulkan backend hides CPU devices such as lavapipe unless
# GGML_VK_VISIBLE_DEVICES names them, so it is set to wkv's --device.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

n_prompt=64 n_predict=128 rounds=3 device=0 out=""
while getopts "p:n:r:d:o:" opt; do
    case $opt in
        p) n_prompt=$OPTARG ;; n) n_predict=$OPTARG ;; r) rounds=$OPTARG ;; d) device=$OPTARG ;; o) out=$OPTARG ;;
        *) echo "usage: $0 [-p N] [-n N] [-r ROUNDS] [-d DEVICE] [-o OUT.md] MODEL.gguf..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-p N] [-n N] [-r ROUNDS] [-d DEVICE] [-o OUT.md] MODEL.gguf..." >&2; exit 2; }

wkv=${WKV:-build/cli/wkv}
[ -x "$wkv" ] || { echo "$0: $wkv not built (run ./setup.sh)" >&2; exit 2; }
ensure_peer llama_cpp_peer.mjs

# The cache llama.cpp's run gets (llama_cpp_peer.mjs): n_prompt + n_predict + 8 entries of f16.
same_cache=(-c $((n_prompt + n_predict + 8)) --kv-type f16)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

table="| file | wkv prefill tok/s | llama.cpp prefill tok/s | prefill ratio | wkv decode tok/s | wkv GB/s | llama.cpp decode tok/s | decode ratio | wkv prefill / own decode |
|---|---|---|---|---|---|---|---|---|"
for model in "$@"; do
    name=$(basename "$model")
    : > "$tmp/wkv" ; : > "$tmp/peer"
    for ((r = 0; r < rounds; r++)); do
        # Each engine runs 3 times in its own process and reports its median;
        # the rounds alternate between the engines.
        "$wkv" bench -m "$model" -p "$n_prompt" -n "$n_predict" -r 3 --device "$device" "${same_cache[@]}" \
            --json "$tmp/w.json" >/dev/null
        echo "$(json_field prefill_tok_s < "$tmp/w.json") $(json_field decode_tok_s < "$tmp/w.json") $(json_field decode_gb_s < "$tmp/w.json")" >> "$tmp/wkv"
        GGML_VK_VISIBLE_DEVICES=$device node "$peer_dir/llama_cpp_peer.mjs" "$model" "$n_prompt" "$n_predict" 3 vulkan > "$tmp/p.jsonl"
        echo "$(sed -n 2p "$tmp/p.jsonl" | json_field prefill_tok_s) $(sed -n 2p "$tmp/p.jsonl" | json_field decode_tok_s)" >> "$tmp/peer"
        # (the middle of three runs: the first includes llama.cpp's pipeline compilation)
    done
    wp=$(cut -d' ' -f1 "$tmp/wkv" | median); wd=$(cut -d' ' -f2 "$tmp/wkv" | median); wg=$(cut -d' ' -f3 "$tmp/wkv" | median)
    pp=$(cut -d' ' -f1 "$tmp/peer" | median); pd=$(cut -d' ' -f2 "$tmp/peer" | median)
    row=$(awk -v n="$name" -v wp="$wp" -v wd="$wd" -v wg="$wg" -v pp="$pp" -v pd="$pd" \
        'BEGIN { printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.3f | %.1f | %.2fx | %.2fx |", n, wp, pp, wp / pp, wd, wg, pd, wd / pd, wp / wd }')
    echo "$row"
    table="$table
$row"
done
summary="wkv vs llama.cpp Vulkan, device $device, -p $n_prompt -n $n_predict, $rounds interleaved rounds, medians:"
write_report "$out" "$summary" "$table"
