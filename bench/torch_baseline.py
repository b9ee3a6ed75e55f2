#!/usr/bin/python3
"""PyTorch eager baseline for rerankd_bench: the same XLM-R cross-encoder forward in torch ops, on the
same model directory, timed the same way (random token ids of a fixed length, median of repeats).

This is the yardstick of issue 4 ("PyTorch eager on the same model in the same run"): Debian's
python3-torch (1.13), no transformers needed. Like Hugging Face it pads a batch to its longest pair
and masks the padding; every pair here has the same length, so no time goes to padding.

    bench/torch_baseline.py --model DIR [--dtypes float32,bfloat16] [--lengths 256] [--batches 1,8]
                            [--threads 2] [--min-seconds 5] [--json out.json]
    bench/torch_baseline.py --model TESTDATA/models/tiny --check TESTDATA/expected/tiny.jsonl [--dtypes float32]

--check runs the reference's token ids through this implementation and compares its logits with
the float64 reference's, so the baseline is known to compute the right model (float32 within 1e-4);
for bfloat16 it reports the error, e.g. on TESTDATA/expected/ranking-tiny.jsonl, to compare with
rerankd's bf16 (tests/unit/precision_test.cpp).
"""
import argparse
import json
import math
import mmap
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import reference  # noqa: E402  (safetensors header reader, config reader)


def median_seconds(run, min_seconds):
    """The median time of `run()` after one warm-up call: at least 3 calls and `min_seconds`."""
    run()
    times, start = [], time.monotonic()
    while len(times) < 3 or time.monotonic() - start < min_seconds:
        t = time.monotonic()
        run()
        times.append(time.monotonic() - t)
    return statistics.median(times)


def load_weights(model_dir):
    """name -> float32 tensor, from model.safetensors or its shards, memory-mapped."""
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        files = [single]
    else:
        with open(os.path.join(model_dir, "model.safetensors.index.json"), encoding="utf-8") as f:
            files = [os.path.join(model_dir, s) for s in sorted(set(json.load(f)["weight_map"].values()))]
    weights = {}
    for path in files:
        header, data_start = reference.read_safetensors_header(path)
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            raw = np.frombuffer(mapped, dtype=np.uint8, count=end - begin, offset=data_start + begin)
            if info["dtype"] == "BF16":
                values = reference.bf16_bits_to_float32(raw.view("<u2"))
            else:
                values = raw.view({"F32": "<f4", "F16": "<f2"}[info["dtype"]]).astype(np.float32)
            weights[name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(info["shape"]))
    return weights


class TorchXlmr:
    """XLMRobertaForSequenceClassification's forward in torch.nn.functional, padded batches."""

    def __init__(self, model_dir, dtype):
        c = reference.read_config(model_dir)
        self.heads, self.hidden = c["num_attention_heads"], c["hidden_size"]
        self.layers, self.eps, self.pad = c["num_hidden_layers"], c["layer_norm_eps"], c["pad_token_id"]
        self.dtype = dtype
        w = load_weights(model_dir)
        self.w = {k: (v.to(dtype) if v.dim() == 2 and "embeddings" not in k else v) for k, v in w.items()}

    def lin(self, x, name):
        return F.linear(x.to(self.dtype), self.w[name + ".weight"], self.w[name + ".bias"].to(self.dtype))

    def ln(self, x, name):
        return F.layer_norm(x.float(), (self.hidden,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    @torch.inference_mode()
    def logits(self, ids, mask):
        w, b, n = self.w, ids.shape[0], ids.shape[1]
        positions = torch.cumsum(mask, dim=1) * mask + self.pad
        e = "roberta.embeddings."
        x = w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][positions] \
            + w[e + "token_type_embeddings.weight"][0]
        x = self.ln(x, e + "LayerNorm")
        bias = ((1 - mask) * torch.finfo(torch.float32).min)[:, None, None, :]
        d = self.hidden // self.heads
        for i in range(self.layers):
            p = f"roberta.encoder.layer.{i}."
            split = lambda t: t.view(b, n, self.heads, d).transpose(1, 2)  # noqa: E731
            q = split(self.lin(x, p + "attention.self.query"))
            k = split(self.lin(x, p + "attention.self.key"))
            v = split(self.lin(x, p + "attention.self.value"))
            scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(d) + bias
            context = (scores.softmax(-1).to(self.dtype) @ v).transpose(1, 2).reshape(b, n, self.hidden)
            x = self.ln(self.lin(context, p + "attention.output.dense").float() + x, p + "attention.output.LayerNorm")
            h = F.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(h, p + "output.dense").float() + x, p + "output.LayerNorm")
        cls = x[:, 0]
        h = torch.tanh(F.linear(cls, w["classifier.dense.weight"].float(), w["classifier.dense.bias"]))
        return F.linear(h, w["classifier.out_proj.weight"].float(), w["classifier.out_proj.bias"])[:, 0]


def check(model_dir, expected_path, dtype_names):
    """Logit and sigmoid-score errors against the float64 reference, per dtype; float32 must agree
    within 1e-4 (bfloat16's error is reported, to set rerankd's narrow paths against)."""
    rows = [json.loads(line) for line in open(expected_path, encoding="utf-8")]
    sigmoid = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    status = 0
    for dtype_name in dtype_names:
        model = TorchXlmr(model_dir, {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name])
        worst_logit = worst_score = 0.0
        for row in rows:
            ids = torch.tensor([row["ids"]])
            got = float(model.logits(ids, torch.ones_like(ids))[0])
            worst_logit = max(worst_logit, abs(got - row["logit"]))
            worst_score = max(worst_score, abs(sigmoid(got) - sigmoid(row["logit"])))
        print(f"torch baseline {dtype_name} vs float64 reference: max |dlogit| {worst_logit:.2e}, "
              f"max |dsigmoid| {worst_score:.2e}")
        if dtype_name == "float32" and worst_logit >= 1e-4:
            status = 1
    return status


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--lengths", default="256")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--json")
    parser.add_argument("--check", metavar="EXPECTED_JSONL")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's torch defaults to 1 thread
    if args.check:
        return check(args.model, args.check, args.dtypes.split(","))

    config = reference.read_config(args.model)
    layers, hidden, inter = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'dtype':>9} {'length':>7} {'batch':>6} {'pairs/s':>9} {'GFLOP/s':>9} {'latency ms':>11}")
    for dtype_name in args.dtypes.split(","):
        model = TorchXlmr(args.model, {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name])
        for length in map(int, args.lengths.split(",")):
            for batch in map(int, args.batches.split(",")):
                ids = torch.randint(4, config["vocab_size"] - 1, (batch, length))
                ids[:, 0] = 0
                mask = torch.ones_like(ids)
                median = median_seconds(lambda: model.logits(ids, mask), args.min_seconds)
                # Same FLOP count as rerankd_bench: the encoder's matmuls plus attention.
                flops = layers * (batch * length * 2.0 * (4 * hidden * hidden + 2 * hidden * inter)
                                  + batch * 4.0 * length * length * hidden)
                row = {"dtype": dtype_name, "length": length, "batch": batch, "pairs_per_second": batch / median,
                       "gflops": flops / median / 1e9, "latency_ms": median * 1e3}
                rows.append(row)
                print(f"{dtype_name:>9} {length:7d} {batch:6d} {row['pairs_per_second']:9.2f} {row['gflops']:9.1f} "
                      f"{row['latency_ms']:11.1f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"engine": f"torch {torch.__version__} eager", "threads": torch.get_num_threads(), "results": rows},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
