#!/usr/bin/python3
"""Random-weight decoder-LLM rerankers in Hugging Face's exact on-disk layout, their tokenizers, and the
float64 reference's expected outputs (decoder_reference.py).

    decoder_models.py OUTDIR [--qwen3-shaped] [--shaped-dtype bfloat16|float32] [--shaped-only]

Writes under OUTDIR (next to make_test_models.py's output; no name is shared):

    tokenizers/qwen-bpe.json        byte-level BPE in Qwen2/Qwen3's tokenizer.json layout (bpe_tokenizer.py's
                                    train_qwen_style on tests/data/corpus.txt and the prompts), with Qwen's 26
                                    added tokens; "yes", "no", "1", "0" are single tokens
    spm/gemma-bpe.model             sentencepiece BPE, Gemma's special ids (<pad> 0 <eos> 1 <bos> 2 <unk> 3),
                                    byte fallback, no dummy prefix; "Yes" is a single piece
    models/qwen3-tiny               Qwen3ForCausalLM, hidden 64, 3 layers, 4 q / 2 kv heads, head_dim 32 (q width
                                    128 != hidden), FFN 128, tied embeddings (as Qwen3-Reranker-0.6B), F32
    models/qwen3-tiny-bf16          the same weights stored as BF16 (as the real checkpoints ship)
    models/qwen3-tiny-untied        untied lm_head.weight (as Qwen3-Reranker-4B/8B), F32 in two shards + index
    models/mxbai-tiny, -bf16        Qwen2ForCausalLM (q/k/v bias, no q/k norm), hidden 64, 2 layers, 4 q / 2 kv
                                    heads of 16, tied (as mxbai-rerank-base/large-v2)
    models/bge-gemma-tiny, -bf16    GemmaForCausalLM, hidden 64, 2 layers, 4 q heads / 1 kv head (MQA), head_dim
                                    32, GeGLU (gelu_pytorch_tanh), (1 + w) RMSNorm, tied
    models/qwen3-0.6b-shaped        (--qwen3-shaped) Qwen3-Reranker-0.6B's exact shapes, random, for benchmarks
    expected/<model>.jsonl          per pair: query, document, instruction, max_length, ids, logit, score; the
                                    pairs of tests/data/pairs.jsonl at the family's default max_length, then some
                                    with a custom instruction, then some cut at small max_lengths
    expected/ranking-qwen3-tiny.jsonl  8 queries x 24 corpus documents (make_test_models.py's ranking set)

Deterministic (fixed seeds, single-threaded spm_train). numpy, sentencepiece, spm_train, bpe_tokenizer.py.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
sys.path.insert(0, HERE)
import reference  # noqa: E402
import decoder_reference as dref  # noqa: E402
from make_test_models import (encode_header, rounded, to_bytes, write_json, write_jsonl,  # noqa: E402
                              write_safetensors)

SEED = 20250611

# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------

QWEN3_TINY = dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                  intermediate_size=128, rope_theta=1000000, rms_norm_eps=1e-06, max_position_embeddings=40960)
# Qwen3-Reranker-0.6B (config.json of Qwen/Qwen3-0.6B-Base's family; vocab 151669 = 151643 BPE + 26 added).
QWEN3_0_6B = dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                  intermediate_size=3072, rope_theta=1000000, rms_norm_eps=1e-06, max_position_embeddings=40960,
                  vocab_size=151669)
# Qwen2 has no head_dim in its config: hidden_size // num_attention_heads (= 16 here).
MXBAI_TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, rope_theta=1000000.0, rms_norm_eps=1e-06, max_position_embeddings=32768)
GEMMA_TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                  intermediate_size=128, rope_theta=10000.0, rms_norm_eps=1e-06, max_position_embeddings=8192)

TORCH_DTYPES = {"F32": "float32", "BF16": "bfloat16"}

# --------------------------------------------------------------------------------------------------
# config.json: every key the real configs carry, sizes shrunk
# --------------------------------------------------------------------------------------------------


def qwen3_config(shape, vocab_size, dtype, tied, bos_id, eos_id):
    """Qwen3-Reranker-0.6B's config.json keys (the 4B/8B differ in sizes and tie_word_embeddings false)."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "head_dim": shape["head_dim"],
        "hidden_act": "silu",
        "hidden_size": shape["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "max_position_embeddings": shape["max_position_embeddings"],
        "max_window_layers": shape["num_hidden_layers"],
        "model_type": "qwen3",
        "num_attention_heads": shape["num_attention_heads"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "rms_norm_eps": shape["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": shape["rope_theta"],
        "sliding_window": None,
        "tie_word_embeddings": tied,
        "torch_dtype": TORCH_DTYPES[dtype],
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
    }


def qwen2_config(shape, vocab_size, dtype, bos_id, eos_id):
    """mxbai-rerank-base-v2's keys (Qwen2.5-0.5B's config: Qwen2ForCausalLM, tied, sliding window off)."""
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "hidden_size": shape["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "max_position_embeddings": shape["max_position_embeddings"],
        "max_window_layers": shape["num_hidden_layers"],
        "model_type": "qwen2",
        "num_attention_heads": shape["num_attention_heads"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "rms_norm_eps": shape["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": shape["rope_theta"],
        "sliding_window": shape["max_position_embeddings"],
        "tie_word_embeddings": True,
        "torch_dtype": TORCH_DTYPES[dtype],
        "transformers_version": "4.49.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
    }


def gemma_config(shape, vocab_size, dtype):
    """bge-reranker-v2-gemma's keys (gemma-2b's config: GemmaForCausalLM, head_dim 256, MQA, tied by default).
    hidden_act "gelu" is what gemma-2b's file says; GemmaMLP ignores it and uses hidden_activation
    (gelu_pytorch_tanh, also the default when the key is absent)."""
    return {
        "architectures": ["GemmaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 2,
        "eos_token_id": 1,
        "head_dim": shape["head_dim"],
        "hidden_act": "gelu",
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": shape["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "max_position_embeddings": shape["max_position_embeddings"],
        "model_type": "gemma",
        "num_attention_heads": shape["num_attention_heads"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "pad_token_id": 0,
        "rms_norm_eps": shape["rms_norm_eps"],
        "rope_scaling": None,
        "rope_theta": shape["rope_theta"],
        "torch_dtype": TORCH_DTYPES[dtype],
        "transformers_version": "4.38.2",
        "use_cache": True,
        "vocab_size": vocab_size,
    }


# --------------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------------

def tensor_shapes(family, shape, vocab_size, tied=True):
    """(name, shape) of every tensor of Qwen3ForCausalLM / Qwen2ForCausalLM / GemmaForCausalLM, module order.
    nn.Linear weights are [out_features, in_features]."""
    H, I = shape["hidden_size"], shape["intermediate_size"]
    nh, nkv = shape["num_attention_heads"], shape["num_key_value_heads"]
    hd = shape.get("head_dim") or H // nh
    out = [("model.embed_tokens.weight", [vocab_size, H])]
    for i in range(shape["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", [nh * hd, H])]
        if family == "qwen2":
            out += [(p + "self_attn.q_proj.bias", [nh * hd])]
        out += [(p + "self_attn.k_proj.weight", [nkv * hd, H])]
        if family == "qwen2":
            out += [(p + "self_attn.k_proj.bias", [nkv * hd])]
        out += [(p + "self_attn.v_proj.weight", [nkv * hd, H])]
        if family == "qwen2":
            out += [(p + "self_attn.v_proj.bias", [nkv * hd])]
        out += [(p + "self_attn.o_proj.weight", [H, nh * hd])]
        if family == "qwen3":
            out += [(p + "self_attn.q_norm.weight", [hd]), (p + "self_attn.k_norm.weight", [hd])]
        out += [(p + "mlp.gate_proj.weight", [I, H]), (p + "mlp.up_proj.weight", [I, H]),
                (p + "mlp.down_proj.weight", [H, I]),
                (p + "input_layernorm.weight", [H]), (p + "post_attention_layernorm.weight", [H])]
    out += [("model.norm.weight", [H])]
    if not tied:
        out += [("lm_head.weight", [vocab_size, H])]
    return out


# Random weights that keep every part visible in the score: small embeddings (RMS 0.05 after Gemma's sqrt(H)
# scaling, as in trained models, so a wrong rms_norm_eps shows in the first layer's norms), linear layers
# ~ N(0, 1/fan_in), queries and keys a little larger so attention is peaked and the last position depends on
# the document, norm weights near 1 (Gemma: near 0, it adds 1), and a final norm with a large gain that makes up
# for the small (tied) lm_head rows, so the yes - no logit spreads over units. center_score_rows then moves the
# score rows of lm_head so the logits average about 0 over the test pairs (scores spread over (0, 1)).
EMBEDDING_RMS = 0.05
QK_GAIN = 2.0
FINAL_NORM_GAIN = 20.0


def init_rule(family, name, dims, hidden):
    """(mean, std) of the normal distribution a tensor is drawn from."""
    gemma = family == "gemma"
    if name == "model.embed_tokens.weight" or name == "lm_head.weight":
        return 0.0, EMBEDDING_RMS * (hidden ** -0.5 if gemma else 1.0)
    if name == "model.norm.weight":
        gain = FINAL_NORM_GAIN * (hidden ** 0.5 if gemma else 1.0)
        return (gain - 1.0 if gemma else gain), 0.1 * gain
    if name.endswith("norm.weight"):  # input/post_attention layernorms, q_norm, k_norm
        return (0.0 if gemma else 1.0), 0.1
    if name.endswith(".bias"):
        return 0.0, 0.3
    std = dims[1] ** -0.5
    if ".q_proj." in name or ".k_proj." in name:
        std *= QK_GAIN
    return 0.0, std


def random_weights(family, shape, vocab_size, seed, tied=True):
    rng = np.random.default_rng(seed)
    weights = {}
    for name, dims in tensor_shapes(family, shape, vocab_size, tied):
        mean, std = init_rule(family, name, dims, shape["hidden_size"])
        weights[name] = (mean + std * rng.standard_normal(dims)).astype(np.float32)
    return weights


def write_sharded(path, weights, dtype, order, shards=2):
    """`shards` files split at about equal bytes, in module order, plus model.safetensors.index.json as
    transformers writes it (metadata.total_size, weight_map sorted by name)."""
    sizes = {n: len(to_bytes(weights[n], dtype)) for n in order}
    total = sum(sizes.values())
    groups, acc = [[] for _ in range(shards)], 0
    for n in order:
        groups[min(shards - 1, int(acc * shards // total))].append(n)
        acc += sizes[n]
    weight_map = {}
    for k, names in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(path, fname), weights, dtype, names)
        weight_map.update({n: fname for n in names})
    write_json(os.path.join(path, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})


def check_read_back(model_dir, expected):
    got = reference.read_model_weights(model_dir)
    assert set(got) == set(expected), (model_dir, set(got) ^ set(expected))
    for n, w in expected.items():
        assert got[n].shape == w.shape and np.array_equal(got[n], w.astype(np.float64)), (model_dir, n)


# --------------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------------

def training_lines():
    """The corpus, the test pairs, every prompt string of the three families, and the score words alone on
    their lines (so "yes", "no", "Yes" become single tokens; "1" and "0" are single digits anyway)."""
    lines = [l.rstrip("\n") for l in open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") if l.strip()]
    for p in reference.read_pairs(os.path.join(DATA, "pairs.jsonl")):
        lines += [p["query"], p["document"]]
    prompts = [dref.QWEN3_PREFIX, dref.QWEN3_SUFFIX, dref.QWEN3_DEFAULT_INSTRUCTION, "<Instruct>: <Query>: <Document>: ",
               dref.MXBAI_TASK, dref.MXBAI_PREFIX, dref.MXBAI_SUFFIX, "instruction: query: document: ",
               dref.BGE_PROMPT, "A: B: "]
    special = [t for t, _ in dref.QWEN_ADDED_TOKENS]
    for text in prompts:  # without Qwen's special tokens (cut out before the BPE sees them)
        for t in special:
            text = text.replace(t, "\n")
        lines += [l for l in text.split("\n") if l] * 5
    lines += ["yes", "no", "Yes", "No", "yes no", "Yes No", "1", "0"] * 200
    return lines


def ensure_qwen_added_tokens(tok_json):
    """Qwen's 26 added tokens (decoder_reference.QWEN_ADDED_TOKENS) in tokenizer.json's added_tokens, each
    missing one appended at the next free id, flags as Qwen's files give them. Returns the vocab size
    (highest id + 1)."""
    added = tok_json.setdefault("added_tokens", [])
    have = {t["content"] for t in added}
    next_id = 1 + max([t["id"] for t in added] + list(tok_json["model"]["vocab"].values()))
    for content, special in dref.QWEN_ADDED_TOKENS:
        if content not in have:
            added.append({"id": next_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": special})
            next_id += 1
    added.sort(key=lambda t: t["id"])
    return 1 + max([t["id"] for t in added] + list(tok_json["model"]["vocab"].values()))


def train_qwen_tokenizer(out_path, vocab_size=1200, bpe_module=None):
    """tokenizer.json (dict) trained by bpe_tokenizer.train_qwen_style, with Qwen's added tokens; written to
    out_path. Returns (dict, vocab size)."""
    if bpe_module is None:
        import bpe_tokenizer as bpe_module  # tests/reference/bpe_tokenizer.py (branch `tok`)
    tok_json = bpe_module.train_qwen_style(training_lines(), vocab_size)
    n = ensure_qwen_added_tokens(tok_json)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(tok_json, f, ensure_ascii=False)
    return tok_json, n


def qwen_tokenizer_files(tok_json, model_max_length, eos_token):
    """tokenizer.json, tokenizer_config.json (Qwen2Tokenizer's, with added_tokens_decoder built from
    tokenizer.json's added_tokens), vocab.json and merges.txt, as Qwen's repositories ship them. The
    chat_template is left out (nothing here reads it)."""
    merges = tok_json["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    specials = [t["content"] for t in tok_json["added_tokens"] if t["special"]]
    return {
        "tokenizer.json": tok_json,
        "tokenizer_config.json": {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                                       "single_word", "special")}
                                     for t in tok_json["added_tokens"]},
            "additional_special_tokens": [c for c in specials if c != "<|endoftext|>"],
            "bos_token": None,
            "clean_up_tokenization_spaces": False,
            "eos_token": eos_token,
            "errors": "replace",
            "model_max_length": model_max_length,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
        "vocab.json": dict(sorted(tok_json["model"]["vocab"].items(), key=lambda kv: kv[1])),
        "merges.txt": "#version: 0.2\n" + "".join(m + "\n" for m in merges),
    }


GEMMA_SPM_FLAGS = ["--model_type=bpe", "--vocab_size=1000", "--character_coverage=1.0", "--byte_fallback=true",
                   "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
                   "--pad_piece=<pad>", "--eos_piece=<eos>", "--bos_piece=<bos>", "--unk_piece=<unk>",
                   "--add_dummy_prefix=false", "--remove_extra_whitespaces=false", "--normalization_rule_name=identity",
                   "--split_digits=true", "--allow_whitespace_only_pieces=true",
                   "--num_threads=1", "--input_sentence_size=0", "--shuffle_input_sentence=false",
                   "--random_seed=1", "--minloglevel=2"]


def train_gemma_spm(out_path, lines=None, extra_flags=()):
    """A Gemma-style sentencepiece BPE (Gemma's special ids and piece names, byte fallback, no dummy prefix,
    identity normalization, split digits), trained deterministically with spm_train in a scratch directory
    with relative names so the model bytes do not depend on the output path."""
    lines = training_lines() if lines is None else lines
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "corpus.txt"), "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in lines))
        cmd = ["spm_train", "--input=corpus.txt", "--model_prefix=tokenizer"] + GEMMA_SPM_FLAGS + list(extra_flags)
        run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            raise SystemExit(f"spm_train failed ({run.returncode})")
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        shutil.copy(os.path.join(tmp, "tokenizer.model"), out_path)


def gemma_tokenizer_files(model_max_length):
    """tokenizer_config.json and special_tokens_map.json as bge-reranker-v2-gemma (GemmaTokenizer) ships them
    (its tokenizer.json, the fast tokenizer's 17 MB form of tokenizer.model, is not written)."""
    tok = lambda c: {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    return {
        "tokenizer_config.json": {
            "add_bos_token": True,
            "add_eos_token": False,
            "added_tokens_decoder": {str(i): dict(tok(c), special=True)
                                     for i, c in enumerate(["<pad>", "<eos>", "<bos>", "<unk>"])},
            "additional_special_tokens": [],
            "bos_token": "<bos>",
            "clean_up_tokenization_spaces": False,
            "eos_token": "<eos>",
            "legacy": None,
            "model_max_length": model_max_length,
            "pad_token": "<pad>",
            "sp_model_kwargs": {},
            "spaces_between_special_tokens": False,
            "tokenizer_class": "GemmaTokenizer",
            "unk_token": "<unk>",
            "use_default_system_prompt": False,
        },
        "special_tokens_map.json": {"bos_token": tok("<bos>"), "eos_token": tok("<eos>"), "pad_token": tok("<pad>"),
                                    "unk_token": tok("<unk>")},
    }


def write_files(path, files):
    for fname, obj in files.items():
        if isinstance(obj, str):
            with open(os.path.join(path, fname), "w", encoding="utf-8") as f:
                f.write(obj)
        else:
            write_json(os.path.join(path, fname), obj)


# --------------------------------------------------------------------------------------------------
# Model directories
# --------------------------------------------------------------------------------------------------

def fresh_dir(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)


def write_model(path, family, shape, vocab_size, weights, dtype, config, files, extra=None, shards=1, tied=True):
    """config.json, tokenizer files, and the weights (one model.safetensors, or `shards` files + index),
    read back and compared bit for bit. `extra`: {file name: path to copy} (Gemma's tokenizer.model)."""
    fresh_dir(path)
    write_json(os.path.join(path, "config.json"), config)
    write_files(path, files)
    for fname, src in (extra or {}).items():
        shutil.copy(src, os.path.join(path, fname))
    if shards > 1:
        write_sharded(path, weights, dtype, [n for n, _ in tensor_shapes(family, shape, vocab_size, tied)], shards)
    else:
        write_safetensors(os.path.join(path, "model.safetensors"), weights, dtype)
    check_read_back(path, rounded(weights, dtype))


def write_qwen3_shaped(path, files, seed, dtype="BF16", shape=QWEN3_0_6B, bos_id=None, eos_id=None):
    """Qwen3-Reranker-0.6B's exact tensor shapes (tied, 28 layers, 151669 rows), random weights drawn by
    init_rule, streamed in chunks as F32 or BF16 (benchmarks only; ~2.4 GB F32, ~1.2 GB BF16)."""
    vocab_size = shape["vocab_size"]
    fresh_dir(path)
    write_json(os.path.join(path, "config.json"), qwen3_config(shape, vocab_size, dtype, True, bos_id, eos_id))
    write_files(path, files)
    shapes = dict(tensor_shapes("qwen3", shape, vocab_size, True))
    names = sorted(shapes)
    itemsize = {"F32": 4, "BF16": 2}[dtype]
    header, offset = {}, 0
    for n in names:
        nbytes = itemsize * int(np.prod(shapes[n]))
        header[n] = {"dtype": dtype, "shape": shapes[n], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    rng = np.random.default_rng(seed)
    chunk = 1 << 24
    with open(os.path.join(path, "model.safetensors"), "wb") as f:
        f.write(encode_header(header))
        for n in names:
            mean, std = init_rule("qwen3", n, shapes[n], shape["hidden_size"])
            remaining = int(np.prod(shapes[n]))
            while remaining:
                k = min(chunk, remaining)
                x = rng.standard_normal(k, dtype=np.float32)
                x *= np.float32(std)
                x += np.float32(mean)
                if dtype == "F32":
                    f.write(x.astype("<f4", copy=False).tobytes())
                else:  # round to nearest even, as reference.float32_to_bf16_bits
                    bits = x.view(np.uint32)
                    f.write(((bits + (0x7FFF + ((bits >> 16) & 1))) >> 16).astype("<u2").tobytes())
                remaining -= k
    return offset


# --------------------------------------------------------------------------------------------------
# Expected outputs
# --------------------------------------------------------------------------------------------------

CUSTOM_INSTRUCTIONS = ["Given a question, retrieve passages that answer it",
                       "Judge whether the passage is about animals"]


def expected_cases(model, pairs):
    """(query, document, instruction, max_length) cases: every pair at the family's default max_length;
    the first 6 pairs with each custom instruction (Qwen families); then 8 pairs with long documents cut at
    small max_lengths (Qwen3: the prompt's own length + 7 and + 30; mxbai: 24 and 48; Gemma: 16, 33, 64)."""
    fam = model.family
    cases = [(p["query"], p["document"], None, None) for p in pairs]
    if fam != "gemma":
        cases += [(p["query"], p["document"], ins, None) for ins in CUSTOM_INSTRUCTIONS for p in pairs[:6]]
    longest = sorted(pairs, key=lambda p: -len(p["document"]))[:8]
    if fam == "qwen3":
        tok = model.tokenizer
        fixed = len(tok.encode(dref.QWEN3_PREFIX)) + len(tok.encode(dref.QWEN3_SUFFIX))
        lengths = [fixed + 7, fixed + 30]
    elif fam == "qwen2":
        lengths = [24, 48]
    else:
        lengths = [16, 33, 64]
    for m in lengths:
        cases += [(p["query"], p["document"], CUSTOM_INSTRUCTIONS[0] if fam != "gemma" and k % 2 else None, m)
                  for k, p in enumerate(longest)]
    return cases


def expected_rows(model, pairs):
    rows = []
    for q, d, ins, m in expected_cases(model, pairs):
        rows.append(model.score(q, d, ins, m))
    return rows


def center_score_rows(model_dir, weights, bpe, pairs, rounds=2):
    """Shift the lm_head rows the score reads (yes/no, 1/0, Yes) along the mean final hidden state m of the
    test pairs' last positions so the mean logit over those pairs is about 0: the logit of a hidden h moves
    by -a (h . m), a = mean logit / |m|^2. With tied embeddings the rows are also input embeddings, so this
    is repeated (`rounds`) after rewriting model.safetensors. Changes `weights` in place."""
    name = "lm_head.weight" if "lm_head.weight" in weights else "model.embed_tokens.weight"
    for _ in range(rounds):
        model = dref.DecoderReranker(model_dir, bpe)
        short = [p for p in pairs if len(p["document"]) <= 400][:16]
        hs = np.array([model.lm.last_hidden(model.build_ids(p["query"], p["document"])) for p in short])
        ids = model.score_ids
        rows = weights[name].astype(np.float64)
        d = rows[ids[0]] - rows[ids[1]] if len(ids) == 2 else rows[ids[0]]
        m = hs.mean(axis=0)
        a = float((hs @ d).mean() / (m @ m))
        if len(ids) == 2:
            weights[name][ids[0]] = (rows[ids[0]] - a / 2 * m).astype(np.float32)
            weights[name][ids[1]] = (rows[ids[1]] + a / 2 * m).astype(np.float32)
        else:
            weights[name][ids[0]] = (rows[ids[0]] - a * m).astype(np.float32)
        write_safetensors(os.path.join(model_dir, "model.safetensors"), weights, "F32")


def ranking_pairs(pairs):
    """make_test_models.py's ranking set: the first 8 distinct queries, 24 corpus documents each."""
    queries = list(dict.fromkeys(p["query"] for p in pairs))[:8]
    corpus = [line.strip() for line in open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") if line.strip()]
    return [{"query": q, "document": corpus[(qi * 37 + k * 11) % len(corpus)]}
            for qi, q in enumerate(queries) for k in range(24)]


def sensitivity(model_dir, rows, bpe=None, count=12):
    """How far the logits move when one part of the computation is changed (a wrong rope_theta, eps, no
    q/k norm, one layer left out): each must be far above the engine tests' 1e-4 tolerance, else the test
    models could not catch that mistake. Returns {change: max |Δlogit|} over the first `count` rows."""
    base = dref.DecoderReranker(model_dir, bpe)
    rows = [r for r in rows if len(r["ids"]) <= 600][:count]
    changes = {"rope_theta/100": {"rope_theta": base.lm.theta / 100}, "rms_norm_eps=1e-5": {"rms_norm_eps": 1e-5}}
    if base.family == "qwen3":
        changes["no q/k norm"] = {"qk_norm": False}
    changes.update({f"skip layer {i}": {"skip_layer": i} for i in range(base.lm.layers)})
    out = {}
    for name, o in changes.items():
        m = dref.DecoderReranker(model_dir, bpe, overrides=o)
        out[name] = max(abs(m.logit_of(r["ids"]) - r["logit"]) for r in rows)
    return out


# --------------------------------------------------------------------------------------------------

def build_all(out, bpe_module=None, verbose=True):
    """Everything but the shaped model. bpe_module: bpe_tokenizer (default) or a stand-in with the same API."""
    t0 = time.time()
    log = print if verbose else (lambda *a, **k: None)
    dref.self_test()
    for sub in ("models", "expected", "spm", "tokenizers"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    if bpe_module is None:
        import bpe_tokenizer as bpe_module
    pairs = reference.read_pairs(os.path.join(DATA, "pairs.jsonl"))

    qwen_json_path = os.path.join(out, "tokenizers", "qwen-bpe.json")
    tok_json, qwen_vocab = train_qwen_tokenizer(qwen_json_path, bpe_module=bpe_module)
    ids = {t["content"]: t["id"] for t in tok_json["added_tokens"]}
    gemma_spm = os.path.join(out, "spm", "gemma-bpe.model")
    train_gemma_spm(gemma_spm)
    import sentencepiece
    gemma_vocab = sentencepiece.SentencePieceProcessor(model_file=gemma_spm).get_piece_size()
    log(f"tokenizers qwen byte-level BPE {qwen_vocab} ids, gemma sentencepiece {gemma_vocab} pieces")

    bpe = bpe_module.ByteLevelBpeRef.from_file(qwen_json_path)
    qwen3_files = qwen_tokenizer_files(tok_json, 131072, "<|im_end|>")
    mxbai_files = qwen_tokenizer_files(tok_json, 131072, "<|endoftext|>")
    gemma_files = gemma_tokenizer_files(1000000000000000019884624838656)

    qwen3 = random_weights("qwen3", QWEN3_TINY, qwen_vocab, SEED)
    qwen3_untied = random_weights("qwen3", QWEN3_TINY, qwen_vocab, SEED + 1, tied=False)
    mxbai = random_weights("qwen2", MXBAI_TINY, qwen_vocab, SEED + 2)
    gemma = random_weights("gemma", GEMMA_TINY, gemma_vocab, SEED + 3)
    bos, eos = ids["<|endoftext|>"], ids["<|im_end|>"]
    models = [  # name, family, shape, vocab, weights, dtype, config, files, extra, shards, tied
        ("qwen3-tiny", "qwen3", QWEN3_TINY, qwen_vocab, qwen3, "F32", qwen3_config(QWEN3_TINY, qwen_vocab, "F32", True, bos, eos),
         qwen3_files, None, 1, True),
        ("qwen3-tiny-bf16", "qwen3", QWEN3_TINY, qwen_vocab, qwen3, "BF16",
         qwen3_config(QWEN3_TINY, qwen_vocab, "BF16", True, bos, eos), qwen3_files, None, 1, True),
        ("qwen3-tiny-untied", "qwen3", QWEN3_TINY, qwen_vocab, qwen3_untied, "F32",
         qwen3_config(QWEN3_TINY, qwen_vocab, "F32", False, bos, eos), qwen3_files, None, 2, False),
        ("mxbai-tiny", "qwen2", MXBAI_TINY, qwen_vocab, mxbai, "F32", qwen2_config(MXBAI_TINY, qwen_vocab, "F32", bos, eos),
         mxbai_files, None, 1, True),
        ("mxbai-tiny-bf16", "qwen2", MXBAI_TINY, qwen_vocab, mxbai, "BF16",
         qwen2_config(MXBAI_TINY, qwen_vocab, "BF16", bos, eos), mxbai_files, None, 1, True),
        ("bge-gemma-tiny", "gemma", GEMMA_TINY, gemma_vocab, gemma, "F32", gemma_config(GEMMA_TINY, gemma_vocab, "F32"),
         gemma_files, {"tokenizer.model": gemma_spm}, 1, True),
        ("bge-gemma-tiny-bf16", "gemma", GEMMA_TINY, gemma_vocab, gemma, "BF16",
         gemma_config(GEMMA_TINY, gemma_vocab, "BF16"), gemma_files, {"tokenizer.model": gemma_spm}, 1, True),
    ]
    # Center each weight set's logits on a scratch F32 copy before writing the real directories.
    with tempfile.TemporaryDirectory() as tmp:
        for name, fam, shape, vocab, weights, dtype, config, files, extra, shards, tied in models:
            if dtype == "F32":
                d = os.path.join(tmp, name)
                write_model(d, fam, shape, vocab, weights, "F32", config, files, extra, 1, tied)
                center_score_rows(d, weights, bpe, pairs)
    summary = {}
    for name, fam, shape, vocab, weights, dtype, config, files, extra, shards, tied in models:
        d = os.path.join(out, "models", name)
        write_model(d, fam, shape, vocab, weights, dtype, config, files, extra, shards, tied)
        model = dref.DecoderReranker(d, bpe)
        rows = expected_rows(model, pairs)
        write_jsonl(os.path.join(out, "expected", name + ".jsonl"), rows)
        logits = np.array([r["logit"] for r in rows])
        summary[name] = logits
        cut = sum(r["max_length"] is not None and len(r["ids"]) == r["max_length"] for r in rows)
        log(f"{name:20s} logits {logits.min():+8.4f} .. {logits.max():+8.4f}  mean {logits.mean():+.3f} "
            f"std {logits.std():.4f}  {len(rows)} rows, {cut} at exactly max_length, longest "
            f"{max(len(r['ids']) for r in rows)} ids")
        if dtype == "F32":
            sens = sensitivity(d, rows, bpe)
            log("    max |dlogit| when changing: " + ", ".join(f"{k} {v:.3g}" for k, v in sens.items()))
            weak = {k: v for k, v in sens.items() if v < 1e-2}
            assert not weak, f"{name}: the logits barely depend on {weak}"
            assert logits.std() > 1.0, f"{name}: logits spread too little ({logits.std():.3f})"
    for a, b in (("qwen3-tiny", "qwen3-tiny-bf16"), ("mxbai-tiny", "mxbai-tiny-bf16"),
                 ("bge-gemma-tiny", "bge-gemma-tiny-bf16")):
        log(f"bf16 weights move {a}'s logits by up to {np.abs(summary[a] - summary[b]).max():.3g}")

    rows = dref.DecoderReranker(os.path.join(out, "models", "qwen3-tiny"), bpe).score_pairs(ranking_pairs(pairs))
    write_jsonl(os.path.join(out, "expected", "ranking-qwen3-tiny.jsonl"), rows)
    log(f"ranking    qwen3-tiny, {len(rows)} pairs (8 queries x 24 documents)")
    log(f"done in {time.time() - t0:.1f} s: {out}")
    return {"qwen_tokenizer": qwen_json_path, "gemma_spm": gemma_spm, "bos": bos, "eos": eos, "files": qwen3_files}


def build_shaped(out, dtype="BF16", bpe_module=None):
    """models/qwen3-0.6b-shaped with the tokenizer files of tokenizers/qwen-bpe.json (from an earlier
    build_all, or trained now)."""
    path = os.path.join(out, "tokenizers", "qwen-bpe.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            tok_json = json.load(f)
        ensure_qwen_added_tokens(tok_json)
    else:
        tok_json, _ = train_qwen_tokenizer(path, bpe_module=bpe_module)
    ids = {t["content"]: t["id"] for t in tok_json["added_tokens"]}
    t1 = time.time()
    nbytes = write_qwen3_shaped(os.path.join(out, "models", "qwen3-0.6b-shaped"),
                                qwen_tokenizer_files(tok_json, 131072, "<|im_end|>"), SEED + 9, dtype,
                                bos_id=ids["<|endoftext|>"], eos_id=ids["<|im_end|>"])
    print(f"qwen3-0.6b-shaped {nbytes / 1e9:.2f} GB of {dtype} weights in {time.time() - t1:.1f} s")


def main():
    parser = argparse.ArgumentParser(description="Build decoder-LLM reranker test models and expected outputs.")
    parser.add_argument("outdir")
    parser.add_argument("--qwen3-shaped", action="store_true",
                        help="also write models/qwen3-0.6b-shaped (Qwen3-Reranker-0.6B's shapes, random; benchmarks)")
    parser.add_argument("--shaped-dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--shaped-only", action="store_true", help="write only the shaped model")
    args = parser.parse_args()
    out = os.path.abspath(args.outdir)
    if not args.shaped_only:
        build_all(out)
    if args.qwen3_shaped or args.shaped_only:
        build_shaped(out, {"bfloat16": "BF16", "float32": "F32"}[args.shaped_dtype])


if __name__ == "__main__":
    main()
