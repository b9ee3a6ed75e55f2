#!/usr/bin/env bash
# Issue 5's figures in one run: `rerankd serve`'s capacity in pairs/s (closed loop), then open-loop
# Poisson arrivals at 50%, 90%, 150% and 300% of it, with P50/P99 of admitted requests and the share
# refused with 429. Above capacity the admitted P99 must stay bounded by the queue bound and the
# deadline instead of growing with the run.
#   bench/open_loop_sweep.sh MODEL_DIR [OUT_DIR]        (BUILD_DIR=build)
# Env: DURATION (s per open-loop level, default 60), DOCS (documents per request, 10), DOC_WORDS (48),
#      QUEUE_SECONDS (the queue bound, in seconds of work at capacity, default 4), DTYPE (auto).
set -euo pipefail
model=${1:?usage: bench/open_loop_sweep.sh MODEL_DIR [OUT_DIR]}
out=${2:-bench-results}
here=$(cd "$(dirname "$0")" && pwd)
rerankd=${BUILD_DIR:-$here/../build}/src/rerankd
duration=${DURATION:-60} docs=${DOCS:-10} words=${DOC_WORDS:-48} queue_seconds=${QUEUE_SECONDS:-4}
mkdir -p "$out"
mix=(--docs-per-request "$docs" --doc-tokens "$words" --query-words 8)

source "$here/serve_lib.sh"

# 1. Capacity: a closed loop deep enough to keep the batcher full.
start_server
"$rerankd" bench --url "$url" "${mix[@]}" --concurrency 8 --duration 60 --warmup 10 --timeout 300 \
  --json "$out/capacity.json"
capacity_rps=$(/usr/bin/python3 -c "import json; print(json.load(open('$out/capacity.json'))['requests_per_s'])")
metrics=$(curl -s "$url/metrics")
tokens=$(awk '/^rerankd_tokens_processed_total/ {print $2}' <<< "$metrics")
pairs=$(awk '/^rerankd_pairs_processed_total/ {print $2}' <<< "$metrics")
stop_server

# 2. Open loop, with a queue bound of QUEUE_SECONDS of work and a deadline of twice that.
tokens_per_request=$(/usr/bin/python3 -c "print(int($tokens / $pairs * $docs))")
queue_tokens=$(/usr/bin/python3 -c "print(max(4096, int($capacity_rps * $queue_seconds * $tokens_per_request)))")
start_server --max-queued-tokens "$queue_tokens" --request-timeout $((2 * queue_seconds))
echo "== capacity ${capacity_rps} req/s; queue bound ${queue_tokens} tokens (~${queue_seconds} s of work)"
for share in 50 90 150 300; do
  rate=$(/usr/bin/python3 -c "print(round($capacity_rps * $share / 100, 3))")
  echo "== open loop at ${share}% (${rate} req/s)"
  "$rerankd" bench --url "$url" "${mix[@]}" --rate "$rate" --duration "$duration" --timeout 60 \
    --json "$out/open-$share.json"
done
stop_server

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
cap = json.load(open(f"{out}/capacity.json"))
print(f"\ncapacity (closed loop, 8 callers): {cap['pairs_per_s']:.2f} pairs/s, {cap['requests_per_s']:.3f} req/s")
print(f"{'offered':>8} {'req/s':>7} {'sent':>6} {'ok':>6} {'429':>6} {'timeout':>8} {'failed':>7} {'429 share':>9} "
      f"{'P50 ms':>8} {'P99 ms':>8} {'max ms':>8} {'pairs/s':>8}")
for share in (50, 90, 150, 300):
    r = json.load(open(f"{out}/open-{share}.json"))
    lat = r["latency_ms"]
    print(f"{share:>7}% {r['rate']:7.3f} {r['sent']:6d} {r['ok']:6d} {r['rejected']:6d} {r['timeout']:8d} {r['failed']:7d} "
          f"{r['rejected_share']:9.1%} {lat['p50']:8.0f} {lat['p99']:8.0f} {lat['max']:8.0f} {r['pairs_per_s']:8.2f}")
    assert r["sent"] == r["ok"] + r["rejected"] + r["timeout"] + r["failed"], "a request without exactly one answer"
PY
