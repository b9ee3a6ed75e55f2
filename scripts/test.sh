#!/usr/bin/env bash
# Installs what is missing, builds rerankd with its tests and runs the whole suite.
#   scripts/test.sh                 # Release build in build/
#   BUILD_DIR=build-asan RERANKD_SANITIZE=address scripts/test.sh   # ASan + UBSan
#   BUILD_DIR=build-tsan RERANKD_SANITIZE=thread scripts/test.sh -R "Scheduler|BatchPolicy"   # TSan, scheduler tests
# Extra arguments go to ctest. Without any, the fuzzers' short runs follow (in $BUILD_DIR-fuzz, built
# with clang-14; skipped where it is absent, or with RERANKD_SKIP_FUZZ=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$PWD")}
type=Release
[ -n "${RERANKD_SANITIZE:-}" ] && type=RelWithDebInfo
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DRERANKD_SANITIZE="${RERANKD_SANITIZE:-}" >/dev/null
cmake --build "$build" --parallel 2
# OpenMP workers are invisible to TSan (libgomp is not instrumented): see tests/tsan.supp.
if [ "${RERANKD_SANITIZE:-}" = thread ]; then
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp history_size=7 ${TSAN_OPTIONS:-}"
fi
(cd "$build" && ctest --output-on-failure --timeout 600 "$@")
if [ $# -eq 0 ] && [ -z "${RERANKD_SANITIZE:-}" ] && [ -z "${RERANKD_SKIP_FUZZ:-}" ]; then
  if command -v clang++-14 >/dev/null && compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
    cmake -S . -B "$build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 -DRERANKD_FUZZ=ON \
          -DRERANKD_FUZZ_TESTDATA="$(cd "$build" && pwd)/testdata" >/dev/null
    cmake --build "$build-fuzz" --parallel 2
    (cd "$build-fuzz" && ctest --output-on-failure -L fuzz)
  else
    echo "test.sh: clang-14 with libFuzzer not found: fuzzers skipped (scripts/setup.sh installs them)"
  fi
fi

# The CUDA backend, so it never rots: where nvcc exists (and not for sanitizer builds), a second
# build dir with -DRERANKD_CUDA=ON builds the CUDA library, its tests and the CUDA-enabled binary
# (everything else comes from ccache) and runs the `cuda` tests, which skip without a GPU.
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ -x "$nvcc" ] && [ -z "${RERANKD_SANITIZE:-}" ] && [ -z "${RERANKD_NO_CUDA:-}" ]; then
  start=$(date +%s)
  cuda_build=${CUDA_BUILD_DIR:-build-cuda}
  cmake -S . -B "$cuda_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRERANKD_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" >/dev/null
  cmake --build "$cuda_build" --parallel 2 --target rerankd_cuda_tests rerankd
  (cd "$cuda_build" && ctest --output-on-failure --timeout 600 -L cuda)
  echo "test.sh: CUDA build and tests took $(($(date +%s) - start)) s"
fi
