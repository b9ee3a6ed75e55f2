#!/usr/bin/env python3
"""Refusing must cost nothing: the model's throughput while clients hammer a full server.

    /usr/bin/python3 bench/refusal_storm.py --model MODEL_DIR [--out DIR] [--duration 90]
        [--only storm8,polite8,storm64,polite64,flood,tenants,offline] [--rerankd build/src/rerankd]

One run, one machine, default server flags (plus --port 0, and two API keys for the tenant
scenario). 10-document TEI requests of corpus text (~115-130 tokens a pair), every body distinct so
the score cache answers nothing:

  offline   `rerankd score` over the same kind of pairs: the engine's pairs/s with no server
  storm8    8 callers in closed loop that send again as soon as they are refused (--retries 0)
  polite8   the same 8 callers honouring Retry-After (the client library's retries)
  storm64, polite64   the same with 64 callers
  flood     open loop at 20x capacity (capacity = offline pairs/s / 10 documents)
  tenants   two API keys: the quiet one alone at 30% of capacity (its idle P99), then again while
            the other floods at 10x its half share

For each: answered pairs/s (the load generator's), the pairs/s the model ran (the server's own
counter), 429s and their latency, 504s, and CPU time by thread role from /proc (rerankd-model: the
backend worker and its OpenMP threads, which inherit its name; rerankd-io; rerankd-tok), so the
CPU per refusal is the io and tokenizer time over the refusals. The load generator runs on the same
cores: its CPU time (user + system, from wait4) is reported beside the server's.
Prints a table and writes OUT/refusal_storm.json.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "tests", "data", "corpus.txt")
TICKS = os.sysconf("SC_CLK_TCK")


def make_requests(path_requests, path_pairs, n, sentences, tag, documents=10):
    """Bodies no other scenario sends (`tag` is in every query), so the score cache answers none."""
    corpus = [line.strip() for line in open(CORPUS, encoding="utf-8") if line.strip()]
    with open(path_requests, "w") as req, open(path_pairs or os.devnull, "w") as pairs:
        for r in range(n):
            query = corpus[(r * 13) % len(corpus)] + f" ({tag} {r})"
            docs = [" ".join(corpus[(r * 31 + d * 7 + k) % len(corpus)] for k in range(sentences))
                    for d in range(documents)]
            req.write(json.dumps({"query": query, "texts": docs}) + "\n")
            if r < 4:
                for d in docs:
                    pairs.write(json.dumps({"query": query, "document": d}) + "\n")


def thread_cpu(pid):
    """CPU seconds by thread name of a live process."""
    by_role = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        by_role[name] = by_role.get(name, 0.0) + seconds
    return by_role


def metric(url, name, headers=None):
    text = urllib.request.urlopen(urllib.request.Request(url + "/metrics", headers=headers or {}), timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Server:
    def __init__(self, rerankd, model, out, *flags):
        self.log = open(os.path.join(out, "serve.log"), "a")
        self.proc = subprocess.Popen([rerankd, "serve", "--model", model, "--port", "0", *flags],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+)", line)
        if not m:
            raise SystemExit(f"the server did not start: {line!r} (see {out}/serve.log)")
        self.url = "http://" + m.group(1)
        self.headers = {}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)


CLIENT_NICE = 0


def bench(rerankd, url, out, name, extra, duration, env=None, sentences=4, documents=10):
    json_path = os.path.join(out, f"{name}.json")
    requests_file = os.path.join(out, f"{name}.requests.jsonl")
    make_requests(requests_file, None, 20000, sentences, name, documents)
    cmd = [rerankd, "bench", "--url", url, "--requests-file", requests_file, "--duration", str(duration),
           "--warmup", "0", "--json", json_path, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(out, f"{name}.log"), "w"),
                            env={**os.environ, **(env or {})}, preexec_fn=lambda: os.nice(CLIENT_NICE))
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{name}: rerankd bench failed ({status}); see {out}/{name}.log")
    with open(json_path) as f:
        report = json.load(f)
    report["client_cpu_s"] = usage.ru_utime + usage.ru_stime
    return report


def measured(server, run):
    """Runs `run` and adds the server's side: pairs the model ran and CPU time by thread role."""
    cpu0, pairs0, t0 = thread_cpu(server.proc.pid), metric(server.url, "rerankd_pairs_processed_total", server.headers), time.time()
    report = run()
    cpu1, pairs1, t1 = thread_cpu(server.proc.pid), metric(server.url, "rerankd_pairs_processed_total", server.headers), time.time()
    cpu = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in set(cpu0) | set(cpu1)}
    report["server_cpu_s"] = {k: round(v, 2) for k, v in sorted(cpu.items()) if v > 0}
    report["model_pairs_per_s"] = (pairs1 - pairs0) / (t1 - t0)
    refused = report["rejected"]
    feeders = cpu.get("rerankd-io", 0.0) + cpu.get("rerankd-tok", 0.0)
    report["feeder_cpu_per_request_us"] = 1e6 * feeders / max(1, report["sent"])
    report["refusals"] = refused
    return report


def row(name, r, ceiling_pairs):
    lat = r.get("rejected_latency_ms", {})
    share = f"{100 * r['model_pairs_per_s'] / ceiling_pairs:5.1f}%" if ceiling_pairs else "  -  "
    ok = r.get("latency_ms", {})
    return (f"{name:10} answered {r['pairs_per_s']:7.3f} pairs/s  model {r['model_pairs_per_s']:7.3f} pairs/s ({share} of offline)"
            f"  ok {r['ok']:5} (p50 {ok.get('p50', 0):7.0f} p99 {ok.get('p99', 0):7.0f} ms)  429 {r['rejected']:7}"
            f" (p99 {lat.get('p99', 0):6.2f} ms)  504 {r['timeout']:3}"
            f"  io+tok cpu {r['feeder_cpu_per_request_us']:7.1f} us/request sent  client cpu {r['client_cpu_s']:6.1f} s"
            f"  server cpu {r['server_cpu_s']}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out", default="bench-results/refusal-storm")
    p.add_argument("--duration", type=float, default=90)
    p.add_argument("--only", default="offline,storm8,polite8,storm64,polite64,flood,tenants")
    p.add_argument("--rerankd", default=os.path.join(HERE, "..", "build", "src", "rerankd"))
    p.add_argument("--sentences", type=int, default=4, help="corpus sentences per document (4: ~115-130 tokens a pair)")
    p.add_argument("--server-args", default="", help="extra `rerankd serve` flags, space-separated (an ablation: "
                                                      "--feeder-nice 0); the server inherits the environment "
                                                      "(OMP_WAIT_POLICY=passive, say)")
    p.add_argument("--server-bin", help="serve with this binary (an older build) against the same load generator")
    p.add_argument("--tenant-documents", type=int, default=1,
                   help="documents per request in the tenants scenario: at 30%% of capacity 10-document requests "
                        "on a CPU come a few a minute, too few for a P99")
    p.add_argument("--client-nice", type=int, default=0,
                   help="run the load generator this many nice steps down, as clients on other machines would "
                        "take none of the server's CPU (its CPU time is reported either way)")
    args = p.parse_args()
    global CLIENT_NICE
    CLIENT_NICE = args.client_nice
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(","))
    pairs_file = os.path.join(args.out, "pairs.jsonl")
    make_requests(os.devnull, pairs_file, 8, args.sentences, "offline")
    results = {"machine": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": "),
               "nproc": os.cpu_count(), "duration_s": args.duration, "client_nice": args.client_nice,
               "server_args": args.server_args, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}

    offline = None
    if "offline" in only or {"flood", "tenants"} & only:
        log = subprocess.run([args.rerankd, "score", "--model", args.model, "--input", pairs_file, "--output",
                              os.devnull], capture_output=True, text=True, check=True).stderr
        with open(os.path.join(args.out, "offline.log"), "w") as f:
            f.write(log)
        m = re.search(r"([\d.]+) pairs/s", log)
        offline = float(m.group(1)) if m else None
        results["offline_pairs_per_s"] = offline
        print(f"offline    {offline} pairs/s (rerankd score, {sum(1 for _ in open(pairs_file))} pairs)", flush=True)
    capacity = (offline or 1.0) / 10  # requests/s

    scenarios = [("storm8", ["-c", "8", "--retries", "0"]), ("polite8", ["-c", "8", "--retries", "1000000"]),
                 ("storm64", ["-c", "64", "--retries", "0"]), ("polite64", ["-c", "64", "--retries", "1000000"]),
                 ("flood", ["--rate", f"{20 * capacity:.4f}", "--retries", "0"])]
    if {s for s, _ in scenarios} & only:
        server = Server(args.server_bin or args.rerankd, args.model, args.out, *args.server_args.split())
        try:
            for name, extra in scenarios:
                if name not in only:
                    continue
                r = measured(server, lambda: bench(args.rerankd, server.url, args.out, name, extra, args.duration,
                                                   sentences=args.sentences))
                results[name] = r
                print(row(name, r, offline), flush=True)
        finally:
            server.stop()

    if "tenants" in only:
        server = Server(args.server_bin or args.rerankd, args.model, args.out, "--api-key", "quiet-key", "--api-key",
                        "flood-key", *args.server_args.split())
        server.headers = {"Authorization": "Bearer quiet-key"}
        try:
            tenant_capacity = (offline or 1.0) / args.tenant_documents  # requests/s
            quiet = ["--rate", f"{0.3 * tenant_capacity:.4f}", "--retries", "0"]
            results["quiet_alone"] = measured(server, lambda: bench(
                args.rerankd, server.url, args.out, "quiet_alone", quiet, args.duration,
                {"RERANKD_BENCH_API_KEY": "quiet-key"}, args.sentences, args.tenant_documents))
            print(row("quiet", results["quiet_alone"], offline), flush=True)
            flood_requests = os.path.join(args.out, "flooder.requests.jsonl")
            make_requests(flood_requests, None, 20000, args.sentences, "flooder", args.tenant_documents)
            flood = subprocess.Popen([args.rerankd, "bench", "--url", server.url, "--requests-file", flood_requests,
                                      "--duration", str(args.duration + 20), "--warmup", "0", "--rate",
                                      f"{10 * 0.5 * tenant_capacity:.4f}", "--json", os.path.join(args.out, "flooder.json")],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.out, "flooder.log"), "w"),
                                     env={**os.environ, "RERANKD_BENCH_API_KEY": "flood-key"},
                                     preexec_fn=lambda: os.nice(CLIENT_NICE))
            time.sleep(10)  # the flood fills its share first
            results["quiet_with_flood"] = measured(server, lambda: bench(
                args.rerankd, server.url, args.out, "quiet_with_flood", quiet, args.duration,
                {"RERANKD_BENCH_API_KEY": "quiet-key"}, args.sentences, args.tenant_documents))
            flood.wait()
            with open(os.path.join(args.out, "flooder.json")) as f:
                results["flooder"] = json.load(f)
            print(row("quiet+fl", results["quiet_with_flood"], offline), flush=True)
            print(row("flooder", {**results["flooder"], "model_pairs_per_s": 0, "feeder_cpu_per_request_us": 0,
                                  "client_cpu_s": 0, "server_cpu_s": {}}, offline), flush=True)
        finally:
            server.stop()

    with open(os.path.join(args.out, "refusal_storm.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.out}/refusal_storm.json")


if __name__ == "__main__":
    sys.exit(main())
