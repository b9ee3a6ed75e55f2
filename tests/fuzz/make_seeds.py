#!/usr/bin/python3
"""Writes the fuzzers' committed seed corpus (tests/fuzz/corpus/<fuzzer>/) from the test suite's
inputs: a micro model in the loader's input format with the hostile classes of the bad/ models,
pairs from tests/data/pairs.jsonl, the request bodies and raw HTTP of the server tests, and the
inputs that long runs found. Standard library only; run it again after changing an input format
or adding a found input:  python3 tests/fuzz/make_seeds.py  (an argument: another output folder;
the fuzz.seeds test writes one and compares it with the committed corpus)."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def write(fuzzer, name, data):
    d = os.path.join(OUT, fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- fuzz_model: 2-byte config length, config.json, model.safetensors -----------------------------
H, I, V, P, LAYERS = 4, 8, 6, 8, 1
CONFIG = {"architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta",
          "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": 1, "intermediate_size": I,
          "vocab_size": V, "max_position_embeddings": P, "type_vocab_size": 1, "pad_token_id": 1,
          "layer_norm_eps": 1e-5, "hidden_act": "gelu", "id2label": {"0": "LABEL_0"}}


def micro_tensors():
    t = {"roberta.embeddings.word_embeddings.weight": [V, H],
         "roberta.embeddings.position_embeddings.weight": [P, H],
         "roberta.embeddings.token_type_embeddings.weight": [1, H],
         "roberta.embeddings.LayerNorm.weight": [H], "roberta.embeddings.LayerNorm.bias": [H],
         "classifier.dense.weight": [H, H], "classifier.dense.bias": [H],
         "classifier.out_proj.weight": [1, H], "classifier.out_proj.bias": [1]}
    for i in range(LAYERS):
        p = f"roberta.encoder.layer.{i}."
        for w in ("query", "key", "value"):
            t[p + f"attention.self.{w}.weight"], t[p + f"attention.self.{w}.bias"] = [H, H], [H]
        t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = [H, H], [H]
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = [I, H], [I]
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = [H, I], [H]
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"], t[p + n + ".bias"] = [H], [H]
    return t


def safetensors(tensors, edit=None):
    header, data = {}, b""
    for name, shape in sorted(tensors.items()):
        count = 1
        for d in shape:
            count *= d
        blob = struct.pack(f"<{count}f", *[0.01 * (k % 7) for k in range(count)])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if edit:
        edit(header, len(data))
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def model_input(config, st):
    text = json.dumps(config, separators=(",", ":")).encode()
    return struct.pack("<H", len(text)) + text + st


def with_config(**changes):
    return dict(CONFIG, **changes)


def set_entry(name, **fields):
    def edit(header, data_size):
        header[name].update(fields)
    return edit


WORD = "roberta.embeddings.word_embeddings.weight"
write("fuzz_model", "micro", model_input(CONFIG, safetensors(micro_tensors())))
wrap_rows = 2 ** 64 // (4 * H)  # rows x H x 4 bytes wraps a 64-bit count to 0
write("fuzz_model", "shape_overflow", model_input(with_config(vocab_size=wrap_rows),
      safetensors(micro_tensors(), set_entry(WORD, shape=[wrap_rows, H], data_offsets=[0, 0]))))
write("fuzz_model", "offsets_past_end", model_input(CONFIG, safetensors(
    micro_tensors(), lambda h, n: h[WORD].update(data_offsets=[n - 96 + 64, n + 64]))))
write("fuzz_model", "offsets_huge", model_input(CONFIG, safetensors(
    micro_tensors(), set_entry(WORD, data_offsets=[2 ** 64 - 96, 2 ** 64 - 1]))))
write("fuzz_model", "dtype_i64", model_input(CONFIG, safetensors(micro_tensors(), set_entry(WORD, dtype="I64"))))
write("fuzz_model", "header_past_eof", model_input(CONFIG, struct.pack("<Q", 2 ** 63) + b"{}"))
write("fuzz_model", "positions_small", model_input(with_config(max_position_embeddings=3), safetensors(micro_tensors())))
write("fuzz_model", "pad_negative", model_input(with_config(pad_token_id=-1), safetensors(micro_tensors())))

# --- fuzz_tokenizer: max_length/side byte, split byte, query + document ----------------------------
with open(os.path.join(ROOT, "tests", "data", "pairs.jsonl"), encoding="utf-8") as f:
    pairs = [json.loads(line) for line in f if line.strip()]
for k, pair in enumerate(pairs[::9]):
    q, d = pair["query"].encode(), pair["document"].encode()
    write("fuzz_tokenizer", f"pair{k}", bytes([(k * 37) % 256, min(len(q), 255)]) + q[:255] + d)
write("fuzz_tokenizer", "invalid_utf8", b"\x08\x03\xff\xfe\xc3(\xe2\x82abc\xf0\x9f\x98")
write("fuzz_tokenizer", "nul_and_controls", b"\x11\x02a\x00b\x01\r\n\t \xe2\x80\x8b")

# --- fuzz_rerank_api: parser byte (0 TEI/plain, 1 Cohere, 2 X-Request-Id, 3 Authorization) + text -
bodies = {
    "tei": (0, {"query": "what is panda?", "texts": ["hi", "The giant panda is a bear."], "return_text": True,
                "raw_scores": False, "truncate": True, "truncation_direction": "Left"}),
    "plain": (0, {"query": "what is panda?", "documents": ["a", "b", "c"], "raw_scores": True}),
    "cohere": (1, {"model": "bge", "query": "q", "documents": ["x", {"text": "y"}], "top_n": 1,
                   "return_documents": True}),
    "cohere_big_top_n": (1, {"query": "q", "documents": ["x"], "top_n": 2 ** 64 - 1}),
}
for name, (which, body) in bodies.items():
    write("fuzz_rerank_api", name, bytes([which]) + json.dumps(body).encode())
write("fuzz_rerank_api", "surrogate", b'\x00{"query": "\\ud800", "texts": ["\\udc00x"]}')
write("fuzz_rerank_api", "request_id", b"\x02client-id-42")
write("fuzz_rerank_api", "bearer", b"\x03Bearer fuzz-key-1\n")

# --- fuzz_http: one connection's bytes ---------------------------------------------------------------
http = {
    "post": b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "get_keepalive_pipelined": b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\n\r\n",
    "chunked_extension_trailer": b"POST /rerank HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"2;ext=val\r\n{}\r\n0\r\nX-Trailer: t\r\n\r\n",
    "expect_continue": b"POST /rerank HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "head": b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "no_host": b"GET / HTTP/1.1\r\n\r\n",
    "too_large": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "request_id": b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\nConnection: close\r\n\r\n",
}
for name, raw in http.items():
    write("fuzz_http", name, raw)
# Found by long runs (docs/development.md, "Fuzzing"): the harness's late count, kept as seeds.
write("fuzz_http", "late_count_1", b"PKST /)eranN5boost4a4typeid_wrapperINS1_9schedulerEEEk HTTP/2ST /)erank HTTP/1.1\r\n"
                                   b"Host: x\r\nTransfer-Encoding: chunked\r\n0\r*X-Traile\r\rt\nr :\x02")
write("fuzz_http", "late_count_2", b"GEP /h\xa3\x9e\x93\x8bh HTTP/1.1\r\nHost: x\r\n\r\nHUoEst: x\r\n\r\nGE\nGETVTT*\r\n")
