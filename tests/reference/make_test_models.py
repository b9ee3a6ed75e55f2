#!/usr/bin/python3
"""Builds rerankd's test data: a small multilingual sentencepiece model, random-weight XLM-RoBERTa
cross-encoders in Hugging Face's on-disk layout, malformed copies of them, and the float64
reference's expected token ids and logits.

    make_test_models.py OUTDIR [--bge-shaped] [--mid-shaped] [--shaped-dtype float16] [--shaped-only]

Deterministic (fixed seeds, single-threaded spm_train), numpy + sentencepiece only, runs in a few
seconds. Writes under OUTDIR:

    spm/sentencepiece.bpe.model     trained on tests/data/corpus.txt (<unk>=0 <s>=1 </s>=2, no <pad>)
    models/tiny                     H=32, 2 layers, 4 heads, F32 model.safetensors, 512-token inputs
    models/tiny-f16, tiny-bf16      tiny's weights rounded to F16 / BF16
    models/small                    H=128, 4 layers, 8 heads, 128-token inputs, F32 in two shards
    models/tiny-i64, bert-tiny-i64  tiny's and bert-tiny's weights plus the I64 buffers older
                                    transformers saved (embeddings.position_ids, token_type_ids)
    models/bge-shaped               (--bge-shaped only) bge-reranker-v2-m3's shape, ~2.3 GB, random
                                    (~1.1 GB with --shaped-dtype float16)
    models/mid-shaped               (--mid-shaped only) the same layout, 6 layers, hidden 384, random
    models/qwen3-*, mxbai-*, bge-gemma-*, expected/<those>.jsonl
                                    decoder-LLM rerankers and their float64 scores (decoder_models.py)
    models/qwen3-0.6b-shaped        (--qwen3-shaped only) Qwen3-Reranker-0.6B's shape, random
    bad/<case>/, bad/manifest.json  copies of tiny with one defect each, and what the error must name
    expected/<model>.jsonl          per pair of tests/data/pairs.jsonl: max_length, ids, logit
    expected/tokenizer.jsonl        token ids of single texts and of truncated pairs
    expected/ranking-<model>.jsonl  tiny and small: 8 queries x 24 corpus documents each, for the
                                    bf16/int8 accuracy budget (sigmoid error and per-query ranking)
    expected/ranking-<model>-int8-w<R>.jsonl
                                    the same through the simulated int8 scheme, weight range R
                                    (127, or 63 without VNNI)
    expected/cuda-memory.json       the CUDA backend's planned device memory for bge-reranker-v2-m3
                                    at a 16k-token budget (cuda_memory.py)
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
sys.path.insert(0, HERE)
import reference  # noqa: E402
import cuda_memory  # noqa: E402
import decoder_models  # noqa: E402

SEED = 20240607

# --------------------------------------------------------------------------------------------------
# Model shapes
# --------------------------------------------------------------------------------------------------

MODELS = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=514),
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=8, intermediate_size=512,
                  max_position_embeddings=130),
}
BGE_SHAPE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                 max_position_embeddings=8194, vocab_size=250002)
# bge's layout, narrower and shallower: for server benchmarks with many levels on a 2-core CPU,
# where the bge-shaped model answers under one pair a second in float32.
MID_SHAPE = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536,
                 max_position_embeddings=514, vocab_size=250002)


def hf_config(shape, vocab_size, torch_dtype="float32"):
    """config.json as transformers writes it for XLMRobertaForSequenceClassification (sorted keys)."""
    config = {
        "architectures": ["XLMRobertaForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": 0,
        "classifier_dropout": None,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": shape["hidden_size"],
        "id2label": {"0": "LABEL_0"},
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "label2id": {"LABEL_0": 0},
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": shape["max_position_embeddings"],
        "model_type": "xlm-roberta",
        "num_attention_heads": shape["num_attention_heads"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "output_past": True,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "torch_dtype": torch_dtype,
        "transformers_version": "4.38.1",
        "type_vocab_size": 1,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    return config


def hf_token(content, lstrip=False, rstrip=False):
    return {"content": content, "lstrip": lstrip, "normalized": False, "rstrip": rstrip, "single_word": False}


# An added token of the `small` model's files that is no XLM-R default (id, content, rstrip): the
# engine must take added tokens and their ids from the files.
SMALL_EXTRA_TOKEN = (5, "<doc/>", True)


def xlmr_tokenizer_json(spm_path, added):
    """tokenizer.json as the tokenizers library saves XLMRobertaTokenizerFast: added_tokens with
    their flags, XLM-R's normalizer, Metaspace pre-tokenizer and pair template, and the vocabulary
    in fairseq order (listed for the layout; the test models' sentencepiece is BPE, and rerankd and
    the reference read only added_tokens and truncation from this file)."""
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=spm_path)
    vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    vocab += [[sp.id_to_piece(i), float(sp.get_score(i))] for i in range(1, sp.get_piece_size())]
    vocab.append(["<mask>", 0.0])
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [dict(id=i, special=special, **hf_token(c, lstrip, rstrip))
                         for i, c, lstrip, rstrip, special in added],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]}
                                              for t, i in [("<s>", 0), ("</s>", 2)]}},
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False},
    }


def tokenizer_files(model_max_length, mask_id, spm_path, extra=None):
    """tokenizer.json, tokenizer_config.json and special_tokens_map.json as transformers writes them
    for XLM-R; `extra` (id, content, rstrip) adds a non-special added token."""
    token = hf_token
    added = [(0, "<s>", False, False, True), (1, "<pad>", False, False, True), (2, "</s>", False, False, True),
             (3, "<unk>", False, False, True), (mask_id, "<mask>", True, False, True)]
    if extra:
        added.append((extra[0], extra[1], False, extra[2], False))
    return {
        "tokenizer.json": xlmr_tokenizer_json(spm_path, added),
        "tokenizer_config.json": {
            "added_tokens_decoder": {str(i): dict(token(c, lstrip, rstrip), special=special)
                                     for i, c, lstrip, rstrip, special in added},
            "bos_token": "<s>",
            "clean_up_tokenization_spaces": True,
            "cls_token": "<s>",
            "eos_token": "</s>",
            "mask_token": "<mask>",
            "model_max_length": model_max_length,
            "pad_token": "<pad>",
            "sep_token": "</s>",
            "sp_model_kwargs": {},
            "tokenizer_class": "XLMRobertaTokenizer",
            "unk_token": "<unk>",
        },
        "special_tokens_map.json": {
            "bos_token": token("<s>"),
            "cls_token": token("<s>"),
            "eos_token": token("</s>"),
            "mask_token": token("<mask>", lstrip=True),
            "pad_token": token("<pad>"),
            "sep_token": token("</s>"),
            "unk_token": token("<unk>"),
        },
    }


def tensor_shapes(shape, vocab_size):
    """(name, shape) of every tensor of XLMRobertaForSequenceClassification, in module order."""
    H, I, P = shape["hidden_size"], shape["intermediate_size"], shape["max_position_embeddings"]
    e = "roberta.embeddings."
    out = [(e + "word_embeddings.weight", [vocab_size, H]), (e + "position_embeddings.weight", [P, H]),
           (e + "token_type_embeddings.weight", [1, H]), (e + "LayerNorm.weight", [H]), (e + "LayerNorm.bias", [H])]
    for i in range(shape["num_hidden_layers"]):
        p = f"roberta.encoder.layer.{i}."
        for m in ("query", "key", "value"):
            out += [(p + f"attention.self.{m}.weight", [H, H]), (p + f"attention.self.{m}.bias", [H])]
        out += [(p + "attention.output.dense.weight", [H, H]), (p + "attention.output.dense.bias", [H]),
                (p + "attention.output.LayerNorm.weight", [H]), (p + "attention.output.LayerNorm.bias", [H]),
                (p + "intermediate.dense.weight", [I, H]), (p + "intermediate.dense.bias", [I]),
                (p + "output.dense.weight", [H, I]), (p + "output.dense.bias", [H]),
                (p + "output.LayerNorm.weight", [H]), (p + "output.LayerNorm.bias", [H])]
    out += [("classifier.dense.weight", [H, H]), ("classifier.dense.bias", [H]),
            ("classifier.out_proj.weight", [1, H]), ("classifier.out_proj.bias", [1])]
    return out


# Random weights that keep a signal through every layer: embeddings small (their sum has a variance
# of ~0.01, so an engine using the wrong layer_norm_eps is off by more than the test's tolerance),
# unit-variance activations after each LayerNorm, linear layers ~ N(0, 1/fan_in) so their outputs stay O(1), queries and keys a little
# larger so attention is peaked enough for the first token to depend on the input, and an output
# projection scaled so that logits spread over several units.
EMBEDDING_STD = 0.05  # small, as in trained XLM-R, so that layer_norm_eps visibly matters
QK_GAIN = 2.0
OUT_PROJ_GAIN = 4.0


def init_rule(name, shape):
    """(mean, std) of the normal distribution a tensor is drawn from."""
    if name.endswith("_embeddings.weight"):
        return 0.0, EMBEDDING_STD
    if "LayerNorm.weight" in name:
        return 1.0, 0.1
    if name.endswith(".bias"):
        return 0.0, 0.1
    fan_in = shape[1]
    std = fan_in ** -0.5
    if ".attention.self.query." in name or ".attention.self.key." in name:
        std *= QK_GAIN
    if name in ("classifier.out_proj.weight", "classifier.weight"):
        std *= OUT_PROJ_GAIN
    return 0.0, std


def random_weights(shape, vocab_size, seed):
    rng = np.random.default_rng(seed)
    weights = {}
    for name, dims in tensor_shapes(shape, vocab_size):
        mean, std = init_rule(name, dims)
        weights[name] = (mean + std * rng.standard_normal(dims)).astype(np.float32)
    return weights


# --------------------------------------------------------------------------------------------------
# safetensors writer
# --------------------------------------------------------------------------------------------------

def to_bytes(array_f32, dtype):
    """Little-endian bytes of a float32 array stored as F32, F16 (round to nearest even) or BF16."""
    if dtype == "F32":
        return np.ascontiguousarray(array_f32, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(array_f32.astype(np.float16), dtype="<f2").tobytes()
    if dtype == "BF16":
        return reference.float32_to_bf16_bits(array_f32).astype("<u2").tobytes()
    raise ValueError(dtype)


def layout(entries):
    """[(name, dtype, shape, raw bytes)] -> (header dict, data bytes), tensors back to back in order."""
    header, chunks, offset = {}, [], 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return header, b"".join(chunks)


def encode_header(header, metadata=None):
    """The 8-byte length and the JSON header (metadata first, as the safetensors library writes it),
    padded with spaces to a multiple of 8."""
    full = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    full.update(header)
    text = json.dumps(full, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def write_safetensors_raw(path, header, data):
    with open(path, "wb") as f:
        f.write(encode_header(header))
        f.write(data)


def model_entries(weights, dtype, names=None):
    """Entries sorted by name, as the safetensors library lays a state dict out."""
    names = sorted(weights) if names is None else sorted(names)
    return [(n, dtype, weights[n].shape, to_bytes(weights[n], dtype)) for n in names]


def index_buffer_entries(prefix, max_positions, position_ids=None):
    """The embeddings' buffers older transformers saved into checkpoints as I64: position_ids,
    arange(max_position_embeddings) of shape [1, N] (or the `position_ids` given), and token_type_ids,
    zeros of that shape."""
    n = max_positions
    positions = np.arange(n) if position_ids is None else np.asarray(position_ids)
    return [(prefix + "embeddings.position_ids", "I64", [1, n], positions.astype("<i8").tobytes()),
            (prefix + "embeddings.token_type_ids", "I64", [1, n], np.zeros(n, dtype="<i8").tobytes())]


def write_safetensors(path, weights, dtype, names=None, buffers=()):
    """`buffers`: raw I64 entries (index_buffer_entries), laid out before the weights, as the
    safetensors library orders I64 tensors before floats."""
    write_safetensors_raw(path, *layout(list(buffers) + model_entries(weights, dtype, names)))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------------
# Sentencepiece
# --------------------------------------------------------------------------------------------------

SPM_FLAGS = ["--model_type=bpe", "--vocab_size=1000", "--character_coverage=1.0",
             "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
             "--num_threads=1", "--input_sentence_size=0", "--shuffle_input_sentence=false",
             "--random_seed=1", "--minloglevel=2"]


def train_spm(out_path):
    """spm_train in a scratch directory with relative names, so the model bytes (which record the
    training input and prefix) do not depend on OUTDIR."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(DATA, "corpus.txt"), os.path.join(tmp, "corpus.txt"))
        cmd = ["spm_train", "--input=corpus.txt", "--model_prefix=sentencepiece.bpe"] + SPM_FLAGS
        run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            raise SystemExit(f"spm_train failed ({run.returncode})")
        shutil.copy(os.path.join(tmp, "sentencepiece.bpe.model"), out_path)


# --------------------------------------------------------------------------------------------------
# Model directories
# --------------------------------------------------------------------------------------------------

TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def write_model_dir(path, shape, vocab_size, spm_path, model_max_length, dtype="F32", extra_token=None):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    write_json(os.path.join(path, "config.json"), hf_config(shape, vocab_size, TORCH_DTYPES[dtype]))
    for fname, obj in tokenizer_files(model_max_length, vocab_size - 1, spm_path, extra_token).items():
        write_json(os.path.join(path, fname), obj)
    shutil.copy(spm_path, os.path.join(path, "sentencepiece.bpe.model"))


def write_sharded(path, weights, dtype, shape, vocab_size):
    """Two shards split at about half the bytes, in module order, plus the index transformers writes."""
    order = [n for n, _ in tensor_shapes(shape, vocab_size)]
    sizes = {n: len(to_bytes(weights[n], dtype)) for n in order}
    total = sum(sizes.values())
    first, acc = [], 0
    for n in order:
        if acc >= total / 2:
            break
        first.append(n)
        acc += sizes[n]
    shards = {"model-00001-of-00002.safetensors": first,
              "model-00002-of-00002.safetensors": [n for n in order if n not in set(first)]}
    weight_map = {}
    for fname, names in shards.items():
        write_safetensors(os.path.join(path, fname), weights, dtype, names)
        weight_map.update({n: fname for n in names})
    write_json(os.path.join(path, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})


def rounded(weights, dtype):
    """The float32 values a reader gets back after storing `weights` as dtype."""
    if dtype == "F16":
        return {n: w.astype(np.float16).astype(np.float32) for n, w in weights.items()}
    if dtype == "BF16":
        return {n: reference.bf16_bits_to_float32(reference.float32_to_bf16_bits(w)).reshape(w.shape)
                for n, w in weights.items()}
    return weights


def check_read_back(model_dir, expected):
    """The writer against the reader: every tensor back bit for bit, nothing extra."""
    got = reference.read_model_weights(model_dir)
    assert set(got) == set(expected), (model_dir, set(got) ^ set(expected))
    for n, w in expected.items():
        assert got[n].shape == w.shape and np.array_equal(got[n], w.astype(np.float64)), (model_dir, n)


def write_bge_shaped(path, spm_path, seed, shape=BGE_SHAPE, dtype="F32"):
    """bge-reranker-v2-m3's exact shapes (or another `shape` in its layout) with random weights,
    stored as F32 or F16 (benchmarks only), streamed in chunks."""
    vocab_size = shape["vocab_size"]
    write_model_dir(path, shape, vocab_size, spm_path, model_max_length=8192, dtype=dtype)
    shapes = dict(tensor_shapes(shape, vocab_size))
    names = sorted(shapes)
    stored = {"F32": "<f4", "F16": "<f2"}[dtype]
    header, offset = {}, 0
    for n in names:
        nbytes = np.dtype(stored).itemsize * int(np.prod(shapes[n]))
        header[n] = {"dtype": dtype, "shape": shapes[n], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    rng = np.random.default_rng(seed)
    chunk = 1 << 24
    with open(os.path.join(path, "model.safetensors"), "wb") as f:
        f.write(encode_header(header))
        for n in names:
            mean, std = init_rule(n, shapes[n])
            remaining = int(np.prod(shapes[n]))
            while remaining:
                k = min(chunk, remaining)
                x = rng.standard_normal(k, dtype=np.float32)
                x *= np.float32(std)
                x += np.float32(mean)
                f.write(x.astype(stored, copy=False).tobytes())
                remaining -= k
    return offset


# --------------------------------------------------------------------------------------------------
# BERT cross-encoders (BertForSequenceClassification, the ms-marco MiniLM layout)
# --------------------------------------------------------------------------------------------------

BERT_MODELS = {
    # uncased (do_lower_case, accents stripped), 512 positions
    "bert-tiny": (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       max_position_embeddings=512), True),
    # cased, 128 positions: pairs.jsonl's long documents are cut
    "bert-cased": (dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=128), False),
}
BERT_SPECIALS = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_vocab(lower, extra_texts):
    """vocab.txt's tokens: BERT's special layout ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103),
    every character of the corpus and the test texts alone and as "##" continuation (except symbols
    such as emoji and fullwidth forms, which stay [UNK]), the corpus's most frequent words and word
    endings. Words outside it split into pieces, so WordPiece's greedy match is exercised."""
    import collections
    corpus = [line.strip() for line in open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") if line.strip()]
    words = collections.Counter(w for t in corpus for w in reference.bert_basic_tokenize(t, lower))
    chars = {c for t in corpus + extra_texts for w in reference.bert_basic_tokenize(t, lower) for c in w}
    chars = sorted(c for c in chars if reference.unicodedata.category(c) != "So" and not 0xFF00 <= ord(c) <= 0xFFEF)
    endings = collections.Counter(w[k:] for w in words for k in range(1, len(w)) if 2 <= len(w) - k <= 4)
    tokens = BERT_SPECIALS + chars + ["##" + c for c in chars]
    tokens += sorted(w for w, n in words.most_common(400) if len(w) > 1 and w != "panda")
    tokens += sorted("##" + e for e, n in endings.most_common(150))
    return list(dict.fromkeys(tokens))


def bert_config(shape, vocab_size):
    """config.json as transformers writes it for a BertForSequenceClassification cross-encoder."""
    return {
        "_name_or_path": "rerankd-test-bert",
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": shape["hidden_size"],
        "id2label": {"0": "LABEL_0"},
        "initializer_range": 0.02,
        "intermediate_size": shape["intermediate_size"],
        "label2id": {"LABEL_0": 0},
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": shape["max_position_embeddings"],
        "model_type": "bert",
        "num_attention_heads": shape["num_attention_heads"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.38.1",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def bert_tokenizer_files(lower, model_max_length, vocab):
    """tokenizer_config.json and special_tokens_map.json as transformers writes them for BertTokenizer."""
    ids = {t: i for i, t in enumerate(vocab)}
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return {
        "tokenizer_config.json": {
            "added_tokens_decoder": {str(ids[t]): dict(hf_token(t), special=True) for t in specials},
            "clean_up_tokenization_spaces": True,
            "cls_token": "[CLS]",
            "do_basic_tokenize": True,
            "do_lower_case": lower,
            "mask_token": "[MASK]",
            "model_max_length": model_max_length,
            "never_split": None,
            "pad_token": "[PAD]",
            "sep_token": "[SEP]",
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "tokenizer_class": "BertTokenizer",
            "unk_token": "[UNK]",
        },
        "special_tokens_map.json": {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                                    "sep_token": "[SEP]", "unk_token": "[UNK]"},
    }


def bert_tensor_shapes(shape, vocab_size):
    """(name, shape) of every tensor of BertForSequenceClassification, in module order."""
    H, I, P = shape["hidden_size"], shape["intermediate_size"], shape["max_position_embeddings"]
    e = "bert.embeddings."
    out = [(e + "word_embeddings.weight", [vocab_size, H]), (e + "position_embeddings.weight", [P, H]),
           (e + "token_type_embeddings.weight", [2, H]), (e + "LayerNorm.weight", [H]), (e + "LayerNorm.bias", [H])]
    for i in range(shape["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for m in ("query", "key", "value"):
            out += [(p + f"attention.self.{m}.weight", [H, H]), (p + f"attention.self.{m}.bias", [H])]
        out += [(p + "attention.output.dense.weight", [H, H]), (p + "attention.output.dense.bias", [H]),
                (p + "attention.output.LayerNorm.weight", [H]), (p + "attention.output.LayerNorm.bias", [H]),
                (p + "intermediate.dense.weight", [I, H]), (p + "intermediate.dense.bias", [I]),
                (p + "output.dense.weight", [H, I]), (p + "output.dense.bias", [H]),
                (p + "output.LayerNorm.weight", [H]), (p + "output.LayerNorm.bias", [H])]
    out += [("bert.pooler.dense.weight", [H, H]), ("bert.pooler.dense.bias", [H]),
            ("classifier.weight", [1, H]), ("classifier.bias", [1])]
    return out


def write_bert_model(path, shape, lower, seed, index_buffers=False):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    vocab = bert_vocab(lower, BERT_TEXTS)
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    write_json(os.path.join(path, "config.json"), bert_config(shape, len(vocab)))
    for fname, obj in bert_tokenizer_files(lower, min(512, shape["max_position_embeddings"]), vocab).items():
        write_json(os.path.join(path, fname), obj)
    rng = np.random.default_rng(seed)
    weights = {}
    for name, dims in bert_tensor_shapes(shape, len(vocab)):
        mean, std = init_rule(name, dims)
        weights[name] = (mean + std * rng.standard_normal(dims)).astype(np.float32)
    buffers = index_buffer_entries("bert.", shape["max_position_embeddings"]) if index_buffers else ()
    write_safetensors(os.path.join(path, "model.safetensors"), weights, "F32", buffers=buffers)
    check_read_back(path, weights)


def bert_tokenizer_cases(tok, pairs):
    rows = [{"kind": "text", "text": t, "ids": tok.encode(t)}
            for t in dict.fromkeys(BERT_TEXTS + EXTRA_TEXTS + [p["document"] for p in pairs])]
    assert any(tok.unk in r["ids"] for r in rows) and any(len(r["ids"]) > 1 and r["text"].isalpha() for r in rows)
    for q, d in [("Héllo WÖRLD!", "北京大学很好。 naïve café"), ("what is panda?", "PANDA pandas " * 20),
                 ("[CLS] x [SEP]", "don't stop—believe…")]:
        for m in (3, 4, 7, 12, 512):
            ids, types = tok.encode_pair(q, d, m)
            rows.append({"kind": "pair", "query": q, "document": d, "max_length": m, "ids": ids, "type_ids": types})
    return rows


# --------------------------------------------------------------------------------------------------
# Malformed models: each a copy of tiny with one defect, and what the loader's error must name.
# --------------------------------------------------------------------------------------------------

def write_bad_models(bad_root, tiny_dir, weights, shape, vocab_size, bert_dir):
    if os.path.exists(bad_root):
        shutil.rmtree(bad_root)
    os.makedirs(bad_root)
    manifest = []
    ST = "model.safetensors"

    # kind: the Error kind the loader must give (a missing or unreadable file is "io" everywhere).
    def case(name, file, mentions=(), kind="model_format", source=tiny_dir):
        d = os.path.join(bad_root, name)
        shutil.copytree(source, d)
        manifest.append({"case": name, "file": file, "mentions": list(mentions), "kind": kind})
        return d

    def rewrite(d, entries_fn=None, header_fn=None):
        entries = model_entries(weights, "F32")
        if entries_fn:
            entries = entries_fn(entries)
        header, data = layout(entries)
        if header_fn:
            header_fn(header, len(data))
        write_safetensors_raw(os.path.join(d, ST), header, data)

    def replace_entry(entries, name, new):
        return [new if e[0] == name else e for e in entries]

    good_bytes = open(os.path.join(tiny_dir, ST), "rb").read()

    # File-level corruption.
    d = case("safetensors_truncated", ST)
    with open(os.path.join(d, ST), "wb") as f:
        f.write(good_bytes[:-1000])  # the data section cut short
    d = case("safetensors_header_past_eof", ST)
    with open(os.path.join(d, ST), "wb") as f:
        f.write(struct.pack("<Q", len(good_bytes) + 4096) + good_bytes[8:])
    d = case("safetensors_header_not_json", ST)
    (n,) = struct.unpack("<Q", good_bytes[:8])
    broken = (b'{"__metadata__":{"format":"pt"},"roberta.embeddings.word_embeddings.weight":{"dtype":"F32",'
              b'"shape":[1002 32]').ljust(n, b" ")
    with open(os.path.join(d, ST), "wb") as f:
        f.write(good_bytes[:8] + broken + good_bytes[8 + n:])
    d = case("safetensors_too_short", ST)
    with open(os.path.join(d, ST), "wb") as f:
        f.write(good_bytes[:5])

    # Tensors that do not fit the config.
    name = "roberta.encoder.layer.0.intermediate.dense.weight"  # [64, 32] stored transposed
    d = case("tensor_transposed", ST, [name])
    rewrite(d, lambda es: replace_entry(es, name, (name, "F32", [32, 64], to_bytes(weights[name].T, "F32"))))
    name = "roberta.encoder.layer.1.attention.self.query.weight"  # [32, 32] stored as [16, 32]
    d = case("tensor_wrong_size", ST, [name])
    rewrite(d, lambda es: replace_entry(es, name, (name, "F32", [16, 32], to_bytes(weights[name][:16], "F32"))))
    name = "roberta.encoder.layer.1.output.LayerNorm.bias"
    d = case("tensor_missing", ST, [name])
    rewrite(d, lambda es: [e for e in es if e[0] != name])
    name = "roberta.encoder.layer.0.attention.self.extra.weight"
    d = case("tensor_unexpected", ST, [name])
    rewrite(d, lambda es: sorted(es + [(name, "F32", [32, 32], to_bytes(weights[
        "roberta.encoder.layer.0.attention.self.query.weight"], "F32"))]))
    name = "classifier.out_proj.bias"
    d = case("tensor_dtype_i64", ST, [name, "I64", "float weight"])
    rewrite(d, lambda es: replace_entry(es, name, (name, "I64", [1], struct.pack("<q", 1))))

    # I64 index buffers (accepted when they say what the engine computes): anything else is refused.
    n_pos = shape["max_position_embeddings"]
    positions = "roberta.embeddings.position_ids"
    d = case("buffer_position_ids_not_arange", ST, [positions, "holds 7 at [0, 3]"])
    rewrite(d, lambda es: index_buffer_entries("roberta.", n_pos, [7 if i == 3 else i for i in range(n_pos)]) + es)
    d = case("buffer_position_ids_wrong_shape", ST, [positions, "[1, 512]", "[1, %d]" % n_pos])
    rewrite(d, lambda es: index_buffer_entries("roberta.", 512) + es)
    name = "roberta.embeddings.word_ids"
    d = case("buffer_i64_unexpected", ST, [name, "unexpected I64"])
    rewrite(d, lambda es: [(name, "I64", [2], struct.pack("<qq", 0, 1))] + es)

    def i64_wrapping_shape(header, data_size):
        # 2^61 x 1 I64 is 2^64 bytes: a 64-bit byte count wraps to 0, the span given here.
        begin = header[positions]["data_offsets"][0]
        header[positions]["shape"] = [2 ** 61, 1]
        header[positions]["data_offsets"] = [begin, begin]
    d = case("hostile_i64_shape_overflow", ST, [positions, "I64", "overflows"])
    rewrite(d, lambda es: [(positions, "I64", [0], b"")] + es, header_fn=i64_wrapping_shape)

    # data_offsets that do not describe the data.
    name = "classifier.dense.bias"  # [32] F32 = 128 bytes, given 124
    d = case("offsets_size_mismatch", ST, [name])
    rewrite(d, lambda es: replace_entry(es, name, (name, "F32", [32], to_bytes(weights[name], "F32")[:-4])))
    name = "roberta.embeddings.word_embeddings.weight"

    def past_end(header, data_size):
        b, e = header[name]["data_offsets"]
        header[name]["data_offsets"] = [data_size - (e - b) + 64, data_size + 64]
    d = case("offsets_out_of_range", ST, [name])
    rewrite(d, header_fn=past_end)

    def overlap(header, data_size):
        a, b = "roberta.encoder.layer.0.output.LayerNorm.bias", "roberta.encoder.layer.0.output.LayerNorm.weight"
        begin, end = header[a]["data_offsets"]
        header[b]["data_offsets"] = [begin + 16, end + 16]  # b starts inside a
    d = case("offsets_overlap", ST)
    rewrite(d, header_fn=overlap)

    # config.json.
    def edit_config(d, fn):
        path = os.path.join(d, "config.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        fn(config)
        write_json(path, config)

    d = case("config_bad_json", "config.json")
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(hf_config(shape, vocab_size), indent=2, sort_keys=True)[:-30] + "\n")
    d = case("config_model_type_bert", "config.json", ["model_type"])
    edit_config(d, lambda c: c.update(model_type="bert"))
    d = case("config_hidden_act_relu", "config.json", ["hidden_act"])
    edit_config(d, lambda c: c.update(hidden_act="relu"))
    d = case("config_missing_hidden_size", "config.json", ["hidden_size"])
    edit_config(d, lambda c: c.pop("hidden_size"))
    d = case("config_heads_not_dividing", "config.json", ["num_attention_heads"])
    edit_config(d, lambda c: c.update(num_attention_heads=5))  # 32 % 5 != 0
    d = case("config_architecture_unsupported", "config.json", ["architectures", "DebertaV2ForSequenceClassification"])
    edit_config(d, lambda c: c.update(architectures=["DebertaV2ForSequenceClassification"]))

    # Tokenizer files.
    d = case("tokenizer_json_bad_json", "tokenizer.json", ["not valid JSON"])
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write('{"added_tokens": [')
    d = case("tokenizer_config_bad_max_length", "tokenizer_config.json", ["model_max_length"])
    path = os.path.join(d, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        tc = json.load(f)
    tc["model_max_length"] = "long"
    write_json(path, tc)
    d = case("bert_vocab_missing", "vocab.txt", kind="io", source=bert_dir)
    os.remove(os.path.join(d, "vocab.txt"))
    d = case("bert_vocab_without_cls", "vocab.txt", ["[CLS]"], source=bert_dir)
    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join("[cls]" if t == "[CLS]" else t for t in lines))

    # Hostile files (issue 14): each once crashed, hung or served garbage.
    name = "roberta.embeddings.word_embeddings.weight"

    def wrapping_shape(header, data_size):
        # rows x hidden F32 is 2^64 bytes: a 64-bit byte count wraps to 0, the span given here.
        begin = header[name]["data_offsets"][0]
        header[name]["shape"] = [WRAPPING_ROWS, shape["hidden_size"]]
        header[name]["data_offsets"] = [begin, begin]
    WRAPPING_ROWS = 2 ** 64 // (4 * shape["hidden_size"])
    d = case("hostile_shape_overflow", ST, [name, "overflows"])
    rewrite(d, lambda es: replace_entry(es, name, (name, "F32", weights[name].shape, b"")), header_fn=wrapping_shape)
    # Tables the kernels index with int32 ids and positions: a config that declares more rows
    # (with a tensor header to match) is refused before any id could overflow.
    d = case("config_vocab_overflow", "config.json", ["vocab_size"])
    edit_config(d, lambda c: c.update(vocab_size=WRAPPING_ROWS))
    d = case("config_position_overflow", "config.json", ["max_position_embeddings"])
    edit_config(d, lambda c: c.update(max_position_embeddings=2 ** 31 + 1))
    name = "roberta.encoder.layer.1.attention.output.dense.weight"
    d = case("hostile_nan_weight", ST, [name, "NaN"])
    poisoned = weights[name].copy()
    poisoned[3, 5] = np.nan
    rewrite(d, lambda es: replace_entry(es, name, (name, "F32", list(poisoned.shape), to_bytes(poisoned, "F32"))))
    d = case("hostile_fifo", ST, ["not a regular file"], kind="io")
    os.remove(os.path.join(d, ST))
    os.mkfifo(os.path.join(d, ST))  # a reader that waits for a writer would hang here

    # More overflow and offset classes (issue 14's fault injection): arithmetic a loader could get
    # wrong, each refused with the tensor or field named.
    bias = "classifier.dense.bias"  # [32] F32, 128 bytes

    def offsets_near_2_64(header, data_size):
        header[bias]["data_offsets"] = [2 ** 64 - 129, 2 ** 64 - 1]  # the right span; begin + size wraps
    d = case("hostile_offsets_near_2_64", ST, [bias, "past the data section"])
    rewrite(d, header_fn=offsets_near_2_64)
    name = "roberta.encoder.layer.0.attention.self.key.weight"  # [32, 32]

    def product_overflow(header, data_size):
        header[name]["shape"] = [2 ** 33, 2 ** 31]  # 2^64 elements: each dim alone fits
    d = case("hostile_shape_product_overflow", ST, [name, "overflows"])
    rewrite(d, header_fn=product_overflow)

    def negative_dim(header, data_size):
        header[name]["shape"] = [-1, 32]
    d = case("hostile_negative_dim", ST, [name, "non-negative"])
    rewrite(d, header_fn=negative_dim)

    def three_offsets(header, data_size):
        header[name]["data_offsets"] = header[name]["data_offsets"] + [data_size]
    d = case("hostile_three_offsets", ST, [name, "data_offsets"])
    rewrite(d, header_fn=three_offsets)
    d = case("hostile_header_length_max", ST, ["header length"])
    with open(os.path.join(d, ST), "wb") as f:
        f.write(struct.pack("<Q", 2 ** 64 - 1) + good_bytes[8:])  # 8 + length wraps to 7
    d = case("hostile_empty_file", ST, ["truncated"])
    open(os.path.join(d, ST), "wb").close()

    # Files that are not there.
    d = case("shard_missing", "model-00002-of-00002.safetensors", ["missing"], kind="io")
    os.remove(os.path.join(d, ST))
    write_sharded(d, weights, "F32", shape, vocab_size)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    d = case("spm_missing", "sentencepiece.bpe.model", ["missing"], kind="io")
    os.remove(os.path.join(d, "sentencepiece.bpe.model"))
    d = case("spm_is_directory", "sentencepiece.bpe.model", ["not a regular file"], kind="io")
    os.remove(os.path.join(d, "sentencepiece.bpe.model"))
    os.mkdir(os.path.join(d, "sentencepiece.bpe.model"))

    write_json(os.path.join(bad_root, "manifest.json"), manifest)
    return manifest


def check_bad_models_rejected(bad_root, manifest):
    """The reference's own reader rejects every safetensors defect it is meant to (a check on the
    generator: each case really is broken). Tensor-set and config defects are the loader's job."""
    for entry in manifest:
        if not entry["case"].startswith(("safetensors_", "offsets_", "tensor_dtype")):
            continue
        try:
            reference.read_model_weights(os.path.join(bad_root, entry["case"]))
        except (reference.SafetensorsError, KeyError, ValueError):
            continue
        raise AssertionError(f"bad case {entry['case']} reads without error")


# --------------------------------------------------------------------------------------------------
# Tokenizer cases
# --------------------------------------------------------------------------------------------------

EXTRA_TEXTS = [
    "", " ", "   ", "  \t ", "\n", "a", "A", "hello world", "hello  world", " hello world ",
    "what is panda?", "The giant panda is a bear species endemic to China.",
    "panda panda panda panda", "PANDA", "Pandas", "pandas.", "bamboo-eating", "don't", "e-mail",
    "12345", "3.14159", "2023-11-05", "$1,299.99", "+1 (555) 010-9999", "100%", "a\u00a0b",
    "熊猫", "大熊猫是一种熊。", "パンダ", "こんにちは世界", "Привет, мир!", "مرحبا بالعالم", "नमस्ते दुनिया",
    "🐼", "🐼🐼", "I ❤️ pandas", "👍🏽", "🇨🇳",
    "안녕하세요", "ქართული", "สวัสดี", "∮", "ꙮ", "🦒",
    "ＦＵＬＬＷＩＤＴＨ", "ﬁ", "①②③", "café", "cafe\u0301", "a\u200bb", "x\u0000y", "\u3000全角スペース\u3000",
    "Tab\tseparated\tvalues", "line one\nline two\r\nline three",
    "<tag> & \"quotes\" 'single' `back`", "\\ / | ~ ^ _ {} []",
    # Special tokens written in the text: their own ids, at the places Hugging Face puts them.
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "a <s> b", "a<s>b", "<html><s>old</s> new</html>",
    "hello <mask> world", "hello<mask>world", "hello   <mask>", "  <mask>  x", "\t<mask>\u3000<mask>",
    "<pad><unk></s></s>", "<<s>>", "<s/> < s> <S>", "<mask><mask>", "<mas k> <mask", "x </s>y",
    "<doc/> is only special in small",
]

# Texts only the `small` model's files give an extra added token in (SMALL_EXTRA_TOKEN, rstrip).
SMALL_ADDED_TEXTS = ["<doc/>", "a <doc/>  b", "<doc/><doc/>x", "<s><doc/> </s>", "x<doc/>\ty <mask>"]

# BertTokenizer's rules at work: case, accents, CJK, punctuation, controls, whitespace, long words.
BERT_TEXTS = [
    "Héllo WÖRLD!", "naïve café résumé", "cafe\u0301 vs café", "Straße", "ΣΊΣΥΦΟΣ", "İstanbul",
    "北京大学很好。", "日本語のテキスト", "熊猫吃竹子", "don't stop—believe…", "$100 & 50% off!!", "U.S.A. 3.14",
    "a\u00adb soft hyphen", "x\u200by", "tab\tand\nnewline\r\nend", "hello\u2028world", "ctrl\u0007bell\u0000nul",
    "emoji 🐼 here", "Ｆｕｌｌｗｉｄｔｈ", "a" * 101, "b" * 100, "PANDA pandas Pandas", "[CLS] inside [SEP] text [MASK]",
    "[cls] lower [Sep]", "<s> not special here", "  leading and trailing  ", "",
]


def tokenizer_cases(tok, pairs):
    rows, seen = [], set()
    texts = EXTRA_TEXTS + [p["query"] for p in pairs] + [p["document"] for p in pairs]
    assert any(i == tok.mask_id for t in EXTRA_TEXTS for i in tok.encode(t)), "no test text gives <mask>"
    for text in texts:
        if text in seen:
            continue
        seen.add(text)
        rows.append({"kind": "text", "text": text, "ids": tok.encode(text)})

    pair_texts = [
        ("what is panda?", "The giant panda is a bear species endemic to China."),
        ("The giant panda is a bear species endemic to China.", "what is panda?"),
        ("The giant panda is a bear species endemic to China.", "The giant panda is a bear species endemic to China."),
        ("熊猫是什么动物？", "大熊猫是一种熊，主要生活在中国西南部的山区森林里。"),
        ("Что такое панда?", "Гигантская панда живёт в горных лесах центрального Китая."),
        ("", "The giant panda is a bear species endemic to China."),
        ("Tell me everything about the giant panda, its food and its home.", ""),
        ("a", "b"),
        ("🐼", "I love pandas 🐼 and bamboo 🎍!"),
        ("what is panda? 🦒 안녕", "The giant panda 🦘 is a bear ⟁ species endemic to China ꧁꧂."),
        max(((p["query"], p["document"]) for p in pairs), key=lambda qd: min(map(len, qd))),  # both long
    ]
    max_lengths = [4, 5, 8, 9, 16, 17, 33, 64, 512]
    counts = {}
    for q, d in pair_texts:
        a, b = tok.encode(q), tok.encode(d)
        for m in max_lengths:
            ids = tok.assemble_pair(a, b, m)
            ids_slow = tok.assemble_pair(a, b, m, "slow")
            ids_fast = tok.assemble_pair(a, b, m, "fast")
            nq = ids.index(reference.EOS) - 1
            nd = len(ids) - nq - 4
            kind = ("none" if (nq, nd) == (len(a), len(b)) else
                    "document" if nq == len(a) else "query" if nd == len(b) else
                    f"both-{'odd' if (m - 4) % 2 else 'even'}")
            counts[kind] = counts.get(kind, 0) + 1
            counts["slow!=fast"] = counts.get("slow!=fast", 0) + (ids_slow != ids_fast)
            rows.append({"kind": "pair", "query": q, "document": d, "max_length": m, "case": kind,
                         "ids": ids, "ids_slow": ids_slow, "ids_fast": ids_fast})
    for kind in ("none", "document", "query", "both-odd", "both-even", "slow!=fast"):
        assert counts.get(kind), f"no tokenizer pair case of kind {kind}: {counts}"
    return rows, counts


def chunk_cases(model, pairs, corpus):
    """Long documents scored by windows (max_chunks_per_doc / max_tokens_per_doc / overlap) and
    pairs cut by FlagEmbedding's rule, each with the reference's best window and logits."""
    long_doc = " ".join(corpus[:30])
    cjk = "大熊猫是一种熊，主要生活在中国西南部的山区森林里。" * 12  # no spaces: the prefix cut is inside text
    long_query = " ".join(corpus[40:44])
    short_query = "where do giant pandas live?"
    n = lambda text: len(model.tokenizer.encode(text))
    cases = [  # (query, document, max_length, truncation, chunking)
        (short_query, long_doc, 64, "fast", dict(max_chunks=3)),
        (short_query, long_doc, 64, "fast", dict(max_chunks=None, max_tokens=200, overlap=8)),
        (short_query, long_doc, 64, "fast", dict(max_chunks=100, overlap=5)),
        (short_query, long_doc, 64, "fast", dict(max_chunks=1, max_tokens=20)),
        (short_query, corpus[3], 64, "fast", dict(max_chunks=5)),
        (short_query, cjk, 48, "fast", dict(max_chunks=4, overlap=3)),
        (long_query, long_doc, 64, "fast", dict(max_chunks=6)),
        (long_query, long_doc, 64, "flagembedding", dict(max_chunks=6, overlap=2)),
        (short_query, long_doc, 64, "flagembedding", dict(max_chunks=None, max_tokens=150)),
    ]
    for m in (16, 17, 33, 64, 512):  # FlagEmbedding's rule on its own: long queries and documents
        for q, d in ((long_query, long_doc), (long_query, corpus[5]), (short_query, long_doc),
                     max(((p["query"], p["document"]) for p in pairs), key=lambda qd: min(map(len, qd)))):
            cases.append((q, d, m, "flagembedding", dict(max_chunks=1)))
    rows = [model.score_chunked(q, d, m, t, **c) for q, d, m, t, c in cases]
    assert n(long_query) > 64 * 3 // 4 and any(r["count"] > 3 for r in rows)
    differ = sum(r["ids"][0] != model.tokenizer.encode_pair(r["query"], r["document"], r["max_length"])
                 for r in rows if r["truncation"] == "flagembedding" and r["count"] == 1)
    assert differ >= 4, f"only {differ} FlagEmbedding pairs differ from longest_first"
    return rows, differ


def self_test():
    """The two longest_first variants against the cases of their own projects' unit tests, and the
    BF16 rounding against hand-worked values."""
    for (n1, n2), slow, fast in [((0, 0), (0, 0), (0, 0)), ((0, 8), (0, 7), (0, 7)), ((2, 8), (2, 5), (2, 5)),
                                 ((4, 4), (4, 3), (3, 4)), ((4, 8), (4, 3), (3, 4)), ((8, 2), (5, 2), (5, 2)),
                                 ((8, 4), (4, 3), (4, 3)), ((8, 8), (4, 3), (3, 4)), ((2, 2), (2, 2), (2, 2))]:
        a, b = list(range(n1)), list(range(100, 100 + n2))
        got_slow = reference.truncate_longest_first_slow(a, b, n1 + n2 - 7)
        got_fast = reference.truncate_longest_first_fast(a, b, 7)
        assert tuple(map(len, got_slow)) == slow, ((n1, n2), got_slow)
        assert tuple(map(len, got_fast)) == fast, ((n1, n2), got_fast)
    values = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 1 + 2 ** -8 + 2 ** -20, 3.0e38], dtype=np.float32)
    bits = reference.float32_to_bf16_bits(values)
    assert list(bits) == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x3F81, 0x7F62], [hex(b) for b in bits]


# --------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description="Build rerankd's test models and expected outputs.")
    parser.add_argument("outdir")
    parser.add_argument("--bge-shaped", action="store_true",
                        help="also write models/bge-shaped (bge-reranker-v2-m3's shape, ~2.3 GB; benchmarks only)")
    parser.add_argument("--mid-shaped", action="store_true",
                        help="also write models/mid-shaped (bge's layout, 6 layers, hidden 384, ~0.4 GB; benchmarks only)")
    parser.add_argument("--qwen3-shaped", action="store_true",
                        help="also write models/qwen3-0.6b-shaped (Qwen3-Reranker-0.6B's shape, random; benchmarks only)")
    parser.add_argument("--shaped-dtype", choices=("float32", "float16"), default="float32",
                        help="how the shaped models store their weights (float16: half the bytes, written faster; "
                             "the Qwen3-shaped model then in BF16, as its checkpoints ship)")
    parser.add_argument("--shaped-only", action="store_true",
                        help="write only the shaped models, with OUTDIR/spm/sentencepiece.bpe.model as it is: numpy "
                             "alone, no spm_train (the GPU machine of scripts/gpu-check.sh has none)")
    args = parser.parse_args()
    t0 = time.time()
    out = os.path.abspath(args.outdir)
    if args.shaped_only:
        spm_path = os.path.join(out, "spm", "sentencepiece.bpe.model")
        if not os.path.isfile(spm_path):
            raise SystemExit(f"--shaped-only needs {spm_path} (from an earlier full run)")
        write_shaped(out, spm_path, args)
        print(f"done in {time.time() - t0:.1f} s: {out}")
        return
    self_test()

    for sub in ("spm", "expected"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    spm_path = os.path.join(out, "spm", "sentencepiece.bpe.model")
    train_spm(spm_path)
    tok = reference.XlmrTokenizer(spm_path)
    vocab_size = tok.piece_count + 2  # fairseq: <s> <pad> </s> <unk>, pieces from id 4, <mask> last
    pairs = reference.read_pairs(os.path.join(DATA, "pairs.jsonl"))

    # The CUDA backend's memory plan for bge-reranker-v2-m3 at a 16k-token budget, 1024 pairs and
    # 512-token pairs (the server's defaults but the budget), in each precision's element size.
    bge_tensors = tensor_shapes(BGE_SHAPE, BGE_SHAPE["vocab_size"])
    write_json(os.path.join(out, "expected", "cuda-memory.json"),
               {"tokens": 16384, "pairs": 1024, "max_length": 512,
                **{name: cuda_memory.plan(bge_tensors, BGE_SHAPE["hidden_size"], BGE_SHAPE["intermediate_size"],
                                          BGE_SHAPE["num_attention_heads"], 1, 16384, 1024, 512, narrow)
                   for name, narrow in (("float16", 2), ("float32", 4))}})

    # Good models.
    tiny = random_weights(MODELS["tiny"], vocab_size, SEED)
    small = random_weights(MODELS["small"], vocab_size, SEED + 1)
    written = {}
    for name, shape, weights, dtype in [("tiny", MODELS["tiny"], tiny, "F32"), ("tiny-f16", MODELS["tiny"], tiny, "F16"),
                                        ("tiny-bf16", MODELS["tiny"], tiny, "BF16"),
                                        ("small", MODELS["small"], small, "F32"),
                                        ("tiny-i64", MODELS["tiny"], tiny, "F32")]:
        d = os.path.join(out, "models", name)
        max_len = min(512, shape["max_position_embeddings"] - 2)
        write_model_dir(d, shape, vocab_size, spm_path, model_max_length=max_len, dtype=dtype,
                        extra_token=SMALL_EXTRA_TOKEN if name == "small" else None)
        if name == "small":
            write_sharded(d, weights, dtype, shape, vocab_size)
        else:
            buffers = index_buffer_entries("roberta.", shape["max_position_embeddings"]) if name == "tiny-i64" else ()
            write_safetensors(os.path.join(d, "model.safetensors"), weights, dtype, buffers=buffers)
        check_read_back(d, rounded(weights, dtype))
        written[name] = d

    # Expected outputs of the float64 reference, read back from the files just written.
    spreads = {}
    for name, d in written.items():
        model = reference.Reranker(d)
        rows = model.score_pairs(pairs)
        write_jsonl(os.path.join(out, "expected", name + ".jsonl"), rows)
        other = {"slow": "fast", "fast": "slow"}[reference.DEFAULT_TRUNCATION]
        assert all(model.tokenizer.encode_pair(r["query"], r["document"], r["max_length"], other) == r["ids"]
                   for r in rows), f"{name}: slow and fast longest_first differ on a test pair"
        logits = np.array([r["logit"] for r in rows])
        truncated = sum(len(r["ids"]) == r["max_length"] for r in rows)
        spreads[name] = (logits.min(), logits.max(), logits.std(), truncated, len(rows))
        print(f"{name:10s} logits {logits.min():+.4f} .. {logits.max():+.4f}  std {logits.std():.4f}  "
              f"{truncated}/{len(rows)} pairs at max_length {rows[0]['max_length']}")
    lo = {n: np.array([json.loads(l)["logit"] for l in open(os.path.join(out, "expected", n + ".jsonl"))])
          for n in ("tiny", "tiny-f16", "tiny-bf16")}
    print(f"weight rounding moves tiny's logits by up to {np.abs(lo['tiny-f16'] - lo['tiny']).max():.2e} (F16), "
          f"{np.abs(lo['tiny-bf16'] - lo['tiny']).max():.2e} (BF16)")

    # A ranking set: many documents per query, so reduced precision can be judged on orderings.
    queries = list(dict.fromkeys(p["query"] for p in pairs))[:8]
    corpus = [line.strip() for line in open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") if line.strip()]
    ranking_pairs = [{"query": q, "document": corpus[(qi * 37 + k * 11) % len(corpus)]}
                     for qi, q in enumerate(queries) for k in range(24)]
    for name in ("tiny", "small"):
        write_jsonl(os.path.join(out, "expected", f"ranking-{name}.jsonl"),
                    reference.Reranker(written[name]).score_pairs(ranking_pairs))
    # The same sets through a float64 simulation of the int8 scheme: with the engine's 8-bit
    # weights, which it must reproduce closely whatever the scheme's own error against the exact
    # model, and with 7-bit weights, a near miss the test must tell apart from it.
    for name in ("tiny", "small"):
        for weight_range in (127, 63):
            simulated = reference.Reranker(written[name], int8_weight_range=weight_range)
            write_jsonl(os.path.join(out, "expected", f"ranking-{name}-int8-w{weight_range}.jsonl"),
                        simulated.score_pairs(ranking_pairs))
    print(f"ranking    {len(queries)} queries x 24 documents (tiny, small), exact and simulated int8")

    rows, differ = chunk_cases(reference.Reranker(written["tiny"]), pairs, corpus)
    write_jsonl(os.path.join(out, "expected", "chunks-tiny.jsonl"), rows)
    print(f"chunks     {len(rows)} documents by windows or FlagEmbedding's rule ({differ} pairs where it and "
          f"longest_first differ)")

    tiny_tok = reference.XlmrTokenizer.from_model_dir(written["tiny"])
    assert all(tiny_tok.encode(t) == tok.encode(t) for t in EXTRA_TEXTS), "tiny's files disagree with the defaults"
    rows, counts = tokenizer_cases(tiny_tok, pairs)
    write_jsonl(os.path.join(out, "expected", "tokenizer.jsonl"), rows)
    print(f"tokenizer  {sum(r['kind'] == 'text' for r in rows)} texts, {sum(r['kind'] == 'pair' for r in rows)} "
          f"pairs {dict(sorted(counts.items()))}; ids follow the {reference.DEFAULT_TRUNCATION} tokenizer's "
          f"longest_first (ids_slow, ids_fast: both)")

    # Added tokens the `small` model's files alone list, and special tokens inside scored pairs.
    small_tok = reference.XlmrTokenizer.from_model_dir(written["small"])
    write_jsonl(os.path.join(out, "expected", "tokenizer-small.jsonl"),
                [{"kind": "text", "text": t, "ids": small_tok.encode(t)} for t in SMALL_ADDED_TEXTS])
    assert small_tok.encode("<doc/>") == [SMALL_EXTRA_TOKEN[0]] != tiny_tok.encode("<doc/>")
    special_pairs = reference.read_pairs(os.path.join(DATA, "special_pairs.jsonl"))

    # BERT cross-encoders.
    bert_pairs = pairs + [{"query": q, "document": t} for q in ("What is the panda?", "Héllo WÖRLD")
                          for t in BERT_TEXTS if t]
    for i, (name, (shape, lower)) in enumerate(BERT_MODELS.items()):
        d = os.path.join(out, "models", name)
        write_bert_model(d, shape, lower, SEED + 10 + i)
        written[name] = d
        model = reference.Reranker(d)
        rows = model.score_pairs(bert_pairs)
        write_jsonl(os.path.join(out, "expected", name + ".jsonl"), rows)
        write_jsonl(os.path.join(out, "expected", f"tokenizer-{name}.jsonl"), bert_tokenizer_cases(model.tokenizer, pairs))
        logits = np.array([r["logit"] for r in rows])
        truncated = sum(len(r["ids"]) == r["max_length"] for r in rows)
        print(f"{name:10s} logits {logits.min():+.4f} .. {logits.max():+.4f}  std {logits.std():.4f}  "
              f"{truncated}/{len(rows)} pairs at max_length {rows[0]['max_length']}; vocab {len(model.tokenizer.vocab)}")
    # The buffers are ignored by the reference as by transformers: the same logits, bit for bit.
    d = os.path.join(out, "models", "bert-tiny-i64")
    write_bert_model(d, BERT_MODELS["bert-tiny"][0], BERT_MODELS["bert-tiny"][1], SEED + 10, index_buffers=True)
    write_jsonl(os.path.join(out, "expected", "bert-tiny-i64.jsonl"), reference.Reranker(d).score_pairs(bert_pairs))
    for name in ("tiny", "bert-tiny"):
        with_buffers = [json.loads(l) for l in open(os.path.join(out, "expected", name + "-i64.jsonl"))]
        without = [json.loads(l) for l in open(os.path.join(out, "expected", name + ".jsonl"))]
        assert with_buffers == without, f"{name}-i64 scores unlike {name}"
    print("i64        tiny-i64, bert-tiny-i64: I64 position_ids/token_type_ids buffers, same logits as without")
    for name in ("tiny", "small", "bert-tiny", "bert-cased"):
        write_jsonl(os.path.join(out, "expected", f"special-{name}.jsonl"),
                    reference.Reranker(written[name]).score_pairs(special_pairs))
    print(f"special    {len(special_pairs)} pairs with special tokens in their texts (tiny, small, bert-tiny, bert-cased)")

    manifest = write_bad_models(os.path.join(out, "bad"), written["tiny"], tiny, MODELS["tiny"], vocab_size,
                                written["bert-tiny"])
    check_bad_models_rejected(os.path.join(out, "bad"), manifest)
    print(f"bad        {len(manifest)} malformed model directories")

    # The decoder-LLM rerankers (Qwen3, Qwen2/mxbai, Gemma): decoder_models.py.
    decoder_models.build_all(out)

    write_shaped(out, spm_path, args)
    print(f"done in {time.time() - t0:.1f} s: {out}")


def write_shaped(out, spm_path, args):
    dtype = {"float32": "F32", "float16": "F16"}[args.shaped_dtype]
    if args.bge_shaped:
        t1 = time.time()
        nbytes = write_bge_shaped(os.path.join(out, "models", "bge-shaped"), spm_path, SEED + 2, dtype=dtype)
        print(f"bge-shaped {nbytes / 1e9:.2f} GB of {dtype} weights in {time.time() - t1:.1f} s")
    if args.mid_shaped:
        nbytes = write_bge_shaped(os.path.join(out, "models", "mid-shaped"), spm_path, SEED + 3, MID_SHAPE, dtype)
        print(f"mid-shaped {nbytes / 1e9:.2f} GB of {dtype} weights")
    if args.qwen3_shaped:
        t1 = time.time()
        decoder_models.build_shaped(out, dtype={"float32": "F32", "float16": "BF16"}[args.shaped_dtype])
        print(f"qwen3-0.6b-shaped in {time.time() - t1:.1f} s")


if __name__ == "__main__":
    main()
