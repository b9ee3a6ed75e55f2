#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine, in one command (docs/performance.md, "CUDA").
#
#   scripts/gpu-check.sh --pack      here: builds build-cuda (-DRERANKD_CUDA=ON) and packs what the GPU
#                                    machine needs into .devcarry/gpu-check.tar.xz (binaries, the shared
#                                    libraries ldd shows that such a machine lacks, the test models)
#   scripts/gpu-check.sh --dry-run   here: unpacks the bundle and checks its pieces without a GPU: sizes
#                                    against the 64 MiB carry limit, every library resolved from the
#                                    bundle, the binaries run (CUDA tests skip), the Python parses
#   scripts/gpu-check.sh             on the GPU machine (device tool: carry .devcarry): runs the CUDA
#                                    tests, the server's API tests on cuda, the comparison with Hugging
#                                    Face transformers, and the benchmark figures (the server with the
#                                    passes overlapped and, RERANKD_CUDA_OVERLAP=0, without); prints
#                                    one table
#
# The GPU machine has CUDA (cuBLAS), PyTorch and transformers but none of our Debian libraries and
# no package access, so nothing is built there. Each step has a time limit; the whole run is meant
# to stay within ~10 minutes. Results also go to $OUT (or /tmp/rerankd-gpu/out) as JSON and logs.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=.devcarry/gpu-check.tar.xz
limit_mib=64

pack() {
  set -e
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$PWD")}
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DRERANKD_CUDA=ON >/dev/null
  cmake --build build-cuda --target rerankd rerankd_cuda_tests rerankd_bench testdata
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib/fallback" "$stage/testdata/models"
  for b in build-cuda/src/rerankd build-cuda/tests/cuda/rerankd_cuda_tests build-cuda/bench/rerankd_bench; do
    strip -o "$stage/bin/$(basename "$b")" "$b"
  done
  # Libraries: what ldd resolves, less glibc (every machine has one, newer there) and CUDA's own
  # (the GPU machine's CUDA provides them). libstdc++ and libgcc_s go to fallback/: used there only
  # if the machine's own are missing or too old.
  ldd "$stage"/bin/* | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      libcublas*|libcudart*|libcuda.so*) ;;
      libstdc++*|libgcc_s*) cp -L "$lib" "$stage/lib/fallback/" ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
  for m in tiny tiny-f16 tiny-bf16 small; do cp -r "build-cuda/testdata/models/$m" "$stage/testdata/models/"; done
  cp -r build-cuda/testdata/expected build-cuda/testdata/spm "$stage/testdata/"
  mkdir -p .devcarry
  python3 - "$stage" "$bundle" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[2], "w:xz", preset=9) as t:
    t.add(sys.argv[1], arcname="bundle")
PY
  rm -rf "$stage"
  echo "packed $bundle: $(du -h "$bundle" | cut -f1)"
}

unpack() {  # DIR
  rm -rf "$1" && mkdir -p "$1"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle" "$1"
}

# cuBLAS 13 on the GPU machine: the toolkit's, else the one PyTorch's wheels bring.
find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublasLt.so.13" ] && { echo "$d"; return; }
  done
  d=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
for root in site.getsitepackages():
    for hit in glob.glob(os.path.join(root, "nvidia", "**", "libcublasLt.so.13*"), recursive=True):
        print(os.path.dirname(hit)); raise SystemExit
PY
)
  [ -n "$d" ] && { echo "$d"; return; }
  find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1 | xargs -r dirname
}

library_path() {  # BUNDLE_DIR [CUBLAS_DIR]
  local path="$1/lib${2:+:$2}"
  if LD_LIBRARY_PATH=$path ldd "$1"/bin/* | grep -v -E 'libcublas|libcudart' | grep -q "not found"; then
    path="$path:$1/lib/fallback"
  fi
  echo "$path"
}

dry_run() {
  [ -f "$bundle" ] || { echo "no $bundle: run scripts/gpu-check.sh --pack first"; exit 1; }
  local dir=/tmp/rerankd-gpu-dry fail=0
  unpack "$dir"
  local b="$dir/bundle"
  local bundle_bytes tree_bytes
  bundle_bytes=$(stat -c %s "$bundle")
  tree_bytes=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  python3 -c 'import sys; b, t, l = map(int, sys.argv[1:]); m = 1 << 20
print(f"bundle {b / m:.1f} MiB + working tree {t / m:.1f} MiB = {(b + t) / m:.1f} MiB of the {l} MiB carry limit")' \
    "$bundle_bytes" "$tree_bytes" "$limit_mib"
  [ $((bundle_bytes + tree_bytes)) -lt $((limit_mib * 1048576)) ] || { echo "FAIL: over the carry limit"; fail=1; }
  echo "bundled libraries:"; (cd "$b/lib" && find . -type f -printf '  %8k KiB  %P\n' | sort -k3)
  # Resolved from the bundle alone (and CUDA's cuBLAS, which the GPU machine has).
  local path
  path=$(library_path "$b" /usr/local/cuda/lib64)
  if LD_LIBRARY_PATH=$path ldd "$b"/bin/* | grep "not found"; then echo "FAIL: unresolved libraries"; fail=1; fi
  LD_LIBRARY_PATH=$path ldd "$b/bin/rerankd" | awk '/=>/{print "  rerankd needs " $1 " -> " $3}' | grep -v "$b" |
    grep -v -E 'libc\.|libm\.|ld-linux|libcublas' || true
  LD_LIBRARY_PATH=$path "$b/bin/rerankd" --version || fail=1
  LD_LIBRARY_PATH=$path "$b/bin/rerankd" score --model "$b/testdata/models/tiny" --device cpu --dtype float32 \
    --query panda --doc bears >/dev/null || { echo "FAIL: bundled rerankd score"; fail=1; }
  LD_LIBRARY_PATH=$path RERANKD_TESTDATA="$b/testdata" "$b/bin/rerankd_cuda_tests" --gtest_brief=1 2>&1 | tail -3 ||
    { echo "FAIL: bundled CUDA tests"; fail=1; }
  python3 -m py_compile bench/gpu_hf.py tests/reference/make_test_models.py || fail=1
  bash -n "$0" || fail=1
  [ $fail -eq 0 ] && echo "dry run: ok" || { echo "dry run: FAILED"; exit 1; }
}

on_gpu() {
  local dir=/tmp/rerankd-gpu out=${OUT:-/tmp/rerankd-gpu/out}
  [ -f "$bundle" ] || { echo "no $bundle: pack it where the project builds (scripts/gpu-check.sh --pack)"; exit 1; }
  unpack "$dir"
  mkdir -p "$out"
  local b="$dir/bundle" cublas path
  cublas=$(find_cublas)
  path=$(library_path "$b" "$cublas")
  export LD_LIBRARY_PATH=$path RERANKD_TESTDATA="$b/testdata" PYTHONUNBUFFERED=1
  echo "cuBLAS from ${cublas:-(not found)}; library path $path"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  local table="$out/table.txt"
  : >"$table"
  row() { printf '%-58s %s\n' "$1" "$2" | tee -a "$table"; }

  echo "== CUDA tests"
  timeout 300 "$b/bin/rerankd_cuda_tests" 2>&1 | tee "$out/cuda_tests.log" | grep -E '^\[ (cuda|  FAILED|  PASSED|  SKIPPED)' 
  row "CUDA tests (kernels, float32 parity, fp16/bf16 budget)" "$(grep -E '^\[  (PASSED|FAILED)' "$out/cuda_tests.log" | tr '\n' ' ')"
  grep '^\[ cuda' "$out/cuda_tests.log" | sed 's/^\[ cuda     \] /  /' | tee -a "$table"

  echo "== server API tests, --device cuda"
  (cd tests/server && RERANKD_BIN="$b/bin/rerankd" RERANKD_DEVICE=cuda RERANKD_DTYPE=float32 \
    timeout 240 python3 -m unittest test_server.ApiTest) >"$out/server_api.log" 2>&1
  row "server API tests --device cuda" "$(tail -1 "$out/server_api.log") ($(grep -E '^Ran ' "$out/server_api.log"))"

  echo "== against Hugging Face transformers"
  timeout 240 python3 bench/gpu_hf.py compare --testdata "$b/testdata" --bin "$b/bin/rerankd" --json "$out/hf_compare.json" \
    2>"$out/hf_compare.err" | tee -a "$table" || tail -5 "$out/hf_compare.err"

  echo "== bge-shaped model"
  timeout 180 python3 tests/reference/make_test_models.py "$b/testdata" --bge-shaped --shaped-only || true
  local bge="$b/testdata/models/bge-shaped"

  echo "== engine: pairs/s at 256 tokens (batches of 16, 64, 128 pairs = 4k, 16k, 32k tokens), single pair"
  for dtype in float16 bfloat16; do
    timeout 240 "$b/bin/rerankd_bench" --model "$bge" --device cuda --dtypes "$dtype" --lengths 256 \
      --batches 1,16,64,128 --min-seconds 1 --json "$out/engine_$dtype.json" 2>&1 | tee "$out/engine_$dtype.log" | tail -6
    python3 - "$out/engine_$dtype.json" "$dtype" <<'PY' | tee -a "$table"
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    label = f"rerankd engine {sys.argv[2]}, {r['batch']} x {r['length']} tokens"
    print(f"{label:58} {r['pairs_per_second']:9.1f} pairs/s  {r['seconds'] * 1e3:8.2f} ms/pass")
PY
  done

  # The server twice: with the backend worker overlapping passes (the default) and one pass at a
  # time (RERANKD_CUDA_OVERLAP=0), so the table shows what the overlap gains under load.
  serve_bench() {  # LABEL OVERLAP CONCURRENCY...
    local label=$1 overlap=$2
    shift 2
    RERANKD_CUDA_OVERLAP=$overlap "$b/bin/rerankd" serve --model "$bge" --device cuda --max-batch-tokens 16384 \
      --port 0 >"$out/serve_$label.stdout" 2>"$out/serve_$label.log" &
    local server=$! port=""
    for _ in $(seq 120); do
      port=$(sed -n 's/^rerankd: listening on .*:\([0-9]*\)$/\1/p' "$out/serve_$label.stdout")
      [ -n "$port" ] && break
      sleep 1
    done
    if [ -n "$port" ]; then
      for c in "$@"; do
        timeout 60 "$b/bin/rerankd" bench --url "http://127.0.0.1:$port" --concurrency "$c" --docs-per-request 10 \
          --duration 10 --warmup 2 --json "$out/serve_${label}_c$c.json" >/dev/null 2>"$out/serve_${label}_c$c.log"
        python3 - "$out/serve_${label}_c$c.json" "$c" "$label" <<'PY' | tee -a "$table"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print(f"{'rerankd serve (' + sys.argv[3] + '), concurrency ' + sys.argv[2]:58} {r['pairs_per_s']:9.1f} pairs/s  "
      f"P50 {l['p50']:.1f} ms  P99 {l['p99']:.1f} ms  ok {r['ok']} rejected {r['rejected']}")
PY
      done
      row "GPU memory of rerankd serve ($label, 16k tokens, nvidia-smi)" \
        "$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader | grep "^$server," | cut -d, -f2)"
      row "planned by rerankd ($label)" "$(grep -m1 'CUDA memory plan:' "$out/serve_$label.log" | sed 's/.*plan: //')"
      row "rerankd serve backend ($label)" "$(grep -m1 'backend:' "$out/serve_$label.log" | sed 's/.*backend: //')"
    else
      row "rerankd serve --device cuda ($label)" "did not start: $(tail -2 "$out/serve_$label.log")"
    fi
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  }
  echo "== rerankd serve --device cuda under rerankd bench (10-document requests), overlap on and off"
  serve_bench overlap 1 1 16 64
  serve_bench no-overlap 0 16 64

  echo "== Hugging Face transformers float16 and the GPU's float16 matmul rate"
  timeout 240 python3 bench/gpu_hf.py speed --model "$bge" --json "$out/hf_speed.json" 2>"$out/hf_speed.err" |
    sed 's/^/transformers: /' | tee -a "$table" || tail -5 "$out/hf_speed.err"

  echo
  echo "================ gpu-check: results ================"
  cat "$table"
}

case "${1:-}" in
  --pack) pack ;;
  --dry-run) dry_run ;;
  "") on_gpu ;;
  *) echo "usage: scripts/gpu-check.sh [--pack | --dry-run]" >&2; exit 2 ;;
esac
