#!/usr/bin/env bash
# Installs what wkv needs from Debian 12 packages (only what is missing), then
# configures and builds into build/. Pass extra CMake arguments after the
# script name, e.g. ./setup.sh -DWKV_SANITIZE=ON, or build the fuzzers with
# WKV_BUILD_DIR=build-fuzz ./setup.sh -DWKV_FUZZ=ON
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake g++ pkg-config libvulkan-dev mesa-vulkan-drivers vulkan-tools glslc glslang-tools spirv-tools
          vulkan-validationlayers libsentencepiece-dev libpcre2-dev doctest-dev nlohmann-json3-dev libcpp-httplib-dev libcurl4-openssl-dev libssl-dev chromium clang-format git
          python3 dpkg-dev file prometheus haproxy)
# libcurl and libssl (libcrypto's SHA-256) are wkv pull's; python3 runs the ctypes example and the
# tests' stand-in for the Hub, dpkg-dev and file let CPack build the .deb, and the serve
# tests check /metrics with promtool (prometheus) and route conversations through haproxy.
# The fuzzers (-DWKV_FUZZ=ON) are built with clang and its libFuzzer runtime.
fuzz=0
for a in "$@"; do [ "$a" = "-DWKV_FUZZ=ON" ] && fuzz=1; done
((fuzz)) && packages+=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup.sh: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir="${WKV_BUILD_DIR:-build}"
compiler=()
((fuzz)) && compiler=(-DCMAKE_CXX_COMPILER=clang++ -DWKV_BUILD_TESTS=OFF)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${compiler[@]}" "$@"
cmake --build "$build_dir" -j"$(nproc)"
echo "setup.sh: built $build_dir/cli/wkv; run the tests with: ctest --test-dir $build_dir --output-on-failure"
