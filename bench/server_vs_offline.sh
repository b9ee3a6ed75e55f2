#!/usr/bin/env bash
# Issue 3's figures in one run: the engine's offline throughput (`rerankd score` over a file of
# pairs) against `rerankd serve` under the load generator at several concurrencies, with the same
# texts: 10-document TEI requests built from tests/data/corpus.txt.
#   bench/server_vs_offline.sh MODEL_DIR [OUT_DIR]      (BUILD_DIR=build)
# The server's pairs/s is read from its own rerankd_pairs_processed_total over the middle of each
# level's window: with fair round-robin batching, requests finish in synchronized waves, so counting
# whole requests in a window of a few waves would be off by up to a wave. The client's latencies
# (P50/P99) come from the load generator.
# Env: CONCURRENCY (default "1 4 16 64"), DURATION (s per level; default max(30, 2 x concurrency)),
#      REQUESTS (bodies, 64), DOC_SENTENCES (corpus sentences per document, default 2: ~60 tokens a
#      pair), DTYPE (default auto), TIMEOUT (the clients' deadline, sent as X-Request-Timeout; default
#      30 s, the server's default).
set -euo pipefail
model=${1:?usage: bench/server_vs_offline.sh MODEL_DIR [OUT_DIR]}
out=${2:-bench-results}
here=$(cd "$(dirname "$0")" && pwd)
rerankd=${BUILD_DIR:-$here/../build}/src/rerankd
levels=${CONCURRENCY:-1 4 16 64} dtype=${DTYPE:-auto}
mkdir -p "$out"
source "$here/serve_lib.sh"

/usr/bin/python3 - "$here/../tests/data/corpus.txt" "$out" "${REQUESTS:-64}" "${DOC_SENTENCES:-2}" <<'PY'
import json, sys
corpus = [l.strip() for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
out, n, per_doc = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(f"{out}/requests.jsonl", "w") as req, open(f"{out}/pairs.jsonl", "w") as pairs:
    for r in range(n):
        query = corpus[(r * 13) % len(corpus)]
        docs = [" ".join(corpus[(r * 31 + d * 7 + k) % len(corpus)] for k in range(per_doc)) for d in range(10)]
        req.write(json.dumps({"query": query, "texts": docs}) + "\n")
        for d in docs:
            pairs.write(json.dumps({"query": query, "document": d}) + "\n")
PY

# Offline throughput, measured before and after the server levels (the machine's speed drifts).
offline() {
  echo "== offline ($1): rerankd score over the same $(wc -l < "$out/pairs.jsonl") pairs"
  "$rerankd" score --model "$model" --dtype "$dtype" --input "$out/pairs.jsonl" --output /dev/null 2>&1 |
    tee "$out/offline-$1.log" | grep -E "scored|running on"
}
offline before

start_server
pairs_processed() { curl -s "$url/metrics" | awk '/^rerankd_pairs_processed_total/ {print $2}'; }
echo "== server at $url"
for c in $levels; do
  duration=${DURATION:-$((2 * c > 30 ? 2 * c : 30))}
  echo "== concurrency $c, $duration s"
  "$rerankd" bench --url "$url" --requests-file "$out/requests.jsonl" --concurrency "$c" \
    --duration "$duration" --warmup 10 --timeout "${TIMEOUT:-30}" --json "$out/server-c$c.json" &
  bench=$!
  sleep 12
  a=$(pairs_processed) t0=$(date +%s.%N)
  sleep $((duration - 4))
  b=$(pairs_processed) t1=$(date +%s.%N)
  echo "$a $b $t0 $t1" > "$out/server-c$c.pairs"
  wait $bench
done
stop_server
offline after

/usr/bin/python3 - "$out" $levels <<'PY'
import json, re, sys
out, levels = sys.argv[1], sys.argv[2:]
runs = [float(re.search(r"([0-9.]+) pairs/s", open(f"{out}/offline-{when}.log").read()).group(1))
        for when in ("before", "after")]
offline = sum(runs) / 2
print(f"\noffline `rerankd score`: {runs[0]:.2f} pairs/s before, {runs[1]:.2f} after; mean {offline:.2f}")
print(f"{'concurrency':>11} {'pairs/s':>9} {'vs offline':>10} {'P50 ms':>8} {'P99 ms':>8} {'ok':>6} {'not ok':>6}")
for c in levels:
    r = json.load(open(f"{out}/server-c{c}.json"))
    a, b, t0, t1 = map(float, open(f"{out}/server-c{c}.pairs").read().split())
    pairs_per_s = (b - a) / (t1 - t0)
    lat = r["latency_ms"]
    print(f"{c:>11} {pairs_per_s:9.2f} {pairs_per_s / offline:10.1%} {lat['p50']:8.0f} "
          f"{lat['p99']:8.0f} {r['ok']:6d} {r['rejected'] + r['timeout'] + r['failed']:6d}")
PY
