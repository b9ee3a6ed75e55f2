#!/usr/bin/env bash
# CPU speed in one run, at every ISA level this machine can be forced down to: the oneDNN matmul
# ceiling (../shared/gemm_peak.cpp where present, and rerankd_bench's own at the model's shapes),
# rerankd_bench for every dtype the level runs, and the PyTorch eager baseline on the same model;
# then the ratios the CPU issues ask for (fraction of the ceiling, int8 against float32, the
# default dtype, marked *, against torch).
#   bench/cpu_vs_torch.sh MODEL_DIR [OUT_DIR]     (needs Debian's python3-torch; BUILD_DIR=build)
# Env: LENGTHS (256), BATCHES (1,8), MIN_SECONDS (5), LEVELS (default: the machine's own level,
# named "native", and each of AVX512_CORE, AVX2 below it; oneDNN and rerankd's kernels both
# follow ONEDNN_MAX_CPU_ISA).
set -euo pipefail
model=${1:?usage: bench/cpu_vs_torch.sh MODEL_DIR [OUT_DIR]}
out=${2:-bench-results}
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../build}
lengths=${LENGTHS:-256} batches=${BATCHES:-1,8} min_seconds=${MIN_SECONDS:-5}
mkdir -p "$out"

flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
if [ -z "${LEVELS:-}" ]; then
  LEVELS=native
  if has avx512f; then
    (has avx512_vnni || has avx512_bf16 || has amx_tile) && LEVELS+=",AVX512_CORE"
    LEVELS+=",AVX2"
  fi
fi

peak=""
if [ -f "$here/../../shared/gemm_peak.cpp" ]; then
  peak=$out/gemm_peak
  g++ -O2 -std=c++17 "$here/../../shared/gemm_peak.cpp" -ldnnl -o "$peak"
fi

IFS=, read -r -a level_list <<< "$LEVELS"
for level in "${level_list[@]}"; do
  cap=()
  [ "$level" != native ] && cap=(env ONEDNN_MAX_CPU_ISA="$level")
  dtypes=float32,int8
  # Native bf16 (AVX512-BF16, AMX) exists at the machine's own level only among those run here.
  [ "$level" = native ] && { has avx512_bf16 || has amx_bf16; } && dtypes=float32,bfloat16,int8
  echo "=== level $level: $dtypes"
  if [ -n "$peak" ]; then "${cap[@]}" "$peak" | tee "$out/gemm_peak-$level.txt"; fi
  # One dtype a process: a process that ran another dtype first measured 20% slower here.
  IFS=, read -r -a dtype_list <<< "$dtypes"
  for dtype in "${dtype_list[@]}"; do
    "${cap[@]}" "$build/bench/rerankd_bench" --model "$model" --dtypes "$dtype" --lengths "$lengths" \
      --batches "$batches" --min-seconds "$min_seconds" --json "$out/rerankd-$level-$dtype.json"
  done
  /usr/bin/python3 - "$out" "$level" "$dtypes" <<'PY'
import json, os, sys
out, level, dtypes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
parts = [json.load(open(os.path.join(out, f"rerankd-{level}-{d}.json"))) for d in dtypes]
merged = dict(parts[0], results=[r for p in parts for r in p["results"]])
json.dump(merged, open(os.path.join(out, f"rerankd-{level}.json"), "w"))
PY
done

torch_dtypes=float32
(has avx512_bf16 || has amx_bf16) && torch_dtypes=float32,bfloat16
# A decoder reranker (Qwen3ForCausalLM) has its own torch forward.
baseline=torch_baseline.py
grep -q '"Qwen3ForCausalLM"' "$model/config.json" && baseline=torch_decoder_baseline.py
/usr/bin/python3 "$here/$baseline" --model "$model" --dtypes "$torch_dtypes" --lengths "$lengths" \
  --batches "$batches" --min-seconds "$min_seconds" --json "$out/torch.json"

/usr/bin/python3 - "$out" "$LEVELS" <<'PY'
import json, os, sys
out, levels = sys.argv[1], sys.argv[2].split(",")
torch = {(r["dtype"], r["length"], r["batch"]): r for r in json.load(open(os.path.join(out, "torch.json")))["results"]}
summary = []
print("\nper level, same run: pairs/s, fraction of the matching oneDNN ceiling, int8 / float32, default / torch")
print(f"{'level':>12} {'isa':>13} {'dtype':>9} {'length':>6} {'batch':>5} {'pairs/s':>8} {'of ceil':>8} "
      f"{'x fp32':>7} {'x torch fp32':>12} {'x torch bf16':>12}")
for level in levels:
    data = json.load(open(os.path.join(out, f"rerankd-{level}.json")))
    rows = data["results"]
    fp32 = {(r["length"], r["batch"]): r for r in rows if r["dtype"] == "float32"}
    print(f"{level:>12}: the default dtype is {data['default_dtype']} ({data['default_reason']})")
    for r in rows:
        if r["dtype"] == data["default_dtype"]:
            r = dict(r, dtype=r["dtype"] + "*")
        key = (r["length"], r["batch"])
        vs_fp32 = r["pairs_per_second"] / fp32[key]["pairs_per_second"]
        t32, t16 = torch.get(("float32",) + key), torch.get(("bfloat16",) + key)
        x32 = r["pairs_per_second"] / t32["pairs_per_second"] if t32 else None
        x16 = r["pairs_per_second"] / t16["pairs_per_second"] if t16 else None
        print(f"{level:>12} {data['isa']:>13} {r['dtype']:>9} {key[0]:6d} {key[1]:5d} {r['pairs_per_second']:8.2f} "
              f"{100 * r['fraction_of_ceiling']:7.1f}% {vs_fp32:7.2f} "
              f"{'' if x32 is None else f'{x32:12.2f}'} {'' if x16 is None else f'{x16:12.2f}'}")
        summary.append(dict(level=level, isa=data["isa"], dtype=r["dtype"], length=key[0], batch=key[1],
                            pairs_per_second=r["pairs_per_second"], fraction_of_ceiling=r["fraction_of_ceiling"],
                            ceiling_gflops=r["ceiling_gflops"], vs_float32=vs_fp32, vs_torch_float32=x32,
                            vs_torch_bfloat16=x16))
json.dump({"results": summary}, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(f"\nJSON: {os.path.join(out, 'summary.json')}")
PY
