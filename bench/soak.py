#!/usr/bin/python3
"""Soak test (issue 14; a documented target, not in CI): starts `rerankd serve`, measures its
capacity with a closed loop, then sends an open-loop mix of valid, invalid and abandoned requests
at --load (default 80%) of that capacity for --minutes (default 30). Every 10 s it samples the
server's RSS and open descriptors (/proc), its queue and connections (/metrics) and the clients'
latency, into soak.csv and soak.png (python3-matplotlib, when installed). At the end it checks:
RSS beyond the score cache and descriptors (beyond open connections) flat within 10% after warm-up
(--warmup seconds, and until the score cache has filled to its bound), every request answered exactly once (or
abandoned by its client), and the server's request counters equal to what the clients sent.

  python3 bench/soak.py                                   # 30 minutes, small test model
  python3 bench/soak.py --minutes 4 --out /tmp/soak       # a short validation run
Exit status 0 when every check holds. Standard library only (plus matplotlib for the plot)."""
import argparse
import csv
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
SAMPLE_SECONDS = 10


def total(metrics, name):
    """A metric summed over its series (a server with several models labels them model=...)."""
    return sum(v for (n, _), v in metrics.items() if n == name)


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if m and not line.startswith("#"):
            out[(m.group(1), frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))] = float(m.group(3))
    return out


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        with open(os.path.join(ROOT, "tests", "data", "corpus.txt"), encoding="utf-8") as f:
            self.sentences = [line.strip() for line in f if line.strip()]
        self.lock = threading.Lock()
        self.outcomes = {}  # request id -> status, "abandoned" or "error: ..."
        self.latencies = []  # of valid requests answered 200 since the last sample, ms
        self.start_server()

    # --- the server ---------------------------------------------------------------------------
    def start_server(self):
        self.log = open(os.path.join(self.args.out, "server.log"), "w")
        cmd = [self.args.bin, "serve", "--model", self.args.model, "--port", "0", *self.args.server_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"rerankd: listening on (\S+):(\d+)$", line.strip())
        if not m:
            raise SystemExit(f"soak: unexpected first line {line!r} from {cmd}")
        self.port = int(m.group(2))

    def score_cache_bound(self):
        """The score cache's bound in bytes from /info (0: off), summed over the models served."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        conn.request("GET", "/info")
        info = json.loads(conn.getresponse().read())
        conn.close()
        return sum(m["score_cache"].get("max_bytes", 0) for m in info.get("models", [info]))

    def metrics(self):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return parse_metrics(text)

    def proc_stats(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss_kb / 1024, len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    # --- the requests -------------------------------------------------------------------------
    def valid_body(self):
        docs = [" ".join(self.rng.choice(self.sentences) for _ in range(self.rng.randint(1, 6)))
                for _ in range(self.rng.randint(1, self.args.max_docs))]
        return {"query": self.rng.choice(self.sentences), "texts": docs}

    def invalid_body(self):
        return self.rng.choice([b'{"query": "q", "texts": []}', b'{"query": 1, "texts": ["a"]}', b"{not json",
                                b'{"texts": ["a"]}', b'{"query": "q", "texts": ["a"], "truncation_direction": "up"}'])

    def send(self, kind, body):
        """One request on its own connection; returns the status, or "abandoned"."""
        rid = uuid.uuid4().hex
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        started = time.monotonic()
        try:
            if kind == "abandoned":
                # Sent whole, then the client hangs up before (or while) the answer comes.
                s = socket.create_connection((HOST, self.port), timeout=30)
                s.sendall((f"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: {rid}\r\n"
                           f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload)
                time.sleep(self.rng.uniform(0, 0.05))
                s.close()
                outcome = "abandoned"
            else:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
                conn.request("POST", "/rerank", payload, {"Content-Type": "application/json", "X-Request-Id": rid})
                r = conn.getresponse()
                r.read()
                conn.close()
                if r.getheader("X-Request-Id") != rid:
                    outcome = "error: answer for another request"
                else:
                    outcome = r.status
                if outcome == 200 and kind == "valid":
                    with self.lock:
                        self.latencies.append((time.monotonic() - started) * 1000)
        except OSError as e:
            outcome = f"error: {e}"
        with self.lock:
            if rid in self.outcomes:
                self.outcomes[rid] = "error: answered twice"
            else:
                self.outcomes[rid] = (kind, outcome)
        return outcome

    def measure_capacity(self, seconds=20, clients=8):
        done = [0]
        stop = time.monotonic() + seconds

        def client():
            while time.monotonic() < stop:
                if self.send("valid", self.valid_body()) == 200:
                    with self.lock:
                        done[0] += 1
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0] / seconds

    # --- the run ------------------------------------------------------------------------------
    def run(self):
        capacity = self.measure_capacity()
        rate = capacity * self.args.load
        print(f"soak: capacity {capacity:.1f} req/s (closed loop, 8 clients); sending {rate:.1f} req/s "
              f"for {self.args.minutes} min", flush=True)
        with self.lock:
            self.outcomes.clear()
            self.latencies.clear()
        before = self.metrics()
        self.cache_bound = self.score_cache_bound()
        rows = []
        pool = ThreadPoolExecutor(max_workers=64)
        t0 = time.monotonic()
        end = t0 + self.args.minutes * 60
        next_send, next_sample = t0, t0 + SAMPLE_SECONDS
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                rows.append(self.sample(now - t0))
                next_sample += SAMPLE_SECONDS
            if now >= next_send:
                roll = self.rng.random()
                kind = "valid" if roll < 0.7 else "invalid" if roll < 0.85 else "abandoned"
                pool.submit(self.send, kind, self.valid_body() if kind != "invalid" else self.invalid_body())
                next_send += self.rng.expovariate(rate)  # Poisson arrivals
            time.sleep(max(0, min(next_send, next_sample) - time.monotonic()))
        pool.shutdown(wait=True)
        rows.append(self.sample(time.monotonic() - t0))
        # Abandoned requests may still be in the queue: wait until the server has answered them.
        drain_deadline = time.monotonic() + 120
        while total(self.metrics(), "rerankd_queue_requests") > 0 and time.monotonic() < drain_deadline:
            time.sleep(0.1)
        after = self.metrics()
        self.proc.terminate()
        self.proc.wait(60)
        return self.report(capacity, rate, rows, before, after)

    def sample(self, t):
        rss, fds = self.proc_stats()
        m = self.metrics()
        with self.lock:
            lat = sorted(self.latencies)
            self.latencies.clear()
            sent = len(self.outcomes)
        pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan"))
        # The score cache (on by default, bounded by --score-cache-mb) fills with the soak's distinct
        # pairs: RSS grows with it until it is full. What must stay flat is the rest.
        cache_mb = total(m, "rerankd_score_cache_bytes") / 2**20
        row = {"t_s": round(t, 1), "rss_mb": round(rss, 1), "cache_mb": round(cache_mb, 1),
               "rss_beyond_cache_mb": round(rss - cache_mb, 1), "fds": fds,
               "queue_requests": total(m, "rerankd_queue_requests"),
               "open_connections": total(m, "rerankd_http_open_connections"),
               "p50_ms": round(pct(0.5), 1), "p99_ms": round(pct(0.99), 1), "sent": sent}
        print("soak:", json.dumps(row), flush=True)
        return row

    def report(self, capacity, rate, rows, before, after):
        # Descriptors move with the connections open at the moment; those beyond them would leak.
        for r in rows:
            r["fds_beyond_connections"] = r["fds"] - r["open_connections"]
        path = os.path.join(self.args.out, "soak.csv")
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        self.plot(rows)
        checks = {}
        # Warm-up ends after --warmup seconds and, with the score cache on, once the cache has
        # filled to its bound: until then RSS grows with it by design.
        cache_mb = self.cache_bound / 2**20
        full = next((r["t_s"] for r in rows if cache_mb and r["cache_mb"] >= 0.95 * cache_mb), None)
        warm_from = max(self.args.warmup, full or 0)
        if cache_mb and full is None:
            print(f"soak: the score cache never filled ({cache_mb:.0f} MiB): the RSS check includes its growth")
        warm = [r for r in rows if r["t_s"] >= warm_from]
        for key, slack in (("rss_beyond_cache_mb", 0.0), ("fds_beyond_connections", 2)):
            values = [r[key] for r in warm]
            median = statistics.median(values)
            spread = max(abs(v - median) for v in values)
            checks[f"{key} flat within 10% after warm-up"] = (spread <= 0.1 * median + slack,
                                                             f"median {median}, max deviation {spread:.1f}")
        kinds = {}
        for kind, outcome in self.outcomes.values():
            kinds.setdefault(kind, {}).setdefault(str(outcome), 0)
            kinds[kind][str(outcome)] += 1
        errors = sum(n for k in kinds.values() for o, n in k.items() if o.startswith("error"))
        checks["every request answered exactly once"] = (
            errors == 0 and set(kinds.get("valid", {})) <= {"200"} and
            all(o.startswith("4") for o in kinds.get("invalid", {})), json.dumps(kinds))

        def route_total(m):
            return sum(v for (name, labels), v in m.items()
                       if name == "rerankd_http_requests_total" and ("route", "/rerank") in labels)
        server_count = route_total(after) - route_total(before)
        checks["server's /rerank count equals the requests sent"] = (server_count == len(self.outcomes),
                                                                       f"server {server_count:.0f}, clients {len(self.outcomes)}")
        p99 = [r["p99_ms"] for r in warm if r["p99_ms"] == r["p99_ms"]]
        summary = {"capacity_req_s": round(capacity, 1), "rate_req_s": round(rate, 1), "minutes": self.args.minutes,
                   "checked_from_s": warm_from,
                   "requests": len(self.outcomes), "p99_ms_median_of_samples": statistics.median(p99) if p99 else None,
                   "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()}}
        print(json.dumps(summary, indent=1))
        return all(ok for ok, _ in checks.values())

    def plot(self, rows):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("soak: python3-matplotlib not installed: no plot (apt-get install python3-matplotlib)")
            return
        t = [r["t_s"] / 60 for r in rows]
        fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
        for ax, keys, label in zip(axes, (["rss_mb", "rss_beyond_cache_mb", "cache_mb"], ["fds", "open_connections"],
                                          ["queue_requests"],
                                          ["p50_ms", "p99_ms"]),
                                   ("RSS (MiB)", "descriptors / connections", "requests queued", "latency (ms)")):
            for k in keys:
                ax.plot(t, [r[k] for r in rows], label=k)
            ax.set_ylabel(label)
            ax.axvline(self.args.warmup / 60, color="grey", linestyle=":")
            ax.legend(loc="upper right")
            ax.set_ylim(bottom=0)
        axes[-1].set_xlabel("minutes")
        fig.suptitle(f"rerankd soak at {self.args.load:.0%} of capacity: valid 70%, invalid 15%, abandoned 15%")
        fig.tight_layout()
        fig.savefig(os.path.join(self.args.out, "soak.png"), dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "src", "rerankd"))
    p.add_argument("--model", default=os.path.join(ROOT, "build", "testdata", "models", "small"))
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--load", type=float, default=0.8, help="fraction of the measured capacity")
    p.add_argument("--warmup", type=float, default=60, help="seconds left out of the flatness checks")
    p.add_argument("--max-docs", type=int, default=8)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--out", default="soak-out")
    p.add_argument("server_args", nargs="*", help="after --: more `rerankd serve` flags")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sys.exit(0 if Soak(args).run() else 1)


if __name__ == "__main__":
    main()
