#!/usr/bin/env bash
# Issue 4's comparison in one run: rerankd_bench (every dtype, with the matmul ceiling measured in
# the same process) and the PyTorch eager baseline on the same model, then the ratios.
#   bench/cpu_vs_torch.sh MODEL_DIR [OUT_DIR]     (needs Debian's python3-torch; BUILD_DIR=build)
# Default shapes: 256-token pairs, batch 1 and 8. LENGTHS / BATCHES / MIN_SECONDS override them.
set -euo pipefail
model=${1:?usage: bench/cpu_vs_torch.sh MODEL_DIR [OUT_DIR]}
out=${2:-bench-results}
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../build}
lengths=${LENGTHS:-256} batches=${BATCHES:-1,8} min_seconds=${MIN_SECONDS:-5}
mkdir -p "$out"

dtypes=float32,int8
/usr/bin/python3 - <<'PY' && dtypes=float32,bfloat16,int8
import sys
sys.exit(0 if "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read() else 1)
PY
"$build/bench/rerankd_bench" --model "$model" --dtypes "$dtypes" --lengths "$lengths" --batches "$batches" \
  --min-seconds "$min_seconds" --json "$out/rerankd.json"
torch_dtypes=float32
[[ $dtypes == *bfloat16* ]] && torch_dtypes=float32,bfloat16
/usr/bin/python3 "$here/torch_baseline.py" --model "$model" --dtypes "$torch_dtypes" --lengths "$lengths" \
  --batches "$batches" --min-seconds "$min_seconds" --json "$out/torch.json"

/usr/bin/python3 - "$out/rerankd.json" "$out/torch.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["results"]
torch = {(r["dtype"], r["length"], r["batch"]): r for r in json.load(open(sys.argv[2]))["results"]}
print("\nrerankd vs torch eager, same model, same run")
print(f"{'rerankd':>9} {'vs torch':>9} {'length':>7} {'batch':>6} {'ours p/s':>9} {'torch p/s':>10} {'ratio':>6}")
for r in ours:
    for base in ("float32", "bfloat16"):
        t = torch.get((base, r["length"], r["batch"]))
        if t:
            print(f"{r['dtype']:>9} {base:>9} {r['length']:7d} {r['batch']:6d} {r['pairs_per_second']:9.2f} "
                  f"{t['pairs_per_second']:10.2f} {r['pairs_per_second'] / t['pairs_per_second']:6.2f}")
PY
