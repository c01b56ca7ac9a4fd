#!/usr/bin/env bash
# The tree git tracks holds no stray files: no empty source file, no libFuzzer
# artefact (crash-*, slow-unit-*, ...); and .gitignore keeps new artefacts out.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r -d '' f; do
    case "$f" in
        *.cpp | *.hpp | *.h | *.c | *.comp | *.glsl)
            if [ ! -s "$f" ]; then
                echo "tree: $f is tracked and empty"
                status=1
            fi
            ;;
    esac
    case "$(basename "$f")" in
        crash-* | leak-* | oom-* | slow-unit-* | timeout-*)
            echo "tree: $f is a fuzzer artefact"
            status=1
            ;;
    esac
done < <(git ls-files -z)
for name in crash-0 leak-0 oom-0 slow-unit-0 timeout-0; do
    if ! git check-ignore -q "$name"; then
        echo "tree: .gitignore does not keep out $name"
        status=1
    fi
done
[ "$status" -ne 0 ] || echo "tree: clean"
exit "$status"
