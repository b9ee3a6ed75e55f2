#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in two stages (docs/performance.md, "CUDA").
#
#   scripts/gpu-check.sh --pack      where the project builds: build-cuda (-DRERANKD_CUDA=ON), then the
#                                    bundle build-gpu-check/bundle.tar.xz: the stripped binaries (RPATH
#                                    $ORIGIN/../lib), the shared libraries a GPU machine lacks, the test
#                                    models and their expected scores
#   scripts/gpu-check.sh --dry-run   where the project builds, without a GPU: the bundle's size and
#                                    libraries, then the whole check with the CPU standing in for the
#                                    GPU, then a stage 1 made to fail (stage 2 must be skipped, the
#                                    failure's message printed), then a server that dies at start (the
#                                    wait for it must notice). It must pass before a GPU run.
#   scripts/gpu-check.sh [--stage 1|2]
#                                    on the GPU machine, from the repository root with the bundle in
#                                    place: stage 1 (correctness), then stage 2 (speed) if stage 1
#                                    passed; or one stage alone, to rerun it
#
# The GPU machine has CUDA, PyTorch and transformers but none of our Debian libraries and no
# network, so nothing is built there. Stage 1, at most STAGE1_LIMIT s (240): the CUDA tests,
# compute-sanitizer's memcheck on the kernel tests and the tiny parity test, the server's API tests
# with --device cuda and the scores against transformers' own model classes, side by side. Stage 2,
# at most STAGE2_LIMIT s (240): the speed figures on a bge-reranker-v2-m3-shaped float16 model,
# written while stage 1 runs. Results: $OUT (or /tmp/rerankd-gpu/out) gets three files, the
# summary table, the CUDA tests' log and every log packed in one archive; failures' messages go to
# standard output.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${RERANKD_GPU_BUNDLE:-build-gpu-check/bundle.tar.xz}
bundle_limit_mib=${RERANKD_GPU_BUNDLE_LIMIT_MIB:-64}  # what is sent to a GPU machine: bundle + working tree
script="$PWD/scripts/gpu-check.sh"
models="tiny tiny-f16 tiny-bf16 small bert-tiny bert-cased qwen3-tiny qwen3-tiny-untied bge-gemma-tiny"

# ------------------------------------------------------------------------------------------------
# --pack

pack() {
  set -e
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$PWD")}
  local nvcc
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DRERANKD_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" >/dev/null
  cmake --build build-cuda --parallel "${RERANKD_JOBS:-$(nproc)}" --target rerankd rerankd_cuda_tests rerankd_bench testdata
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib/fallback" "$stage/testdata/models"
  for b in build-cuda/src/rerankd build-cuda/tests/cuda/rerankd_cuda_tests build-cuda/bench/rerankd_bench; do
    strip -o "$stage/bin/$(basename "$b")" "$b"
  done
  # Libraries: what ldd resolves, less glibc (every machine has one) and CUDA's own (the GPU
  # machine's CUDA or PyTorch provides cuBLAS; its driver, libcuda). libstdc++ and libgcc_s go to
  # fallback/: used there only if the machine's own are too old.
  ldd "$stage"/bin/* | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      libcublas*|libcudart*|libcuda.so*) ;;
      libstdc++*|libgcc_s*) cp -L "$lib" "$stage/lib/fallback/" ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
  # The binaries find the bundle's libraries, and those find each other, without LD_LIBRARY_PATH
  # (which would also reach the machine's PyTorch). DT_RPATH rather than RUNPATH: it covers the
  # libraries' own dependencies too.
  patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$stage"/bin/*
  find "$stage/lib" -maxdepth 1 -type f -exec patchelf --force-rpath --set-rpath '$ORIGIN' {} \;
  for m in $models; do cp -r "build-cuda/testdata/models/$m" "$stage/testdata/models/"; done
  cp -r build-cuda/testdata/expected build-cuda/testdata/spm build-cuda/testdata/tokenizers "$stage/testdata/"
  mkdir -p "$(dirname "$bundle")"
  python3 - "$stage" "$bundle" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[2], "w:xz", preset=9) as t:
    t.add(sys.argv[1], arcname="bundle")
PY
  rm -rf "$stage"
  echo "packed $bundle: $(du -h "$bundle" | cut -f1)"
}

# ------------------------------------------------------------------------------------------------
# The check. Settings come from the environment so that --dry-run runs the same code on the CPU.

settings() {
  export DRY=${DRY:-0}
  export ROOT=${ROOT:-/tmp/rerankd-gpu}
  export RESULTS=${OUT:-$ROOT/out}
  export LOGS=$ROOT/logs B=$ROOT/bundle GEN=$ROOT/gen
  export STAGE1_LIMIT=${STAGE1_LIMIT:-240} STAGE2_LIMIT=${STAGE2_LIMIT:-240}
  export RERANKD_TESTDATA=$B/testdata PYTHONUNBUFFERED=1
  if [ "$DRY" = 1 ]; then
    export DEVICE=cpu SHAPED=mid-shaped ENGINE_DTYPES=float32 ENGINE_BATCHES=1,2 ENGINE_SECONDS=0.2
    export SERVE_SECONDS=2 SERVE_WARMUP=0 SERVE_OVERLAP_LEVELS="1 4" SERVE_NO_OVERLAP_LEVELS=4
    export COMPARE_ARGS="--paths cpu:float32 --baseline reference --jobs 2"
  else
    export DEVICE=cuda SHAPED=bge-shaped ENGINE_DTYPES=float16,bfloat16 ENGINE_BATCHES=1,16,64,128 ENGINE_SECONDS=1
    export SERVE_SECONDS=10 SERVE_WARMUP=2 SERVE_OVERLAP_LEVELS="1 16 64" SERVE_NO_OVERLAP_LEVELS="16 64"
    export COMPARE_ARGS=""
  fi
  export API_DTYPE=${API_DTYPE:-float32} STAGE1_STEPS=${STAGE1_STEPS:-"tests sanitizer server transformers"}
  # The Python with numpy (the model writer's need; the GPU machine's has PyTorch's too).
  if [ -z "${PYTHON:-}" ]; then
    for PYTHON in python3 /usr/bin/python3; do "$PYTHON" -c 'import numpy' 2>/dev/null && break; done
  fi
  export PYTHON
}

# Each step writes its rows and its failures to files of its own ($TABLE, $FAILURES): stage 1's
# steps run side by side.
row() { printf '%-60s %s\n' "$1" "$2" >>"$TABLE"; }

# What a failed step's log says went wrong: gtest's failure messages, CUDA and cuBLAS errors,
# unittest's errors and tracebacks, compute-sanitizer's reports, our tools' error lines.
failure_lines() {  # LOG
  awk '/Failure$|^(FAIL|ERROR): |^=+ (Invalid|Program hit)/ { print; more = 4; next }
       more > 0 { print; more--; next }
       /CUDA: |cuBLAS: |cuBLASLt |Error: |error: |ERROR SUMMARY|FAILED/ { print }' "$1" | head -40
}

failed() {  # STEP LOG WHY
  row "$1" "FAILED: $3"
  {
    echo "---- $1: $3 ($(basename "$2"))"
    failure_lines "$2"
  } | tee -a "$FAILURES"
}

warned() {  # STEP LOG WHY: reported like a failure, but the stage goes on
  row "$1" "NOT JUDGED: $3"
  {
    echo "---- $1 (not judged): $3 ($(basename "$2"))"
    failure_lines "$2"
  } | tee -a "$FAILURES"
}

# A step's time limit. --foreground keeps the command in the stage's process group, so that what
# a killed command leaves behind (a test's server) goes with the stage.
limit() { timeout --foreground -k 5 "$@"; }

# cuBLAS 13 on the GPU machine: the toolkit's, else the one PyTorch's wheels bring.
find_cublas() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/*/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublasLt.so.13" ] && { echo "$d"; return; }
  done
  "$PYTHON" - <<'PY' 2>/dev/null
import glob, os, site
for root in site.getsitepackages():
    for hit in glob.glob(os.path.join(root, "nvidia", "**", "libcublasLt.so.13*"), recursive=True):
        print(os.path.dirname(hit)); raise SystemExit
PY
}

# Unpacks the bundle and makes every library its binaries need resolve: cuBLAS linked in beside
# them, libstdc++ from the fallback only where the machine's own is too old.
unpack() {
  [ -f "$bundle" ] || { echo "no $bundle: pack it where the project builds (scripts/gpu-check.sh --pack)"; return 1; }
  rm -rf "$B" && mkdir -p "$ROOT"
  "$PYTHON" - "$bundle" "$ROOT" <<'PY' || return 1
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
PY
  local cublas
  cublas=$(find_cublas)
  [ -n "$cublas" ] || { echo "FAILED: no libcublasLt.so.13 on this machine (CUDA 13 toolkit or PyTorch's wheels)"; return 1; }
  ln -sf "$cublas"/libcublas.so.13* "$cublas"/libcublasLt.so.13* "$B/lib/"
  if ldd "$B"/bin/* 2>&1 | grep -q "not found"; then cp "$B"/lib/fallback/* "$B/lib/"; fi
  if ldd "$B"/bin/* 2>&1 | grep "not found"; then echo "FAILED: libraries unresolved"; return 1; fi
  echo "bundle in $B; cuBLAS from $cublas"
}

# The bge-shaped float16 model (mid-shaped in a dry run) and, beside it, Qwen3-Reranker-0.6B's
# shape in BF16 (its tokenizer from the bundle's testdata), written in the background while stage 1
# runs (its own time limit, outside the stages'); kept for a rerun of stage 2 on the same machine.
# $GEN/exit holds the writer's exit status once it has ended.
start_model() {
  if [ -f "$GEN/$SHAPED.done" ]; then return; fi
  rm -rf "$GEN" && mkdir -p "$GEN" && cp -r "$B/testdata/spm" "$B/testdata/tokenizers" "$GEN/"
  local flag=--bge-shaped
  [ "$SHAPED" = mid-shaped ] && flag=--mid-shaped
  (
    timeout 300 "$PYTHON" tests/reference/make_test_models.py "$GEN" --shaped-only $flag --qwen3-shaped \
      --shaped-dtype float16 \
      >"$LOGS/model.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] && touch "$GEN/$SHAPED.done"
    echo $rc >"$GEN/exit"
  ) >/dev/null 2>&1 &
  MODEL_WRITER=$!
}

stop_model() {
  [ -n "${MODEL_WRITER:-}" ] || return 0
  pkill -TERM -P "$MODEL_WRITER" 2>/dev/null
  wait "$MODEL_WRITER" 2>/dev/null
  MODEL_WRITER=""
}

# ---- stage 1: correctness -----------------------------------------------------------------------

# First, alone: whether rerankd runs on the device at all (a driver too old for the CUDA runtime,
# a missing library), with the reason, before the steps that would each fail on it.
step_device() {
  local log=$LOGS/1-device.log
  limit 60 "$B/bin/rerankd" score --model "$B/testdata/models/tiny" --device "$DEVICE" --dtype float32 \
    --query panda --doc bears >"$log" 2>&1
  local rc=$?
  row "backend" "$(grep -m1 'backend:' "$log" | sed 's/.*backend: //' | cut -c1-240)"
  if [ $rc -ne 0 ]; then failed "rerankd score --device $DEVICE" "$log" "exit $rc"; return 1; fi
}

step_tests() {
  local log=$LOGS/1-cuda_tests.log
  limit 170 "$B/bin/rerankd_cuda_tests" >"$log" 2>&1
  local rc=$? skipped
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\{0,1\},.*/\1/p' "$log")
  row "CUDA tests (kernels, float32 parity, fp16/bf16 budgets)" \
    "$(grep -E '^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ test' "$log" | sed 's/^\[ *\([A-Z]*\) *\] /\1 /' | tr '\n' ' ')"
  grep '^\[ cuda' "$log" | sed 's/^\[ cuda     \] /  /' >>"$TABLE"
  if [ $rc -ne 0 ]; then failed "CUDA tests" "$log" "exit $rc"; return 1; fi
  if [ "$DRY" != 1 ] && [ -n "$skipped" ]; then failed "CUDA tests" "$log" "$skipped skipped on a GPU machine"; return 1; fi
}

step_sanitizer() {
  local log=$LOGS/1-memcheck.log sanitizer filter='CudaKernels.*:Models/CudaParityTest.*/tiny'
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
  if [ "$DRY" = 1 ]; then
    sanitizer=""  # no device: the same tests without it
    limit 170 "$B/bin/rerankd_cuda_tests" --gtest_filter="$filter" >"$log" 2>&1
  elif [ -z "$sanitizer" ]; then
    row "compute-sanitizer memcheck" "NOT RUN: compute-sanitizer not found on this machine"
    return 0
  else
    limit 170 "$sanitizer" --tool memcheck --error-exitcode 86 --print-limit 20 \
      "$B/bin/rerankd_cuda_tests" --gtest_filter="$filter" >"$log" 2>&1
  fi
  local rc=$?
  case $rc in
    0) row "compute-sanitizer memcheck (kernel tests, tiny parity)" \
         "${sanitizer:+clean: }$(grep -m1 -E 'ERROR SUMMARY|PASSED' "$log")" ;;
    86) failed "compute-sanitizer memcheck" "$log" "memory errors"; return 1 ;;
    124) warned "compute-sanitizer memcheck" "$log" "timed out after 170 s" ;;
    *) warned "compute-sanitizer memcheck" "$log" "exit $rc (a test failure is judged by the CUDA tests)" ;;
  esac
}

step_server() {
  local log=$LOGS/1-server_api.log
  (cd tests/server && RERANKD_BIN="$B/bin/rerankd" RERANKD_DEVICE=$DEVICE RERANKD_DTYPE=$API_DTYPE \
    limit 170 "$PYTHON" -m unittest test_server.ApiTest) >"$log" 2>&1
  local rc=$?
  row "server API tests --device $DEVICE" "$(tail -1 "$log") ($(grep -E '^Ran ' "$log"))"
  if [ $rc -ne 0 ]; then failed "server API tests" "$log" "exit $rc"; return 1; fi
  if grep -q "skipped" "$log" && [ "$DRY" != 1 ]; then failed "server API tests" "$log" "skipped"; return 1; fi
}

step_transformers() {
  local log=$LOGS/1-transformers.log
  # shellcheck disable=SC2086
  limit 200 "$PYTHON" bench/gpu_hf.py compare --testdata "$B/testdata" --bin "$B/bin/rerankd" \
    --json "$LOGS/1-transformers.json" $COMPARE_ARGS >"$log" 2>"$LOGS/1-transformers.err"
  local rc=$?
  sed 's/^/  /' "$log" >>"$TABLE"
  if [ $rc -ne 0 ]; then
    cat "$LOGS/1-transformers.err" >>"$log"
    failed "scores against transformers" "$log" "exit $rc"
    return 1
  fi
}

stage1() {
  local step pids=() fail=0
  TABLE=$LOGS/table-1.txt FAILURES=$LOGS/failures-1.txt step_device || return 1
  for step in $STAGE1_STEPS; do
    TABLE=$LOGS/table-1-$step.txt FAILURES=$LOGS/failures-1-$step.txt "step_$step" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail=1; done
  return $fail
}

# ---- stage 2: speed -----------------------------------------------------------------------------

# Starts `rerankd serve` (SERVER, PORT) and waits for its port; gives up at once when the server
# dies, saying why in WHY.
serve_start() {  # LABEL MODEL [ENV...]
  local label=$1 model=$2
  shift 2
  env "$@" "$B/bin/rerankd" serve --model "$model" --device "$DEVICE" --max-batch-tokens 16384 --port 0 \
    >"$LOGS/2-serve_$label.stdout" 2>"$LOGS/2-serve_$label.log" &
  SERVER=$! PORT="" WHY=""
  local i
  for i in $(seq 600); do
    PORT=$(sed -n 's/^rerankd: listening on .*:\([0-9]*\)$/\1/p' "$LOGS/2-serve_$label.stdout")
    [ -n "$PORT" ] && return 0
    if ! kill -0 "$SERVER" 2>/dev/null; then
      wait "$SERVER"
      WHY="rerankd serve ($label) died at start (exit $?) after $((i / 5)) s"
      return 1
    fi
    sleep 0.2
  done
  WHY="rerankd serve ($label) gave no port in 120 s"
  return 1
}

serve_stop() {
  kill "$SERVER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
}

gpu_memory() {  # PID: the process's GPU memory as nvidia-smi sees it, or the whole GPU's
  [ "$DRY" = 1 ] && { echo "(dry run: no nvidia-smi)"; return; }
  local mine
  mine=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | grep "^$1," | cut -d, -f2)
  if [ -n "$mine" ]; then echo "$mine (the process)"
  else echo "$(nvidia-smi --query-gpu=memory.used --format=csv,noheader) (the whole GPU: the process is not listed)"; fi
}

serve_bench() {  # LABEL OVERLAP MODEL CONCURRENCY...
  local label=$1 overlap=$2 model=$3 c
  shift 3
  if ! serve_start "$label" "$model" RERANKD_CUDA_OVERLAP="$overlap"; then
    failed "rerankd serve ($label)" "$LOGS/2-serve_$label.log" "$WHY"
    return 1
  fi
  local fail=0
  for c in "$@"; do
    local json=$LOGS/2-serve_${label}_c$c.json
    limit $((SERVE_SECONDS + SERVE_WARMUP + 20)) "$B/bin/rerankd" bench --url "http://127.0.0.1:$PORT" \
      --concurrency "$c" --docs-per-request 10 --duration "$SERVE_SECONDS" --warmup "$SERVE_WARMUP" \
      --json "$json" >/dev/null 2>"$LOGS/2-serve_${label}_c$c.log" ||
      { failed "rerankd bench ($label, concurrency $c)" "$LOGS/2-serve_${label}_c$c.log" "exit $?"; fail=1; continue; }
    "$PYTHON" - "$json" "$c" "$label" <<'PY' >>"$TABLE"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print(f"{'rerankd serve (' + sys.argv[3] + '), concurrency ' + sys.argv[2]:60} {r['pairs_per_s']:9.1f} pairs/s  "
      f"P50 {l['p50']:.1f} ms  P99 {l['p99']:.1f} ms  ok {r['ok']} rejected {r['rejected']}")
PY
  done
  row "GPU memory of rerankd serve ($label, 16k tokens)" "$(gpu_memory "$SERVER")"
  row "planned by rerankd ($label)" "$(grep -m1 'CUDA memory plan:' "$LOGS/2-serve_$label.log" | sed 's/.*plan: //')"
  row "backend ($label)" "$(grep -m1 'backend:' "$LOGS/2-serve_$label.log" | sed 's/.*backend: //' | cut -c1-200)"
  serve_stop
  return $fail
}

stage2() {
  local fail=0 model=$GEN/models/$SHAPED
  export TABLE=$LOGS/table-2.txt FAILURES=$LOGS/failures-2.txt
  echo "waiting for the $SHAPED model"
  while [ ! -f "$GEN/$SHAPED.done" ] && [ ! -f "$GEN/exit" ]; do sleep 1; done
  if [ ! -f "$GEN/$SHAPED.done" ]; then failed "the $SHAPED model" "$LOGS/model.log" "not written"; return 1; fi
  row "model" "$(grep -h -m1 'GB of' "$LOGS/model.log" 2>/dev/null || echo "$SHAPED, written by an earlier run")"

  echo "engine: pairs/s at 256 tokens"
  local log=$LOGS/2-engine.log
  if limit 120 "$B/bin/rerankd_bench" --model "$model" --device "$DEVICE" --dtypes "$ENGINE_DTYPES" --lengths 256 \
       --batches "$ENGINE_BATCHES" --min-seconds "$ENGINE_SECONDS" --json "$LOGS/2-engine.json" >"$log" 2>&1; then
    "$PYTHON" - "$LOGS/2-engine.json" <<'PY' >>"$TABLE"
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    label = f"rerankd engine {r['dtype']}, {r['batch']} x {r['length']} tokens"
    print(f"{label:60} {r['pairs_per_second']:9.1f} pairs/s  {r['seconds'] * 1e3:8.2f} ms/pass")
PY
  else
    failed "rerankd_bench" "$log" "exit $?"
    fail=1
  fi

  # The decoder graph at Qwen3-Reranker-0.6B's shape (issue 22's figures on a GPU).
  echo "engine: Qwen3-Reranker-0.6B's shape, pairs/s at 256 tokens"
  log=$LOGS/2-qwen3.log
  if limit 120 "$B/bin/rerankd_bench" --model "$GEN/models/qwen3-0.6b-shaped" --device "$DEVICE" \
       --dtypes "$ENGINE_DTYPES" --lengths 256 --batches "$ENGINE_BATCHES" --min-seconds "$ENGINE_SECONDS" \
       --json "$LOGS/2-qwen3.json" >"$log" 2>&1; then
    "$PYTHON" - "$LOGS/2-qwen3.json" <<'PY' >>"$TABLE"
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    label = f"rerankd qwen3-0.6b {r['dtype']}, {r['batch']} x {r['length']} tokens"
    print(f"{label:60} {r['pairs_per_second']:9.1f} pairs/s  {r['seconds'] * 1e3:8.2f} ms/pass")
PY
  else
    failed "rerankd_bench qwen3-0.6b" "$log" "exit $?"
    fail=1
  fi

  # The server with the passes overlapped (the default) and one at a time, side by side.
  echo "rerankd serve under rerankd bench"
  # shellcheck disable=SC2086
  serve_bench overlap 1 "$model" $SERVE_OVERLAP_LEVELS || fail=1
  # shellcheck disable=SC2086
  serve_bench no-overlap 0 "$model" $SERVE_NO_OVERLAP_LEVELS || fail=1

  echo "transformers float16 and the GPU's float16 matmul rate"
  log=$LOGS/2-transformers.log
  if [ "$DRY" = 1 ]; then
    "$PYTHON" bench/gpu_hf.py speed --help >"$log" 2>&1 || { failed "gpu_hf.py speed --help" "$log" "exit $?"; fail=1; }
    row "transformers float16" "(dry run: not run, no GPU for PyTorch)"
  elif limit 150 "$PYTHON" bench/gpu_hf.py speed --model "$model" --json "$LOGS/2-transformers.json" >"$log" \
         2>"$LOGS/2-transformers.err"; then
    sed 's/^/transformers: /' "$log" >>"$TABLE"
  else
    local rc=$?
    cat "$LOGS/2-transformers.err" >>"$log"
    failed "transformers float16" "$log" "exit $rc"
    fail=1
  fi
  return $fail
}

# ---- both, and what comes back ------------------------------------------------------------------

# A stage under its own time limit, in a process group of its own (timeout makes one): whatever
# the stage leaves running is ended with it.
run_stage() {  # N
  local n=$1 seconds start rc pid step
  seconds=$([ "$n" = 1 ] && echo "$STAGE1_LIMIT" || echo "$STAGE2_LIMIT")
  rm -f "$LOGS/$n-"* "$LOGS/table-$n"*.txt "$LOGS/failures-$n"*.txt
  echo "== stage $n (at most $seconds s)"
  start=$(date +%s)
  timeout -k 10 "$seconds" bash "$script" --stage-body "$n" &
  pid=$!
  wait $pid
  rc=$?
  kill -TERM -- "-$pid" 2>/dev/null
  if [ "$n" = 1 ]; then  # the steps' own rows, in a fixed order, also from a stage cut short
    for step in $STAGE1_STEPS; do
      cat "$LOGS/table-1-$step.txt" >>"$LOGS/table-1.txt" 2>/dev/null
      cat "$LOGS/failures-1-$step.txt" >>"$LOGS/failures-1.txt" 2>/dev/null
    done
  fi
  [ $rc -eq 124 ] && printf '%-60s %s\n' "stage $n" "TIMED OUT after $seconds s" >>"$LOGS/table-$n.txt"
  echo "stage $n: $([ $rc -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $(($(date +%s) - start)) s" |
    tee -a "$LOGS/stages.txt"
  return $rc
}

collect() {
  mkdir -p "$RESULTS"
  {
    echo "rerankd gpu-check, $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$DRY" = 1 ] && echo ', DRY RUN on the CPU')"
    cat "$LOGS/device.txt" 2>/dev/null
    for n in 1 2; do
      [ -f "$LOGS/table-$n.txt" ] || continue
      echo
      echo "-- stage $n"
      cat "$LOGS/table-$n.txt"
    done
    echo
    cat "$LOGS/stages.txt"
    if cat "$LOGS"/failures-[12].txt 2>/dev/null | grep -q .; then
      echo
      echo "-- failures"
      cat "$LOGS"/failures-[12].txt 2>/dev/null | head -120
    fi
  } >"$RESULTS/summary.txt"
  [ -f "$LOGS/1-cuda_tests.log" ] && cp "$LOGS/1-cuda_tests.log" "$RESULTS/cuda_tests.log"
  tar czf "$RESULTS/gpu-check-logs.tar.gz" -C "$ROOT" logs
  echo
  echo "================ gpu-check: results ($RESULTS) ================"
  cat "$RESULTS/summary.txt"
}

check() {  # STAGES: "1 2", "1" or "2"
  settings
  mkdir -p "$LOGS"
  rm -f "$LOGS/stages.txt"
  unpack || { echo "unpack: FAILED" >"$LOGS/stages.txt"; collect; return 1; }
  if [ "$DRY" = 1 ]; then echo "device: none (dry run: cpu)" >"$LOGS/device.txt"
  else nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/device: /' >"$LOGS/device.txt"; fi
  cat "$LOGS/device.txt"
  [[ " $1 " == *" 2 "* ]] && start_model
  local rc=0
  if [[ " $1 " == *" 1 "* ]]; then
    run_stage 1 || rc=1
  fi
  if [[ " $1 " == *" 2 "* ]]; then
    if [ $rc -ne 0 ]; then
      stop_model
      rm -f "$LOGS/2-"* "$LOGS/table-2"*.txt "$LOGS/failures-2"*.txt
      echo "stage 2: skipped (stage 1 failed)" | tee -a "$LOGS/stages.txt"
    else
      run_stage 2 || rc=1
    fi
  fi
  collect
  return $rc
}

# ------------------------------------------------------------------------------------------------
# --dry-run

dry_run() {
  [ -f "$bundle" ] || { echo "no $bundle: run scripts/gpu-check.sh --pack first"; exit 1; }
  local fail=0 bundle_bytes tree_bytes
  bundle_bytes=$(stat -c %s "$bundle")
  tree_bytes=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  python3 -c 'import sys; b, t, l = map(int, sys.argv[1:]); m = 1 << 20
print(f"bundle {b / m:.1f} MiB + working tree {t / m:.1f} MiB = {(b + t) / m:.1f} MiB of {l} MiB")' \
    "$bundle_bytes" "$tree_bytes" "$bundle_limit_mib"
  [ $((bundle_bytes + tree_bytes)) -lt $((bundle_limit_mib * 1048576)) ] || { echo "FAIL: bundle too large"; fail=1; }
  python3 -m py_compile bench/gpu_hf.py tests/reference/make_test_models.py || fail=1
  bash -n "$0" || fail=1

  # The whole check, the CPU standing in for the GPU. The stages get more time: two shared cores.
  export DRY=1 ROOT=/tmp/rerankd-gpu-dry OUT=/tmp/rerankd-gpu-dry/out STAGE1_LIMIT=480 STAGE2_LIMIT=480
  rm -rf "$ROOT"
  check "1 2" || { echo "FAIL: the dry run's check"; fail=1; }
  echo "bundled libraries:"; (cd "$ROOT/bundle/lib" && find . -maxdepth 1 -type f -printf '  %8k KiB  %P\n' | sort -k3)
  local rpath
  rpath=$(patchelf --print-rpath "$ROOT/bundle/bin/rerankd")
  [ "$rpath" = '$ORIGIN/../lib' ] || { echo "FAIL: rerankd's RPATH is '$rpath'"; fail=1; }
  local files
  files=$(find "$OUT" -type f | wc -l)
  echo "results: $files files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
  [ "$files" -le 8 ] || { echo "FAIL: more than 8 files in the results"; fail=1; }
  for f in summary.txt cuda_tests.log gpu-check-logs.tar.gz; do
    [ -s "$OUT/$f" ] || { echo "FAIL: no $f in the results"; fail=1; }
  done
  tar tzf "$OUT/gpu-check-logs.tar.gz" | grep -q 'logs/2-engine.json' || { echo "FAIL: the archive lacks logs"; fail=1; }
  grep -q 'rerankd engine float32, 2 x 256 tokens' "$OUT/summary.txt" || { echo "FAIL: no engine figures"; fail=1; }
  grep -q 'rerankd serve (no-overlap), concurrency 4' "$OUT/summary.txt" || { echo "FAIL: no serve figures"; fail=1; }

  # Stage 1 made to fail (the API tests in float16, which the CPU refuses): stage 2 is skipped, the
  # model writer stopped, and the refusal printed.
  echo
  echo "== dry run: a stage 1 that fails"
  rm -rf "$ROOT/gen"  # so that the model writer runs, and must be stopped
  local printed rc
  printed=$(STAGE1_STEPS=server API_DTYPE=float16 OUT=$ROOT/out-fail check "1 2" 2>&1)
  rc=$?
  echo "$printed" | tail -25
  [ $rc -ne 0 ] || { echo "FAIL: a failed stage 1 passed"; fail=1; }
  echo "$printed" | grep -q "stage 2: skipped" || { echo "FAIL: stage 2 was not skipped"; fail=1; }
  echo "$printed" | grep -q "runs on CUDA devices only" || { echo "FAIL: the failure's message was not printed"; fail=1; }
  [ "$(cat "$ROOT/gen/exit" 2>/dev/null)" != 0 ] && [ -f "$ROOT/gen/exit" ] ||
    { echo "FAIL: the model writer was not stopped"; fail=1; }

  # A stage past its limit is cut short, with what it had, and leaves nothing running.
  echo
  echo "== dry run: a stage past its time limit"
  STAGE1_STEPS="server transformers" STAGE1_LIMIT=1 OUT=$ROOT/out-timeout check 1 >"$ROOT/timeout.out" 2>&1 &&
    { echo "FAIL: a stage past its limit passed"; fail=1; }
  grep -E 'TIMED OUT|^stage 1' "$ROOT/timeout.out" | sort -u
  grep -q "TIMED OUT after 1 s" "$ROOT/timeout.out" || { echo "FAIL: the time limit was not reported"; fail=1; }
  sleep 1
  if pgrep -f "$ROOT/bundle/bin/" >/dev/null; then echo "FAIL: the stage left processes running"; fail=1; fi

  # A server that dies at start is noticed at once, not after the wait's 120 s.
  echo
  echo "== dry run: a server that dies at start"
  local start
  start=$(date +%s)
  if serve_start dead "$ROOT/no-such-model"; then
    echo "FAIL: a server without a model started"; serve_stop; fail=1
  else
    echo "$WHY"
  fi
  [ $(($(date +%s) - start)) -lt 20 ] || { echo "FAIL: the wait did not notice the dead server"; fail=1; }

  [ $fail -eq 0 ] && echo "dry run: ok" || { echo "dry run: FAILED"; exit 1; }
}

case "${1:-}" in
  --pack) pack ;;
  --dry-run) dry_run ;;
  --stage-body) settings; "stage$2" ;;
  --stage)
    case "${2:-}" in 1|2) check "$2" ;; *) echo "usage: scripts/gpu-check.sh --stage 1|2" >&2; exit 2 ;; esac ;;
  "") check "1 2" ;;
  *) echo "usage: scripts/gpu-check.sh [--pack | --dry-run | --stage 1|2]" >&2; exit 2 ;;
esac
