#!/usr/bin/env bash
# A long generation in fixed memory: `wkv generate` for N tokens under a
# compressing policy, and once under the full cache up to the model's context
# as the contrast. Every K tokens wkv prints its resident set and the device
# memory it holds (--stats-every); this collects both into a TSV per run, plots
# them (gnuplot, if installed) and checks that, after warm-up, the compressing
# run stays flat within 1 %.
#
#   bench/soak.sh [-m MODEL] [-t TOKENIZER] [-n TOKENS] [-b BUDGET] [-k EVERY] [-o OUT_DIR] [-r] [-- extra wkv flags]
#
# Defaults: stories260K, 100,000 tokens, weightedkv at budget 64, a sample
# every 1,000 tokens, results in bench/results/soak/. -r reuses a run whose
# samples (NAME.tsv) are already in OUT_DIR and runs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

model=../shared/models/stories260K.bin tokenizer=../shared/models/tok512.bin
tokens=100000 budget=64 every=1000 out=bench/results/soak reuse=0
while getopts "m:t:n:b:k:o:r" opt; do
    case $opt in
        m) model=$OPTARG ;; t) tokenizer=$OPTARG ;; n) tokens=$OPTARG ;; b) budget=$OPTARG ;; k) every=$OPTARG ;; o) out=$OPTARG ;;
        r) reuse=1 ;;
        *) echo "usage: $0 [-m MODEL] [-t TOKENIZER] [-n TOKENS] [-b BUDGET] [-k EVERY] [-o OUT_DIR] [-r] [-- wkv flags]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
wkv=${WKV:-build/cli/wkv}
[ -x "$wkv" ] || { echo "$0: $wkv not built (run ./setup.sh)" >&2; exit 2; }
mkdir -p "$out"

# The model's context bounds the full cache's run.
context=$("$wkv" info -m "$model" | sed -n 's/.*context=\([0-9]*\).*/\1/p' | head -1)
[ -n "$context" ] || { echo "$0: cannot read the context of $model" >&2; exit 2; }

# run NAME TOKENS wkv-flags...: one generation, its samples in OUT/NAME.tsv.
run() {
    local name=$1 n=$2
    shift 2
    if ((reuse)) && [ -s "$out/$name.tsv" ]; then
        echo "soak: $name: reusing $out/$name.tsv" >&2
        return
    fi
    echo "soak: $name, $n tokens" >&2
    local started=$SECONDS
    "$wkv" generate -m "$model" -t "$tokenizer" -p "" --temp 0.8 --seed 1 -n "$n" --max-tokens-per-request 0 \
        --ignore-eos --stats-every "$every" "$@" 2> "$out/$name.log" > /dev/null
    { printf "tokens\tresident_bytes\tdevice_bytes\tkv_bytes_in_use\n"
      sed -n 's/^memory: tokens=\([0-9]*\) kv_bytes_in_use=\([0-9]*\) resident_bytes=\([0-9]*\) device_bytes=\([0-9]*\)$/\1\t\3\t\4\t\2/p' \
          "$out/$name.log"; } > "$out/$name.tsv"
    echo "soak: $name: $(tail -1 "$out/$name.log"), $((SECONDS - started)) s" >&2
    rm -f "$out/$name.log"
}

run weightedkv "$tokens" --policy weightedkv --budget "$budget" "$@"
full_every=$(( context / 16 > 0 ? context / 16 : 1 ))
every_saved=$every; every=$full_every
run full $(( context - 1 )) --policy full -c "$context" "$@"
every=$every_saved

# Flat: after the first tenth (warm-up), max and min within 1 % of the max.
verdict=$(awk -F'\t' -v n="$tokens" 'NR > 1 && $1 > n / 10 {
        if (!seen || $2 > rmax) rmax = $2; if (!seen || $2 < rmin) rmin = $2;
        if (!seen || $3 > dmax) dmax = $3; if (!seen || $3 < dmin) dmin = $3; seen = 1 }
    END { if (!seen) { print "no samples"; exit 1 }
          printf "resident %.1f..%.1f MiB (%.2f %%), device %.1f..%.1f MiB (%.2f %%)\n", rmin / 1048576, rmax / 1048576,
                 100 * (rmax - rmin) / rmax, dmin / 1048576, dmax / 1048576, dmax ? 100 * (dmax - dmin) / dmax : 0
          exit (rmax - rmin > 0.01 * rmax || dmax - dmin > 0.01 * dmax) }' "$out/weightedkv.tsv") && flat=yes || flat=no
echo "soak: weightedkv after warm-up: $verdict; flat within 1 %: $flat" | tee "$out/summary.txt"

if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal svg size 720,420 font "sans,11"
set output "$out/soak.svg"
set title "wkv generate: memory over a long generation (full cache: up to its context, where it must stop)"
set xlabel "tokens generated"
set ylabel "MiB"
set key top left
set datafile separator "\t"
set logscale xy
set xrange [10:*]
plot "$out/weightedkv.tsv" using 1:(\$2/1048576) skip 1 with lines lw 2 title "weightedkv, budget $budget: resident", \
     "$out/weightedkv.tsv" using 1:(\$3/1048576) skip 1 with lines lw 2 title "weightedkv: device memory held", \
     "$out/weightedkv.tsv" using 1:(\$4/1048576) skip 1 with lines lw 2 title "weightedkv: keys and values in use", \
     "$out/full.tsv" using 1:(\$2/1048576) skip 1 with linespoints title "full cache (to the context of $context): resident", \
     "$out/full.tsv" using 1:(\$4/1048576) skip 1 with linespoints title "full cache: keys and values in use"
GP
    echo "soak: plot in $out/soak.svg" >&2
fi
[ "$flat" = yes ]
