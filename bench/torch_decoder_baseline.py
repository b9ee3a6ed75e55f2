#!/usr/bin/python3
"""PyTorch eager baseline for rerankd_bench on a decoder reranker (Qwen3ForCausalLM's layout, as
Qwen3-Reranker ships): the same forward in torch ops, timed like torch_baseline.py (random token ids
of a fixed length, median of repeats). Debian's python3-torch (1.13), no transformers needed.

The batch's pairs all have the same length, so no time goes to the padding the model card's code
would add. Attention is transformers' eager form, softmax(q k^T / sqrt(d) + causal mask) v
(torch 1.13 has no scaled_dot_product_attention). Only the last position goes through the final
norm and the answer rows, which is generous to torch: transformers computes the whole
vocabulary's logits at every position unless told otherwise.

    bench/torch_decoder_baseline.py --model DIR [--dtypes float32,bfloat16] [--lengths 256] [--batches 1,8]
                                    [--threads 2] [--min-seconds 5] [--json out.json]
    bench/torch_decoder_baseline.py --model TESTDATA/models/qwen3-tiny --check TESTDATA/expected/qwen3-tiny.jsonl

--check runs the reference's ids through this implementation and compares its yes - no logits
with the float64 reference's, so the baseline is known to compute the right model.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from torch_baseline import load_weights, median_seconds  # noqa: E402
import reference  # noqa: E402


class TorchQwen3:
    """Qwen3ForCausalLM's forward (the last position's yes - no logit) in torch.nn.functional."""

    def __init__(self, model_dir, dtype, answer_ids):
        c = reference.read_config(model_dir)
        self.c, self.dtype = c, dtype
        self.heads, self.kv_heads, self.d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        self.eps, self.theta = c["rms_norm_eps"], c["rope_theta"]
        w = load_weights(model_dir)
        self.w = {k: (v.to(dtype) if v.dim() == 2 and "embed" not in k else v) for k, v in w.items()}
        out = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        self.answer = out[answer_ids[0]] - out[answer_ids[1]]
        self.inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.d, 2, dtype=torch.int64).float() / self.d))

    def norm(self, x, name):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[name]

    def lin(self, x, name):
        return F.linear(x.to(self.dtype), self.w[name])

    @torch.inference_mode()
    def logits(self, ids):
        b, n = ids.shape
        x = self.w["model.embed_tokens.weight"][ids]
        freqs = torch.outer(torch.arange(n).float(), self.inv_freq)
        cos, sin = torch.cat([freqs, freqs], -1).cos(), torch.cat([freqs, freqs], -1).sin()
        rotate = lambda t: torch.cat([-t[..., self.d // 2:], t[..., :self.d // 2]], -1)  # noqa: E731
        mask = torch.full((n, n), torch.finfo(torch.float32).min).triu(1)
        group = self.heads // self.kv_heads
        for i in range(self.c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = self.lin(h, p + "self_attn.q_proj.weight").view(b, n, self.heads, self.d)
            k = self.lin(h, p + "self_attn.k_proj.weight").view(b, n, self.kv_heads, self.d)
            v = self.lin(h, p + "self_attn.v_proj.weight").view(b, n, self.kv_heads, self.d).transpose(1, 2)
            q = self.norm(q, p + "self_attn.q_norm.weight").transpose(1, 2)
            k = self.norm(k, p + "self_attn.k_norm.weight").transpose(1, 2)
            q, k = q * cos + rotate(q) * sin, k * cos + rotate(k) * sin
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
            scores = (q.to(self.dtype) @ k.to(self.dtype).transpose(-1, -2)).float() / math.sqrt(self.d) + mask
            context = (scores.softmax(-1).to(self.dtype) @ v.to(self.dtype)).transpose(1, 2).reshape(b, n, -1)
            x = x + self.lin(context, p + "self_attn.o_proj.weight").float()
            h = self.norm(x, p + "post_attention_layernorm.weight")
            g = F.silu(self.lin(h, p + "mlp.gate_proj.weight")) * self.lin(h, p + "mlp.up_proj.weight")
            x = x + self.lin(g, p + "mlp.down_proj.weight").float()
        last = self.norm(x[:, -1], "model.norm.weight")
        return last @ self.answer


def answer_ids(model_dir):
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    return vocab["yes"], vocab["no"]


def check(model_dir, expected_path):
    model = TorchQwen3(model_dir, torch.float32, answer_ids(model_dir))
    worst = 0.0
    with open(expected_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        worst = max(worst, abs(float(model.logits(torch.tensor([r["ids"]]))[0]) - r["logit"]))
    print(f"torch float32 against the float64 reference: max |dlogit| {worst:.3g} over {len(rows)} prompts")
    return 0 if worst < 1e-3 else 1


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
        return check(args.model, args.check)
    c = reference.read_config(args.model)
    H, I, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    Q, KV = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'dtype':>9} {'length':>7} {'batch':>6} {'pairs/s':>9} {'GFLOP/s':>9} {'latency ms':>11}")
    for dtype_name in args.dtypes.split(","):
        model = TorchQwen3(args.model, {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name],
                           answer_ids(args.model))
        for length in map(int, args.lengths.split(",")):
            for batch in map(int, args.batches.split(",")):
                ids = torch.randint(4, min(c["vocab_size"], 150000), (batch, length))
                median = median_seconds(lambda: model.logits(ids), args.min_seconds)
                # rerankd_bench's count: the layers' matmuls plus causal attention.
                flops = L * (batch * length * 2.0 * (H * (Q + 2 * KV) + Q * H + 3 * H * I)
                             + batch * 2.0 * length * length * Q)
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
