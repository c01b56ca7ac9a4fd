#!/usr/bin/env bash
# Everything worth knowing about a real GPU, in one command, for the minutes
# one is at hand: conformance of every shader, wkv at real shapes against
# llama.cpp's Vulkan backend with the roofline, and the cost of evaluating all
# seven policies in one batch. Installs nothing and reaches no network: it
# needs a built tree (./setup.sh) and uses the llama.cpp peer only if it is
# already installed (bench/vs_llama_cpp.sh). Writes gpu_check.json and
# gpu_check.md into OUT_DIR.
#
#   bench/gpu_check.sh [-d DEVICE] [-q] [OUT_DIR]     (default OUT_DIR: bench/results/gpu_check)
#
# -q: quick, for a CPU driver (lavapipe), where the full check would take hours:
# the TinyLlama shape in q4_0 only, short runs, a short batch ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

device=0 quick=0
while getopts "d:q" opt; do
    case $opt in
        d) device=$OPTARG ;; q) quick=1 ;;
        *) echo "usage: $0 [-d DEVICE] [-q] [OUT_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
out=${1:-bench/results/gpu_check}
mkdir -p "$out"
wkv=${WKV:-build/cli/wkv}
[ -x "$wkv" ] || { echo "$0: $wkv not built (run ./setup.sh)" >&2; exit 2; }
export WKV_PEER_NO_INSTALL=1
start=$(date +%s)
log() { echo "[gpu_check $(($(date +%s) - start)) s] $*" >&2; }

if [ $quick = 1 ]; then
    shapes=(tinyllama-1.1b:q4_0) p=16 n=8 batch_tokens=256
else
    shapes=(tinyllama-1.1b:q8_0 tinyllama-1.1b:q4_0 llama-2-7b:q4_K) p=256 n=64 batch_tokens=2048
fi

log "devices"
"$wkv" devices > "$out/devices.txt"
log "conformance"
conformance=pass
"$wkv" conformance --device "$device" > "$out/conformance.txt" || conformance=fail
log "real shapes: ${shapes[*]}"
rm -rf "$out/bench"
bench/real_shapes.sh -p $p -n $n -r 1 -d "$device" -o "$out/real_shapes.md" -j "$out/bench" "${shapes[@]}" > /dev/null
log "batch ratio ($batch_tokens tokens)"
bench/ppl_batch_ratio.sh "$batch_tokens" 1 > "$out/batch_ratio.txt"
seconds=$(($(date +%s) - start))
log "done in $seconds s"

device_name=$(grep "^$device: " "$out/devices.txt" | head -1 | sed 's/^[0-9]*: *//')
{
    echo "# wkv GPU check: $device_name"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $seconds s$([ $quick = 1 ] && echo ', quick')."
    echo
    echo "## Conformance: $conformance"
    echo
    echo '```'
    grep -E " fail |^PASS|^FAIL" "$out/conformance.txt" | head -40 || true
    echo '```'
    echo
    echo "## Real shapes"
    echo
    cat "$out/real_shapes.md"
    echo
    echo "## All seven policies in one batch against the full cache alone"
    echo
    echo '```'
    cat "$out/batch_ratio.txt"
    echo '```'
} > "$out/gpu_check.md"
# The JSON: the summary, then each file's `wkv bench --json` record as it was written.
records=$(for f in "$out"/bench/*.json; do [ -e "$f" ] && cat "$f" && echo ,; done | sed '$ s/,$//')
cat > "$out/gpu_check.json" <<JSON
{
  "device": "$(sed 's/["\\]/\\&/g' <<< "$device_name")",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "seconds": $seconds,
  "quick": $([ $quick = 1 ] && echo true || echo false),
  "conformance": "$conformance",
  "real_shapes": [
$records
  ]
}
JSON
cat "$out/gpu_check.md"
[ $conformance = pass ]
