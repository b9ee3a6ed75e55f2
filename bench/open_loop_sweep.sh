#!/usr/bin/env bash
# Issue 11's figures in one run, against `rerankd serve` with default flags (nothing tuned): its
# capacity in pairs/s (closed loop, 8 callers), then open-loop Poisson arrivals at 50%, 90%, 150%
# and 300% of it, clients waiting 30 s (sent as X-Request-Timeout), latency from the intended send
# time. Per level: answered within the deadline (and their pairs/s against capacity), refused with
# 429 (and how fast), timed out, P50/P99 of the answers.
#   bench/open_loop_sweep.sh MODEL_DIR [OUT_DIR]        (BUILD_DIR=build: the build to measure)
# Env: DURATION (s per open-loop level, default 60), CAPACITY_DURATION (s, default 60), DOCS
#      (documents per request, 10), DOC_WORDS (48), TIMEOUT (the clients' deadline, 30), DTYPE (auto).
set -euo pipefail
model=${1:?usage: bench/open_loop_sweep.sh MODEL_DIR [OUT_DIR]}
out=${2:-bench-results}
here=$(cd "$(dirname "$0")" && pwd)
rerankd=${BUILD_DIR:-$here/../build}/src/rerankd
duration=${DURATION:-60} docs=${DOCS:-10} words=${DOC_WORDS:-48} timeout=${TIMEOUT:-30}
mkdir -p "$out"
mix=(--docs-per-request "$docs" --doc-tokens "$words" --query-words 8)

source "$here/serve_lib.sh"

start_server
# 1. Idle latency of one request, then capacity: a closed loop deep enough to keep the batcher full.
"$rerankd" bench --url "$url" "${mix[@]}" --concurrency 1 --duration 10 --warmup 2 --timeout "$timeout" \
  --json "$out/idle.json" > /dev/null
"$rerankd" bench --url "$url" "${mix[@]}" --concurrency 8 --duration "${CAPACITY_DURATION:-60}" --warmup 10 \
  --timeout "$timeout" --json "$out/capacity.json"
capacity_rps=$(/usr/bin/python3 -c "import json; print(json.load(open('$out/capacity.json'))['requests_per_s'])")
echo "== capacity ${capacity_rps} req/s"
# 2. Open loop on the same server, as it stands after the closed loop (what it learnt included).
for share in 50 90 150 300; do
  rate=$(/usr/bin/python3 -c "print(round($capacity_rps * $share / 100, 3))")
  echo "== open loop at ${share}% (${rate} req/s)"
  "$rerankd" bench --url "$url" "${mix[@]}" --rate "$rate" --duration "$duration" --timeout "$timeout" \
    --json "$out/open-$share.json"
done
curl -s "$url/info" > "$out/info.json" || true
stop_server

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
cap = json.load(open(f"{out}/capacity.json"))
idle = json.load(open(f"{out}/idle.json"))["latency_ms"]
print(f"\ncapacity (closed loop, 8 callers): {cap['pairs_per_s']:.2f} pairs/s, {cap['requests_per_s']:.3f} req/s, "
      f"{cap['timeout']} timed out; idle latency P50 {idle['p50']:.0f} ms, P99 {idle['p99']:.0f} ms")
print(f"{'offered':>8} {'req/s':>7} {'sent':>6} {'ok':>6} {'429':>6} {'timeout':>8} {'failed':>7} {'429 %':>6} "
      f"{'t/o %':>6} {'P50 ms':>8} {'P99 ms':>8} {'429 P99 ms':>10} {'pairs/s':>8} {'of cap':>7}")
for share in (50, 90, 150, 300):
    r = json.load(open(f"{out}/open-{share}.json"))
    lat, rej = r["latency_ms"], r.get("rejected_latency_ms", {"p99": float("nan")})
    sent = max(r["sent"], 1)
    print(f"{share:>7}% {r['rate']:7.3f} {r['sent']:6d} {r['ok']:6d} {r['rejected']:6d} {r['timeout']:8d} {r['failed']:7d} "
          f"{r['rejected'] / sent:6.1%} {r['timeout'] / sent:6.1%} {lat['p50']:8.0f} {lat['p99']:8.0f} {rej['p99']:10.1f} "
          f"{r['pairs_per_s']:8.2f} {r['pairs_per_s'] / cap['pairs_per_s']:7.1%}")
    assert r["sent"] == r["ok"] + r["rejected"] + r["timeout"] + r["failed"], "a request without exactly one answer"
PY
