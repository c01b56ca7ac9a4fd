#!/usr/bin/env bash
# wkv pull and -hf downloads against a stand-in for the Hugging Face Hub
# (tests/hub_server.py, on 127.0.0.1): no internet. Each case has a cache of its
# own, and checks what the Hub's client would find there: refs/main, the
# snapshot link, the blob and its SHA-256, and that nothing else is left.
#   pull_test.sh WKV SHARED WKV_SYNTHETIC_GGUF
set -euo pipefail
wkv=$1
arch=$2/models/arch
synthetic=$3  # writes the split model's parts
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in out err; do [ -s "$work/$f" ] && { echo "--- $f:"; cat "$work/$f"; } >&2; done
    exit 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# run CODE CACHE ARGS...: wkv with HF_HUB_CACHE=CACHE, its exit code must be CODE.
run() {
    local code=$1 cache=$2
    shift 2
    set +e
    HF_HUB_CACHE=$cache HF_ENDPOINT=${endpoint} "$wkv" "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    set -e
    [ "$rc" = "$code" ] || fail "wkv $* exited $rc, not $code"
}
# one_line MESSAGE: stderr is one line holding MESSAGE.
one_line() {
    [ "$(wc -l <"$work/err")" = 1 ] || fail "stderr is not one line"
    grep -qF -- "$1" "$work/err" || fail "stderr lacks: $1"
}
# cached CACHE REPO FILE SOURCE: the Hub client's layout, holding SOURCE's bytes.
cached() {
    local root=$1/models--${2/\//--} file=$3 source=$4
    local sum
    sum=$(sha "$source")
    [ "$(cat "$root/refs/main")" = "$commit" ] || fail "$root/refs/main is not $commit"
    [ "$(readlink "$root/snapshots/$commit/$file")" = "../../blobs/$sum" ] || fail "$file is not a link to its blob"
    [ "$(sha "$root/snapshots/$commit/$file")" = "$sum" ] || fail "$file does not hold $source"
    [ -z "$(find "$root" -name '*.incomplete' -o -name '*.wkv-*')" ] || fail "a partial or temporary file is left"
}
downloads_of() { grep -c "^GET /cdn/$(sha "$1")" "$work/log" || true; }

for f in 1 2 3 4; do head -c $((300000 + f)) /dev/urandom >"$work/random$f.gguf"; done
"$synthetic" split "$arch/llama3-random.gguf" 2 "$work/part" >/dev/null
commit=0123456789abcdef0123456789abcdef01234567
repo() { echo "\"wkv/$1\": {\"commit\": \"$commit\", $2 \"files\": {$3}}"; }
file() { echo "\"$1\": {\"path\": \"$2\", \"fault\": \"${3:-}\"}"; }
cat >"$work/hub.json" <<EOF
{"repos": {
 $(repo tiny-GGUF "" "$(file tiny-Q8_0.gguf "$arch/llama3-random.gguf"), $(file tiny-Q4_K_M.gguf "$arch/qwen3-random.gguf"),
                     $(file mmproj-tiny-Q4_K_M.gguf "$work/random1.gguf")"),
 $(repo split-GGUF "" "$(file big-Q8_0-00001-of-00002.gguf "$work/part-00001-of-00002.gguf"), $(file big-Q8_0-00002-of-00002.gguf "$work/part-00002-of-00002.gguf")"),
 $(repo twins-GGUF "" "$(file a-Q8_0.gguf "$work/random2.gguf"), $(file b-Q8_0.gguf "$work/random3.gguf")"),
 $(repo cut-GGUF "" "$(file cut-Q8_0.gguf "$arch/qwen2-random.gguf" cut)"),
 $(repo corrupt-GGUF "" "$(file corrupt-Q8_0.gguf "$arch/smollm3-random.gguf" corrupt)"),
 $(repo slow-GGUF "" "$(file slow-Q8_0.gguf "$arch/gemma3-random.gguf" slow)"),
 $(repo norange-GGUF "" "$(file norange-Q8_0.gguf "$arch/phi3-random.gguf" norange)"),
 $(repo huge-GGUF "" "$(file huge-Q8_0.gguf "$work/random4.gguf" huge)"),
 $(repo gated-GGUF "\"token\": \"hf_Secret123\"," "$(file gated-Q8_0.gguf "$arch/granite-random.gguf")")
}}
EOF
python3 "$here/hub_server.py" "$work/hub.json" "$work/log" >"$work/port" &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
endpoint=http://127.0.0.1:$(head -1 "$work/port")

echo "tag resolution: Q4_K_M by default, a tag in any case, never a projector"
run 0 "$work/c1" pull wkv/tiny-GGUF
[ "$(cat "$work/out")" = "$work/c1/models--wkv--tiny-GGUF/snapshots/$commit/tiny-Q4_K_M.gguf" ] || fail "path printed"
cached "$work/c1" wkv/tiny-GGUF tiny-Q4_K_M.gguf "$arch/qwen3-random.gguf"
[ "$(wc -c <"$work/c1/models--wkv--tiny-GGUF/refs/main")" = 40 ] || fail "refs/main is not the bare commit"
run 0 "$work/c1" info -hf wkv/tiny-GGUF:q8_0  # -hf downloads what the cache lacks
cached "$work/c1" wkv/tiny-GGUF tiny-Q8_0.gguf "$arch/llama3-random.gguf"
grep -q "^model .*tiny-Q8_0.gguf" "$work/out" || fail "info did not load the pulled file"
[ "$(grep -c "^GET /cdn/" "$work/log")" = 2 ] || fail "not one download each"
run 0 "$work/c1" pull wkv/tiny-GGUF:Q8_0  # cached: the Hub is asked, nothing fetched
grep -q "already in the cache" "$work/err" || fail "a second pull did not find the file"
[ "$(grep -c "^GET /cdn/" "$work/log")" = 2 ] || fail "a second pull downloaded again"
endpoint=http://127.0.0.1:9 run 0 "$work/c1" generate -hf wkv/tiny-GGUF:Q8_0 --cpu -p hi -n 2 --temp 0  # no network needed
run 0 "$work/c1" pull --list
grep -q "^wkv/tiny-GGUF  tiny-Q4_K_M.gguf  2.2 MiB$" "$work/out" || fail "--list lacks tiny-Q4_K_M.gguf"
[ "$(wc -l <"$work/out")" = 2 ] || fail "--list has other than the two files"
run 2 "$work/c1" pull wkv/tiny-GGUF:Q2_K
one_line "wkv/tiny-GGUF has no file with 'Q2_K' in its name (GGUF files: tiny-Q4_K_M.gguf, tiny-Q8_0.gguf)"
run 2 "$work/c1" pull wkv/twins-GGUF:Q8_0
one_line "more than one file matches (a-Q8_0.gguf, b-Q8_0.gguf); name one with --hf-file"
run 2 "$work/c1" pull wkv/twins-GGUF --list
one_line "pull: --list takes no model"

echo "a split model: every part, in order; it loads from the first, and generates what the whole file does"
run 0 "$work/c2" pull wkv/split-GGUF:Q8_0
[ "$(wc -l <"$work/out")" = 2 ] || fail "not two parts"
cached "$work/c2" wkv/split-GGUF big-Q8_0-00001-of-00002.gguf "$work/part-00001-of-00002.gguf"
cached "$work/c2" wkv/split-GGUF big-Q8_0-00002-of-00002.gguf "$work/part-00002-of-00002.gguf"
run 0 "$work/c2" info -hf wkv/split-GGUF:Q8_0
grep -q "^model .*big-Q8_0-00001-of-00002.gguf" "$work/out" || fail "info did not load the split model"
run 0 "$work/c2" generate -hf wkv/split-GGUF:Q8_0 --cpu -p "Once upon a time" -n 6 --temp 0
cp "$work/out" "$work/split-text"
run 0 "$work/c2" generate -m "$arch/llama3-random.gguf" --cpu -p "Once upon a time" -n 6 --temp 0
cmp -s "$work/out" "$work/split-text" || fail "the split model's text is not the whole file's"

echo "a connection cut halfway: retried from where it stopped"
run 0 "$work/c3" pull wkv/cut-GGUF
grep -q "retrying in" "$work/err" || fail "no retry reported"
grep -q "^GET /cdn/$(sha "$arch/qwen2-random.gguf") bytes=[1-9][0-9]*-$" "$work/log" || fail "no Range request"
cached "$work/c3" wkv/cut-GGUF cut-Q8_0.gguf "$arch/qwen2-random.gguf"

echo "a partial file from an earlier run is resumed; one the server will not range is restarted"
blobs=$work/c4/models--wkv--tiny-GGUF/blobs
mkdir -p "$blobs"
head -c 100000 "$arch/llama3-random.gguf" >"$blobs/$(sha "$arch/llama3-random.gguf").incomplete"
run 0 "$work/c4" pull wkv/tiny-GGUF:Q8_0
grep -q "^GET /cdn/$(sha "$arch/llama3-random.gguf") bytes=100000-$" "$work/log" || fail "not resumed at 100000"
cached "$work/c4" wkv/tiny-GGUF tiny-Q8_0.gguf "$arch/llama3-random.gguf"
blobs=$work/c4/models--wkv--norange-GGUF/blobs
mkdir -p "$blobs"
head -c 100000 "$arch/phi3-random.gguf" >"$blobs/$(sha "$arch/phi3-random.gguf").incomplete"
run 0 "$work/c4" pull wkv/norange-GGUF
cached "$work/c4" wkv/norange-GGUF norange-Q8_0.gguf "$arch/phi3-random.gguf"

echo "Ctrl-C keeps the partial file, under its partial name only, and the next pull resumes it"
partial=$work/c5/models--wkv--slow-GGUF/blobs/$(sha "$arch/gemma3-random.gguf").incomplete
HF_HUB_CACHE=$work/c5 HF_ENDPOINT=$endpoint "$wkv" pull wkv/slow-GGUF >"$work/out" 2>"$work/err" &
puller=$!
for _ in $(seq 100); do [ "$(stat -c %s "$partial" 2>/dev/null || echo 0)" -gt 0 ] && break; sleep 0.05; done
kill -INT $puller
set +e; wait $puller; rc=$?; set -e
[ "$rc" = 130 ] || fail "an interrupted pull exited $rc, not 130"
grep -q "interrupted with .*; \`wkv pull\` again resumes it" "$work/err" || fail "no resume hint"
[ -s "$partial" ] || fail "the partial file is gone"
[ ! -e "$work/c5/models--wkv--slow-GGUF/snapshots" ] || fail "a snapshot exists after an interrupted pull"
kept=$(stat -c %s "$partial")
run 0 "$work/c5" pull wkv/slow-GGUF
grep -q "^GET /cdn/$(sha "$arch/gemma3-random.gguf") bytes=$kept-$" "$work/log" || fail "not resumed at $kept"
cached "$work/c5" wkv/slow-GGUF slow-Q8_0.gguf "$arch/gemma3-random.gguf"

echo "two pulls of one file at once: one downloads, the other waits and finds it"
before=$(downloads_of "$arch/gemma3-random.gguf")
HF_HUB_CACHE=$work/c6 HF_ENDPOINT=$endpoint "$wkv" pull wkv/slow-GGUF >"$work/out1" 2>"$work/err1" &
first=$!
HF_HUB_CACHE=$work/c6 HF_ENDPOINT=$endpoint "$wkv" pull wkv/slow-GGUF >"$work/out2" 2>"$work/err2" || fail "the second pull"
wait $first || fail "the first pull"
cmp -s "$work/out1" "$work/out2" || fail "the two pulls name different files"
[ "$(downloads_of "$arch/gemma3-random.gguf")" = $((before + 1)) ] || fail "not exactly one download"
cat "$work/err1" "$work/err2" | grep -q "another pull is downloading it; waiting for it" || fail "no wait reported"
cached "$work/c6" wkv/slow-GGUF slow-Q8_0.gguf "$arch/gemma3-random.gguf"

echo "a corrupted download is refused and deleted"
run 2 "$work/c7" pull wkv/corrupt-GGUF
one_line "corrupt-Q8_0.gguf: its SHA-256 is"
grep -q "not the Hub's $(sha "$arch/smollm3-random.gguf"): the download is corrupt or tampered with" "$work/err" ||
    fail "message"
[ -z "$(find "$work/c7" -type f -o -type l | grep -v '\.lock$')" ] || fail "something is left of a corrupt download"

echo "a full disk: the space check first, and a failed write"
run 2 "$work/c8" pull wkv/huge-GGUF
one_line "huge-Q8_0.gguf needs 1048576.00 GiB more and"
blobs=$work/c8/models--wkv--tiny-GGUF/blobs
mkdir -p "$blobs"
ln -s /dev/full "$blobs/$(sha "$arch/llama3-random.gguf").incomplete"
run 2 "$work/c8" pull wkv/tiny-GGUF:Q8_0
one_line "No space left on device"
[ ! -e "$blobs/$(sha "$arch/llama3-random.gguf")" ] || fail "a blob from a full disk"
[ ! -e "$work/c8/models--wkv--tiny-GGUF/snapshots" ] || fail "a snapshot from a full disk"

echo "HF_HUB_OFFLINE: the cache only"
HF_HUB_OFFLINE=1 run 2 "$work/c1" pull wkv/tiny-GGUF
one_line "HF_HUB_OFFLINE is set: wkv pull downloads nothing"
HF_HUB_OFFLINE=1 run 0 "$work/c1" info -hf wkv/tiny-GGUF:Q8_0
HF_HUB_OFFLINE=true run 2 "$work/c1" info -hf wkv/slow-GGUF
one_line "wkv/slow-GGUF is not in the Hugging Face cache ($work/c1), and HF_HUB_OFFLINE is set: nothing is downloaded"
HF_HUB_OFFLINE=perhaps run 2 "$work/c1" info -hf wkv/slow-GGUF
one_line "HF_HUB_OFFLINE='perhaps' is neither"

echo "404, 401 and a token that is never printed"
run 2 "$work/c9" pull wkv/absent-GGUF
one_line "wkv/absent-GGUF: no such repository on $endpoint (HTTP 404)"
run 2 "$work/c9" pull wkv/gated-GGUF
one_line "wkv/gated-GGUF: HTTP 401 from $endpoint: a gated or private repository; set HF_TOKEN"
HF_TOKEN=hf_Wrong run 2 "$work/c9" pull wkv/gated-GGUF
one_line "HTTP 401"
HF_TOKEN=hf_Secret123 run 0 "$work/c9" pull wkv/gated-GGUF
cached "$work/c9" wkv/gated-GGUF gated-Q8_0.gguf "$arch/granite-random.gguf"
mkdir -p "$work/home"
printf 'hf_Secret123\n' >"$work/home/token"  # a Hub login's token file
rm -rf "$work/c9"
HF_HOME=$work/home run 0 "$work/c9" pull wkv/gated-GGUF
! grep -q "Secret" "$work/out" "$work/err" || fail "the token was printed"
HF_TOKEN=$'hf_x\r\nX-Evil: 1' run 2 "$work/c9" pull wkv/gated-GGUF
one_line "HF_TOKEN: does not hold a token"
endpoint="ftp://127.0.0.1" run 2 "$work/c9" pull wkv/gated-GGUF
one_line "HF_ENDPOINT='ftp://127.0.0.1' is not an http(s) URL"
endpoint=http://127.0.0.1:9 run 2 "$work/c9" pull wkv/gated-GGUF
one_line "wkv/gated-GGUF: "
run 2 "$work/c9" pull
one_line "pull: name a repository: wkv pull USER/REPO[:QUANT]"
run 2 "$work/c9" pull wkv/a wkv/b
one_line "unexpected argument"

echo "pull: all cases pass"
