#!/usr/bin/env bash
# wkv against llama.cpp's Vulkan backend at real sizes, without downloading a
# model: GGUFs with seeded random weights in the shapes of real models
# (bench/synthetic_gguf.cpp, built as wkv_synthetic_gguf, with Llama 2's
# vocabulary) are written once into $WKV_SYNTHETIC_DIR (default
# ~/.cache/wkv-synthetic), never into the tree. For each file:
#   - `wkv bench --roofline`: decode tokens/s, GB/s, dispatches and host time
#     per token, and the share of the device's copy bandwidth decode reaches.
#     A file the device cannot hold is refused here by the memory plan (exit 3)
#     and reported as such;
#   - bench/vs_llama_cpp.sh on the files that fit: the same-invocation ratios.
#
#   bench/real_shapes.sh [-p N] [-n N] [-r ROUNDS] [-d DEVICE] [-o OUT.md] [-j JSON_DIR] [SHAPE:TYPE ...]
#
# -j keeps each file's `wkv bench --json` record in JSON_DIR as SHAPE.TYPE.json.
# Default files: tinyllama-1.1b:q8_0 tinyllama-1.1b:q4_0 llama-2-7b:q4_K.
# Llama 2's tokenizer.model comes from $WKV_TOKENIZER (default ../shared/models/llama2-tokenizer.model);
# the shapes of today's models (llama-3.2-1b, qwen2.5-0.5b, qwen3-0.6b) take their real vocabularies
# from $WKV_VOCAB_DIR (default ../shared/models/vocab); gemma-3-1b takes Llama 2's (Gemma's is not
# there) and phi-4-mini GPT-2's (for its gpt-4o one), each padded to the model's rows.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

n_prompt=64 n_predict=32 rounds=1 device=0 out="" json_dir=""
usage() { echo "usage: $0 [-p N] [-n N] [-r ROUNDS] [-d DEVICE] [-o OUT.md] [-j JSON_DIR] [SHAPE:TYPE ...]" >&2; exit 2; }
while getopts "p:n:r:d:o:j:" opt; do
    case $opt in
        p) n_prompt=$OPTARG ;; n) n_predict=$OPTARG ;; r) rounds=$OPTARG ;; d) device=$OPTARG ;; o) out=$OPTARG ;; j) json_dir=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tinyllama-1.1b:q8_0 tinyllama-1.1b:q4_0 llama-2-7b:q4_K)

wkv=${WKV:-build/cli/wkv}
maker=${WKV_SYNTHETIC_GGUF:-build/wkv_synthetic_gguf}
tokenizer=${WKV_TOKENIZER:-../shared/models/llama2-tokenizer.model}
vocab_dir=${WKV_VOCAB_DIR:-../shared/models/vocab}
vocabulary_of() {  # the tokenizer a shape's file is written with
    case $1 in
        llama-3.2-*) echo "$vocab_dir/ggml-vocab-llama-bpe.gguf" ;;
        qwen*) echo "$vocab_dir/ggml-vocab-qwen2.gguf" ;;
        phi-4-*) echo "$vocab_dir/ggml-vocab-gpt-2.gguf" ;;
        *) echo "$tokenizer" ;;
    esac
}
dir=${WKV_SYNTHETIC_DIR:-$HOME/.cache/wkv-synthetic}
for tool in "$wkv" "$maker"; do [ -x "$tool" ] || { echo "$0: $tool not built (run ./setup.sh)" >&2; exit 2; }; done
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

report="wkv at real shapes (synthetic random weights), device $device, -p $n_prompt -n $n_predict:

| file | wkv decode tok/s | GB/s | copy GB/s | share of copy | dispatches/token | host recording ms/token |
|---|---|---|---|---|---|---|"
fitting=()
for spec in "${files[@]}"; do
    shape=${spec%%:*} type=${spec#*:}
    file="$dir/$shape.$type.gguf"
    [ -s "$file" ] || "$maker" "$shape" "$type" "$(vocabulary_of "$shape")" "$file" >&2
    # The cache llama.cpp's run gets (bench/llama_cpp_peer.mjs): n_prompt + n_predict + 8 entries of f16.
    if "$wkv" bench -m "$file" -p "$n_prompt" -n "$n_predict" -r 1 --device "$device" --roofline \
        -c $((n_prompt + n_predict + 8)) --kv-type f16 --json "$tmp/r.json" \
        > "$tmp/out" 2> "$tmp/err"; then
        f() { json_field "$1" < "$tmp/r.json"; }
        row=$(awk -v n="$shape $type" -v d="$(f decode_tok_s)" -v g="$(f decode_gb_s)" \
            -v c="$(f copy_gb_s)" -v s="$(f decode_share_of_copy)" \
            -v k="$(f dispatches_per_token)" -v h="$(f record_ms_per_token)" \
            'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.0f%% | %.0f | %.3f |", n, d, g, c, 100 * s, k, h }')
        fitting+=("$file")
        if [ -n "$json_dir" ]; then mkdir -p "$json_dir" && cp "$tmp/r.json" "$json_dir/$shape.$type.json"; fi
    elif [ $? -eq 3 ]; then
        row="| $shape $type | does not fit: $(cut -c1-160 "$tmp/err" | sed 's/|/\\|/g') | | | | | |"
    else
        cat "$tmp/err" >&2
        exit 1
    fi
    echo "$row"
    report="$report
$row"
done
if [ ${#fitting[@]} -gt 0 ]; then
    peer_status=0
    bench/vs_llama_cpp.sh -p "$n_prompt" -n "$n_predict" -r "$rounds" -d "$device" -o "$tmp/peer.md" "${fitting[@]}" >&2 || peer_status=$?
    if [ $peer_status -eq 0 ]; then
        report="$report

$(cat "$tmp/peer.md")"
    else
        report="$report

(no llama.cpp comparison: bench/vs_llama_cpp.sh exited $peer_status)"
    fi
fi
echo "$report"
if [ -n "$out" ]; then printf '%s\n' "$report" > "$out"; fi
