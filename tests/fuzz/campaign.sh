#!/usr/bin/env bash
# A longer fuzzing campaign: every harness for SECONDS (default 1800), its
# executions and findings added to docs/fuzzing.tsv, and docs/fuzzing.md
# rewritten with the totals per harness. Run it with the fuzzers built:
#
#   WKV_BUILD_DIR=build-fuzz ./setup.sh -DWKV_FUZZ=ON
#   tests/fuzz/campaign.sh [SECONDS]     (0: only rewrite docs/fuzzing.md)
#
# The corpora stay in build-fuzz/fuzz-corpus, so a later campaign goes on
# from where this one stopped; findings are in build-fuzz/fuzz-findings.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-1800}
log=docs/fuzzing.tsv
[ -f "$log" ] || printf 'date\tharness\tseconds\texecutions\tfindings\n' > "$log"
status=0
if [ "$seconds" != 0 ]; then  # 0: only rewrite docs/fuzzing.md from the log
    tests/fuzz/run.sh build-fuzz "$seconds" "$log"
    status=$?
fi

{
    echo "# Fuzzing"
    echo
    echo "Totals over every campaign recorded in \`fuzzing.tsv\` (\`tests/fuzz/campaign.sh SECONDS\`; CI's"
    echo "30-second runs are not counted). A finding is a crash, a sanitizer report (ASan, UBSan), a"
    echo "harness's own check (see each file in \`tests/fuzz/\`), a timeout of 20 s or more than 2 GiB."
    echo
    echo "| harness | campaigns | minutes | executions | findings |"
    echo "|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 { n[$2]++; s[$2] += $3; e[$2] += $4; f[$2] += $5 }
        END { for (h in n) printf "| %s | %d | %.1f | %d | %d |\n", h, n[h], s[h] / 60, e[h], f[h] }' "$log" | sort
} > docs/fuzzing.md
cat docs/fuzzing.md
exit $status
