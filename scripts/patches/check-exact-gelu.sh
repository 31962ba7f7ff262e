#!/usr/bin/env bash
# Check ggml-exact-gelu.patch on every instruction set it has a path for, against GELU in double:
# x86 AVX-512 / AVX2 / SSE2 natively, and aarch64 NEON / SVE (scalar path) under qemu when the cross
# tools are there (Debian: apt-get install g++-aarch64-linux-gnu qemu-user). For whoever updates the patch.
#   bash scripts/patches/check-exact-gelu.sh
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
VERSION=${LLAMA_VERSION:-0.3.36}
WORK=$(mktemp -d) && trap 'rm -rf "$WORK"' EXIT
PY=$HERE/../../.venv/bin/python && [ -x "$PY" ] || PY=python3
"$PY" -m pip download -q --no-deps --no-binary :all: -d "$WORK" "llama-cpp-python==$VERSION"
tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"
(cd "$SRC" && patch -p1 --quiet) < ggml-exact-gelu.patch
# the kernels under test reference two symbols from the rest of ggml-cpu; stand-ins suffice here
printf 'extern "C" { float ggml_table_f32_f16[1 << 16]; int ggml_cpu_get_sve_cnt(void) { return 16; } }\n' > "$WORK/stub.cpp"
cd "$SRC/ggml/src/ggml-cpu"
build() { "$1" -std=c++17 -O2 ${2:+$2} -I. -I.. -I../../include "${@:3}" "$HERE/gelu_check.cpp" "$WORK/stub.cpp" vec.cpp -o "$WORK/check"; }
for flags in "-mavx512f -mavx512dq -mfma -mf16c" "-mavx2 -mfma -mf16c" ""; do
  build g++ "$flags" && echo "x86 [${flags:-sse2}]: $("$WORK/check")"
done
if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  for flags in "-march=armv8.2-a+fp16+dotprod" "-march=armv8-a+sve"; do
    build aarch64-linux-gnu-g++ "$flags" -static && echo "aarch64 [$flags]: $(qemu-aarch64 -cpu max "$WORK/check")"
  done
else
  echo "aarch64: skipped (no aarch64-linux-gnu-g++ / qemu-aarch64)"
fi
