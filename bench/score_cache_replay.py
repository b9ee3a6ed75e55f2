#!/usr/bin/python3
"""The score cache on a replayed mix: N requests of D documents, where a share of them repeats an
earlier request (a retry, a page of the same candidates), sent one at a time to `rerankd serve`.
Prints the cache hit rate (/metrics) and the latency of repeats and of fresh requests. Standard
library only.

    bench/score_cache_replay.py --url http://127.0.0.1:8080 [--requests 200] [--repeat 0.3] [--documents 20]
"""
import argparse
import json
import random
import statistics
import time
import urllib.request


def post(url, body):
    req = urllib.request.Request(url + "/rerank", json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0 = time.monotonic()
    with urllib.request.urlopen(req) as r:
        r.read()
    return time.monotonic() - t0


def cache_lookups(url):
    with urllib.request.urlopen(url + "/metrics") as r:
        text = r.read().decode()
    out = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("rerankd_score_cache_lookups_total{"):
            out["hit" if 'result="hit"' in line else "miss"] = float(line.rsplit(" ", 1)[1])
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--repeat", type=float, default=0.3, help="share of requests that repeat an earlier one")
    p.add_argument("--documents", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    words = "giant panda bamboo forest mountain china bear species river leaves eat sleep climb".split()
    sent, fresh, repeats = [], [], []
    before = cache_lookups(a.url)
    for i in range(a.requests):
        if sent and rng.random() < a.repeat:
            repeats.append(post(a.url, rng.choice(sent)))
            continue
        body = {"query": f"question {i} about pandas",
                "texts": [" ".join(rng.choice(words) for _ in range(60)) for _ in range(a.documents)]}
        sent.append(body)
        fresh.append(post(a.url, body))
    after = cache_lookups(a.url)
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]

    def ms(xs, q):
        return 1000 * statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else float("nan")

    print(f"{a.requests} requests x {a.documents} documents, {len(repeats)} repeats ({a.repeat:.0%} asked)")
    print(f"cache: {hits:.0f} hits, {misses:.0f} misses, hit rate {hits / max(1, hits + misses):.1%}")
    print(f"fresh   p50 {ms(fresh, 50):8.2f} ms  p95 {ms(fresh, 95):8.2f} ms")
    print(f"repeats p50 {ms(repeats, 50):8.2f} ms  p95 {ms(repeats, 95):8.2f} ms")


if __name__ == "__main__":
    main()
