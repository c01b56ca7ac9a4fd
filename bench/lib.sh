# Helpers the benchmark scripts share; source it: . "$(dirname "$0")/lib.sh"

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The first number stored under "NAME" in the JSON on stdin, however it is spaced.
json_field() { tr -d '\n ' | grep -o "\"$1\":[0-9.e+-]*" | head -1 | cut -d: -f2; }

# With a file name in OUT: SUMMARY, a blank line and TABLE into it.
write_report() {
    local out=$1 summary=$2 table=$3
    if [ -n "$out" ]; then printf '%s\n\n%s\n' "$summary" "$table" > "$out"; fi
}
