#!/usr/bin/env bash
# Runs every libFuzzer harness for a fixed time and fails on any finding.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [LOG.tsv]
#
# BUILD_DIR was configured with CXX=clang++ -DWKV_FUZZ=ON and built. Seed
# corpora come from ../shared (WKV_SHARED), copied into BUILD_DIR/fuzz-corpus/
# where each harness's corpus also keeps what it finds. With LOG.tsv, one line
# per harness is appended: date, harness, seconds, executions, findings.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS [LOG.tsv]}
seconds=${2:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS [LOG.tsv]}
log=${3:-}
shared=${WKV_SHARED:-../shared}
corpus=$build/fuzz-corpus

seed() {  # seed NAME FILE...: FILEs into NAME's corpus (sizes kept as they are)
    local name=$1
    shift
    mkdir -p "$corpus/$name"
    for f in "$@"; do cp -f "$f" "$corpus/$name/seed-$(basename "$f")"; done
}
seed fuzz_model_file "$shared/models/stories260K.bin" "$shared/models/stories260K_q80.bin" \
    "$shared/models/llama-2-tiny-random.gguf" "$shared"/models/quant/kq-random.{Q2_K,Q3_K,Q4_0,Q4_1,Q5_K,Q6_K,IQ4_NL,IQ4_XS,Q8_0}.gguf \
    "$shared"/models/arch/{gemma3,phi3}-random.gguf
mkdir -p "$corpus/fuzz_tokenizer_file"
printf '\0' | cat - "$shared/models/tok512.bin" > "$corpus/fuzz_tokenizer_file/seed-tok512.bin"
printf '\1' | cat - "$shared/models/wkv-eval-8m.tokenizer.model" > "$corpus/fuzz_tokenizer_file/seed-eval-8m.model"
printf '\2' | cat - "$shared/models/vocab/ggml-vocab-gpt-2.gguf" > "$corpus/fuzz_tokenizer_file/seed-gpt-2.gguf"
mkdir -p "$corpus/fuzz_tokenize"
for domain in "$shared"/corpora/*/; do
    first=$(find "$domain" -maxdepth 1 -type f | sort | head -1)
    [ -z "$first" ] || head -c 300 "$first" > "$corpus/fuzz_tokenize/seed-$(basename "$domain")"
done
printf 'caf\xc3\xa9 \xe2\x96\x81x \xff\xfe \xe2\x96 \xf0\x9f\x98\x80 \t\n  end' > "$corpus/fuzz_tokenize/seed-edges"
mkdir -p "$corpus/fuzz_cli_flags"
printf '\0--policy\0weightedkv\0--budget\00064\0--sinks\0004' > "$corpus/fuzz_cli_flags/seed-generate"
printf '\5--policy\0full,h2o,weightedkv\0--budget\00064,256\0-f\0doc.txt' > "$corpus/fuzz_cli_flags/seed-ppl"
printf '\0--temp\0000.8\0--top-p\0000.9\0--seed\0007\0-n\00032' > "$corpus/fuzz_cli_flags/seed-sampling"
mkdir -p "$corpus/fuzz_serve_request"
printf '\1{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}' \
    > "$corpus/fuzz_serve_request/seed-chat"
printf '\0{"prompt":"Once upon a time","max_tokens":8,"temperature":0.5,"top_p":0.9,"seed":3}' > "$corpus/fuzz_serve_request/seed-completion"
# fuzz_serve_live: endpoint and stream bits, temperature, seed (two bytes), then the text.
mkdir -p "$corpus/fuzz_serve_live"
printf '\0\377\1\0Once' > "$corpus/fuzz_serve_live/seed-completion-hot"        # the issue's crash: temperature 100, seed 1
printf '\3\377\7\0Once' > "$corpus/fuzz_serve_live/seed-chat-stream-hot"       # streamed chat, seed 7
printf '\2\200\5\0Once upon a time' > "$corpus/fuzz_serve_live/seed-completion-stream"
printf '\6\001\3\0Once upon a time' > "$corpus/fuzz_serve_live/seed-stream-beside-a-failure"  # the neighbour fails mid-batch
printf '\0\001\4\0The quick dog' > "$corpus/fuzz_serve_live/seed-completion-fails"             # 'q': not finite

status=0
for harness in fuzz_model_file fuzz_tokenizer_file fuzz_tokenize fuzz_cli_flags fuzz_serve_request fuzz_serve_live; do
    mkdir -p "$build/fuzz-findings/$harness"
    out=$build/fuzz-findings/$harness.log
    # -rss_limit_mb: the loaders must refuse what they cannot hold, not try.
    if "$build/tests/fuzz/$harness" "$corpus/$harness" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
        -artifact_prefix="$build/fuzz-findings/$harness/" -print_final_stats=1 > "$out" 2>&1; then
        findings=0
    else
        findings=1
        status=1
        tail -40 "$out"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    echo "fuzz: $harness: ${runs:-?} executions in ${seconds} s, $findings finding(s)"
    [ -z "$log" ] || printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$harness" "$seconds" "${runs:-0}" "$findings" >> "$log"
done
exit $status
