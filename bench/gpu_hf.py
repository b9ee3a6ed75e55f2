#!/usr/bin/env python3
"""Hugging Face transformers on the GPU, for scripts/gpu-check.sh (PyTorch, transformers and numpy
only: the GPU machine's Python).

    gpu_hf.py compare --testdata DIR --bin RERANKD [--json OUT]
        Loads each test model with XLMRobertaForSequenceClassification (float32, on the GPU), runs
        the float64 reference's token ids through it, and compares rerankd's CUDA scores (float32,
        float16, bfloat16) and CPU float32 scores with it: max |dlogit| and |dsigmoid| per model.
    gpu_hf.py speed --model DIR [--json OUT]
        transformers float16 on a bge-shaped model: pairs/s at 256 tokens for batches of 16, 64 and
        128 pairs (4k, 16k, 32k tokens), single-pair latency, and the GPU's own float16 matmul rate
        (an 8192^3 torch.matmul).
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def hf_model(model_dir, dtype):
    from transformers import XLMRobertaForSequenceClassification
    model = XLMRobertaForSequenceClassification.from_pretrained(model_dir, torch_dtype=dtype)
    return model.to("cuda").eval()


def hf_logits(model, rows, batch=32):
    """Logits of the reference's token ids, padded per batch with the pad id (1) and masked."""
    out = []
    with torch.no_grad():
        for k in range(0, len(rows), batch):
            chunk = rows[k:k + batch]
            longest = max(len(r["ids"]) for r in chunk)
            ids = torch.full((len(chunk), longest), 1, dtype=torch.long)
            mask = torch.zeros((len(chunk), longest), dtype=torch.long)
            for i, r in enumerate(chunk):
                ids[i, :len(r["ids"])] = torch.tensor(r["ids"])
                mask[i, :len(r["ids"])] = 1
            logits = model(input_ids=ids.cuda(), attention_mask=mask.cuda()).logits.float()
            out += logits[:, 0].cpu().tolist()
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
                                 capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                raise RuntimeError(f"rerankd score --device {device} --dtype {dtype}: {run.stderr.strip()[-500:]}")
            for i, line in zip(where, run.stdout.splitlines()):
                out[i] = json.loads(line)["logit"]
    return out


def compare(args):
    results = []
    for name in ("tiny", "tiny-f16", "tiny-bf16", "small"):
        model_dir = os.path.join(args.testdata, "models", name)
        rows = read_jsonl(os.path.join(args.testdata, "expected", name + ".jsonl"))
        hf = hf_logits(hf_model(model_dir, torch.float32), rows)
        reference = [r["logit"] for r in rows]
        paths = [("float64 reference", reference)]
        for device, dtype in (("cpu", "float32"), ("cuda", "float32"), ("cuda", "float16"), ("cuda", "bfloat16")):
            try:
                paths.append((f"rerankd {device} {dtype}", rerankd_logits(args.bin, model_dir, rows, device, dtype)))
            except RuntimeError as e:
                results.append({"model": name, "path": f"rerankd {device} {dtype}", "error": str(e)})
        for path, logits in paths:
            dlogit = max(abs(a - b) for a, b in zip(logits, hf))
            dsig = max(abs(sigmoid(a) - sigmoid(b)) for a, b in zip(logits, hf))
            results.append({"model": name, "path": path, "pairs": len(rows), "max_dlogit": dlogit,
                            "max_dsigmoid": dsig})
    print(f"{'model':10} {'scores':28} {'max |dlogit|':>13} {'max |dsigmoid|':>15}   (against HF transformers float32, GPU)")
    for r in results:
        if "error" in r:
            print(f"{r['model']:10} {r['path']:28} ERROR {r['error']}")
        else:
            print(f"{r['model']:10} {r['path']:28} {r['max_dlogit']:13.2e} {r['max_dsigmoid']:15.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def timed(fn, reps):
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--testdata", required=True)
    c.add_argument("--bin", required=True)
    c.add_argument("--json")
    s = sub.add_parser("speed")
    s.add_argument("--model", required=True)
    s.add_argument("--json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_hf.py: no CUDA device for PyTorch")
    compare(args) if args.command == "compare" else speed(args)


if __name__ == "__main__":
    main()
