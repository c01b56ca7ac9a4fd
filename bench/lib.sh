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

# llama.cpp from npm, prebuilt (node-llama-cpp@3.22.1 and @node-llama-cpp/linux-x64-vulkan@3.22.1),
# in $WKV_PEER_DIR (default ~/.cache/wkv-peer), never in the source tree: sets peer_dir and copies
# the peer scripts named (bench/*.mjs) there. NODE_LLAMA_CPP_SKIP_DOWNLOAD=true: nothing is
# downloaded or compiled when it runs. With WKV_PEER_NO_INSTALL=1 a missing peer is an error (exit 4).
ensure_peer() {
    command -v node >/dev/null || { echo "$0: node not found (apt-get install nodejs)" >&2; exit 2; }
    peer_dir=${WKV_PEER_DIR:-$HOME/.cache/wkv-peer}
    export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
    if [ ! -d "$peer_dir/node_modules/@node-llama-cpp/linux-x64-vulkan" ]; then
        # bench/gpu_check.sh must reach no network: it asks for the peer only if it is there.
        [ "${WKV_PEER_NO_INSTALL:-0}" = 1 ] && { echo "$0: llama.cpp peer not installed in $peer_dir" >&2; exit 4; }
        mkdir -p "$peer_dir"
        (cd "$peer_dir" && npm init -y >/dev/null &&
            npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64-vulkan@3.22.1 >/dev/null)
    fi
    local script
    for script in "$@"; do cp "bench/$script" "$peer_dir/"; done
}
