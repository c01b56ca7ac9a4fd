#!/usr/bin/env bash
# wkv installed and used as its users would (ctest's `install`):
#   1. cmake --install to a temporary prefix;
#   2. examples/simple.c built with CMake's find_package(wkv), run on Vulkan;
#   3. the same built with pkg-config alone, run on the CPU;
#   4. examples/simple.py through ctypes;
#   5. the installed `wkv generate`;
#   6. the .deb CPack builds: its files, its dependencies resolved by apt on
#      this Debian, and its wkv and libwkv run from the unpacked package.
# Each run must print exactly stories260K's greedy reference text.
# usage: install_test.sh BUILD_DIR SOURCE_DIR SHARED_DIR
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") shared=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0

fail() { echo "install_test: FAIL: $*"; exit 1; }
ok() { checks=$((checks + 1)); echo "ok: $*"; }

model=$shared/models/stories260K.bin
tokenizer=$shared/models/tok512.bin
expected=$work/expected.txt
python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))["greedy_text_256_steps"])' \
    "$shared/models/stories260K.reference.json" > "$expected"

# Runs a command that must print the reference text on stdout.
generates_reference() {
    local what=$1
    shift
    "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "$what exited $?"; }
    cmp -s "$expected" "$work/out.txt" || { diff "$expected" "$work/out.txt" | head -5; fail "$what: not the reference text"; }
    ok "$what"
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for f in bin/wkv include/wkv.h "lib/$multiarch/libwkv.so.0" share/doc/wkv/copyright; do
    [ -e "$prefix/$f" ] || fail "cmake --install put no $f"
done
lib=$prefix/lib/$multiarch/libwkv.so.0
libdir=$(dirname "$lib")
[ "$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" = libwkv.so.0 ] || fail "libwkv's SONAME is not libwkv.so.0"
# Only the C API is exported: no C++ symbol (their names start with _Z).
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -qv '^wkv_\|^WKV_'; then
    fail "libwkv exports more than wkv_*: $(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^wkv_' | head -3)"
fi
ok "installed: bin/wkv, include/wkv.h, lib/$multiarch/libwkv.so.0 (SONAME, only wkv_* exported), the copyright file"

cmake -S "$src/examples" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log" ||
    { cat "$work/cmake.log"; fail "find_package(wkv)"; }
cmake --build "$work/cmake-build" > "$work/cmake-build.log" || { cat "$work/cmake-build.log"; fail "building with CMake"; }
generates_reference "simple.c built with find_package(wkv), on Vulkan" \
    "$work/cmake-build/simple" -m "$model" -t "$tokenizer" -n 256

export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion wkv)" = "$("$prefix/bin/wkv" --version | awk '{print $2}')" ] ||
    fail "wkv.pc's version is not wkv --version's"
# Outside the loader's paths a program finds the library by the rpath README tells users to give.
# shellcheck disable=SC2046  # pkg-config's flags are words
cc -std=c99 -Wall -Wextra -Werror -o "$work/simple-pc" "$src/examples/simple.c" $(pkg-config --cflags --libs wkv) \
    -Wl,-rpath,"$(pkg-config --variable=libdir wkv)"
generates_reference "simple.c built with pkg-config, on the CPU" env -u LD_LIBRARY_PATH "$work/simple-pc" -m "$model" -t "$tokenizer" -n 256 --cpu

generates_reference "simple.py through ctypes" \
    python3 "$src/examples/simple.py" -m "$model" -t "$tokenizer" -n 256 --lib "$lib"
generates_reference "the installed wkv generate" \
    "$prefix/bin/wkv" generate -m "$model" -t "$tokenizer" --temp 0 -n 256

# The Debian package.
(cd "$build" && cpack -G DEB -B "$work/deb" > "$work/cpack.log") || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/deb/*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/deb-files.txt"
for f in ./usr/bin/wkv ./usr/include/wkv.h "./usr/lib/$multiarch/libwkv.so.0.1.0" "./usr/lib/$multiarch/libwkv.so.0" \
    "./usr/lib/$multiarch/pkgconfig/wkv.pc" "./usr/lib/$multiarch/cmake/wkv/wkvConfig.cmake" \
    ./usr/share/doc/wkv/copyright; do
    grep -qx "$f" "$work/deb-files.txt" || fail "the .deb has no $f"
done
if grep -q '^\./usr/lib/[^/]*\.so' "$work/deb-files.txt"; then fail "the .deb puts a library outside /usr/lib/$multiarch"; fi
depends=$(dpkg-deb -f "$deb" Depends)
for p in libvulkan1 libsentencepiece0 libpcre2-8-0; do
    echo "$depends" | grep -q "$p" || fail "the .deb does not depend on $p: $depends"
done
# apt resolves its dependencies on this Debian without installing anything.
apt-get install --simulate -q "$deb" > "$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt cannot install the .deb"; }
ok "$(basename "$deb"): its files, and Depends: $depends"
dpkg-deb -x "$deb" "$work/root"
generates_reference "the .deb's wkv generate" env LD_LIBRARY_PATH="$work/root/usr/lib/$multiarch" \
    "$work/root/usr/bin/wkv" generate -m "$model" -t "$tokenizer" --temp 0 -n 256
generates_reference "simple.py on the .deb's libwkv" \
    python3 "$src/examples/simple.py" -m "$model" -t "$tokenizer" -n 256 --cpu --lib "$work/root/usr/lib/$multiarch/libwkv.so.0"

echo "install_test: all $checks checks passed"
