#!/usr/bin/env python3
"""Hugging Face transformers on the GPU, for scripts/gpu-check.sh (PyTorch, transformers and numpy
only: the GPU machine's Python).

    gpu_hf.py compare --testdata DIR --bin RERANKD [--paths DEVICE:DTYPE,...] [--baseline B] [--jobs N]
                      [--json OUT]
        Loads each test model with transformers' own class (XLMRobertaForSequenceClassification or
        BertForSequenceClassification, as its config says; float32, on the GPU), runs the float64
        reference's token ids and token types through it, and compares with it the reference's
        logits and rerankd's (`rerankd score` on each path: by default CPU float32 and CUDA float32,
        float16, bfloat16): max |dlogit| and |dsigmoid| per model and path. Exits 1 when a path
        fails or misses its budget (float32 2e-4 in logits, float16/bfloat16 0.02 in sigmoid).
        --baseline reference compares with the float64 reference instead, without PyTorch: how
        scripts/gpu-check.sh --dry-run rehearses this step on a machine without a GPU.
    gpu_hf.py speed --model DIR [--json OUT]
        transformers float16 on a bge-shaped model: pairs/s at 256 tokens for batches of 16, 64 and
        128 pairs (4k, 16k, 32k tokens), single-pair latency, and the GPU's own float16 matmul rate
        (an 8192^3 torch.matmul).
"""
import argparse
import collections
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile
import time

MODELS = ("tiny", "tiny-f16", "tiny-bf16", "small", "bert-tiny", "bert-cased")
FLOAT32_BUDGET_DLOGIT = 2e-4
NARROW_BUDGET_DSIGMOID = 0.02


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def hf_model(model_dir, dtype):
    """transformers' own class for the directory's config, on the GPU in `dtype` (moved there
    explicitly: older transformers ignore `dtype=`, newer ones deprecate `torch_dtype=`)."""
    import transformers
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        architecture = json.load(f)["architectures"][0]
    try:
        model = getattr(transformers, architecture).from_pretrained(model_dir, dtype=dtype)
    except TypeError:  # transformers before 4.56 knows only torch_dtype=
        model = getattr(transformers, architecture).from_pretrained(model_dir, torch_dtype=dtype)
    return model.to(device="cuda", dtype=dtype).eval()


def hf_logits(model, rows, batch=32):
    """Logits of the reference's token ids and types, padded per batch with the model's pad id and
    masked."""
    import torch
    pad = model.config.pad_token_id
    out = []
    with torch.no_grad():
        for k in range(0, len(rows), batch):
            chunk = rows[k:k + batch]
            longest = max(len(r["ids"]) for r in chunk)
            ids = torch.full((len(chunk), longest), pad, dtype=torch.long)
            types = torch.zeros((len(chunk), longest), dtype=torch.long)
            mask = torch.zeros((len(chunk), longest), dtype=torch.long)
            for i, r in enumerate(chunk):
                n = len(r["ids"])
                ids[i, :n] = torch.tensor(r["ids"])
                types[i, :n] = torch.tensor(r.get("type_ids") or [0] * n)
                mask[i, :n] = 1
            logits = model(input_ids=ids.cuda(), token_type_ids=types.cuda(), attention_mask=mask.cuda()).logits
            out += logits.float()[:, 0].cpu().tolist()
    return out


def rerankd_logits(binary, model_dir, rows, device, dtype):
    """`rerankd score` over the rows' texts, grouped by max_length; the ids must be the reference's."""
    out = [None] * len(rows)
    groups = collections.defaultdict(list)
    for i, r in enumerate(rows):
        groups[r["max_length"]].append(i)
    with tempfile.TemporaryDirectory() as tmp:
        for max_length, where in groups.items():
            path = os.path.join(tmp, "pairs.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for i in where:
                    f.write(json.dumps({"query": rows[i]["query"], "document": rows[i]["document"]},
                                       ensure_ascii=False) + "\n")
            run = subprocess.run([binary, "score", "--model", model_dir, "--device", device, "--dtype", dtype,
                                  "--max-length", str(max_length), "--input", path],
                                 capture_output=True, text=True, timeout=120)
            if run.returncode != 0:
                raise RuntimeError(f"rerankd score --device {device} --dtype {dtype}: {run.stderr.strip()[-500:]}")
            lines = run.stdout.splitlines()
            if len(lines) != len(where):
                raise RuntimeError(f"rerankd score --device {device} --dtype {dtype}: {len(lines)} scores for "
                                   f"{len(where)} pairs")
            for i, line in zip(where, lines):
                out[i] = json.loads(line)["logit"]
    return out


def budget_missed(path, dlogit, dsig):
    """The budget a path's worst error misses, or None: float32 paths (and the float64 reference)
    in logits, narrow ones in sigmoid."""
    if path.endswith("float16") or path.endswith("bfloat16"):
        return f"|dsigmoid| {dsig:.2e} > {NARROW_BUDGET_DSIGMOID}" if dsig > NARROW_BUDGET_DSIGMOID else None
    return f"|dlogit| {dlogit:.2e} > {FLOAT32_BUDGET_DLOGIT}" if dlogit > FLOAT32_BUDGET_DLOGIT else None


def compare(args):
    paths = [tuple(p.split(":")) for p in args.paths.split(",")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = {(name, device, dtype): pool.submit(
                    rerankd_logits, args.bin, os.path.join(args.testdata, "models", name),
                    read_jsonl(os.path.join(args.testdata, "expected", name + ".jsonl")), device, dtype)
                for name in MODELS for device, dtype in paths}
        results = []
        for name in MODELS:
            model_dir = os.path.join(args.testdata, "models", name)
            rows = read_jsonl(os.path.join(args.testdata, "expected", name + ".jsonl"))
            reference = [r["logit"] for r in rows]
            if args.baseline == "transformers":
                import torch
                baseline = hf_logits(hf_model(model_dir, torch.float32), rows)
                scored = [("float64 reference", reference)]
            else:
                baseline, scored = reference, []
            for device, dtype in paths:
                path = f"rerankd {device} {dtype}"
                try:
                    scored.append((path, runs[(name, device, dtype)].result()))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    results.append({"model": name, "path": path, "error": str(e)})
            for path, logits in scored:
                dlogit = max(abs(a - b) for a, b in zip(logits, baseline))
                dsig = max(abs(sigmoid(a) - sigmoid(b)) for a, b in zip(logits, baseline))
                results.append({"model": name, "path": path, "pairs": len(rows), "max_dlogit": dlogit,
                                "max_dsigmoid": dsig, "missed": budget_missed(path, dlogit, dsig)})
    against = ("HF transformers float32, GPU" if args.baseline == "transformers"
               else "the float64 reference: a rehearsal without PyTorch")
    print(f"{'model':10} {'scores':28} {'max |dlogit|':>13} {'max |dsigmoid|':>15}   (against {against})")
    for r in results:
        if "error" in r:
            print(f"{r['model']:10} {r['path']:28} FAILED {r['error']}")
        else:
            verdict = f"FAILED {r['missed']}" if r["missed"] else "ok"
            print(f"{r['model']:10} {r['path']:28} {r['max_dlogit']:13.2e} {r['max_dsigmoid']:15.2e}   {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if any("error" in r or r["missed"] for r in results) else 0


def timed(fn, reps):
    import torch
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def speed(args):
    import torch
    out = {}
    a = torch.randn(8192, 8192, dtype=torch.float16, device="cuda")
    b = torch.randn(8192, 8192, dtype=torch.float16, device="cuda")
    t = timed(lambda: torch.matmul(a, b), 10)
    out["matmul_fp16_tflops"] = 2 * 8192 ** 3 / t / 1e12
    del a, b
    model = hf_model(args.model, torch.float16)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for pairs in (1, 16, 64, 128):
            ids = torch.randint(4, 200000, (pairs, 256), generator=gen)
            ids[:, 0], ids[:, -1] = 0, 2
            ids = ids.cuda()
            mask = torch.ones_like(ids)
            t = timed(lambda: model(input_ids=ids, attention_mask=mask), 5 if pairs > 1 else 20)
            out[f"hf_fp16_b{pairs}_pairs_per_second"] = pairs / t
            out[f"hf_fp16_b{pairs}_ms"] = t * 1e3
    out["hf_fp16_max_memory_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    for k, v in out.items():
        print(f"{k:36} {v:12.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--testdata", required=True)
    c.add_argument("--bin", required=True)
    c.add_argument("--paths", default="cpu:float32,cuda:float32,cuda:float16,cuda:bfloat16")
    c.add_argument("--baseline", choices=("transformers", "reference"), default="transformers")
    c.add_argument("--jobs", type=int, default=8, help="`rerankd score` processes at once")
    c.add_argument("--json")
    s = sub.add_parser("speed")
    s.add_argument("--model", required=True)
    s.add_argument("--json")
    args = parser.parse_args()
    if args.command == "speed" or args.baseline == "transformers":
        import torch
        if not torch.cuda.is_available():
            sys.exit("gpu_hf.py: no CUDA device for PyTorch")
    sys.exit(compare(args) if args.command == "compare" else speed(args))


if __name__ == "__main__":
    main()
