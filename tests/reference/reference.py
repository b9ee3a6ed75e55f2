#!/usr/bin/python3
"""Independent float64 reference for cross-encoder rerankers: XLM-RoBERTa (bge-reranker-v2-m3 family)
and BERT (the ms-marco MiniLM cross-encoders).

Written from Hugging Face's semantics of `XLMRobertaTokenizer` (the slow, sentencepiece-based
tokenizer), `BertTokenizer` (BasicTokenizer + WordPiece), `XLMRobertaForSequenceClassification` and
`BertForSequenceClassification`, without looking at rerankd's C++ code, so the engine can be tested
against it. Needs only numpy and the `sentencepiece` Python module (Debian's /usr/bin/python3 has
both). Speed does not matter here; clarity and float64 do.

As a module:
    model = Reranker("path/to/model_dir")
    ids = model.tokenizer.encode_pair(query, document, max_length=512)
    logit = model.logit(ids)

As a command (one JSON line per pair, in order):
    reference.py MODEL_DIR --pairs pairs.jsonl [--max-length N] [--truncation slow|fast]
"""
import argparse
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np

# --------------------------------------------------------------------------------------------------
# safetensors
#
# File layout: u64 little-endian N, then N bytes of JSON header mapping tensor names to
# {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the header),
# plus an optional "__metadata__" of string -> string; then the raw little-endian tensor bytes.
# --------------------------------------------------------------------------------------------------

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8}
# The embeddings' registered buffers that older transformers saved into checkpoints as I64 and that
# transformers now ignores when it loads one (_keys_to_ignore_on_load_unexpected): never weights.
INDEX_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


class SafetensorsError(ValueError):
    pass


def bf16_bits_to_float32(bits):
    """bfloat16 is the upper half of a float32: widen by shifting the 16 bits back up."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16_bits(values):
    """Round float32 values to bfloat16 (round to nearest, ties to even) and return the 16-bit words."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    if np.isnan(values).any():
        raise ValueError("NaN weights")
    rounding = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding) >> 16).astype(np.uint16)


def read_safetensors_header(path):
    """Parse and validate the header of one .safetensors file. Returns (header dict, data offset)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", prefix)
        if 8 + n > size:
            raise SafetensorsError(f"{path}: header length {n} runs past the end of the file ({size} bytes)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    data_size = size - 8 - n
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise SafetensorsError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        nbytes = DTYPE_SIZES[dtype] * int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= data_size):
            raise SafetensorsError(f"{path}: tensor {name} data_offsets [{begin}, {end}] outside the data ({data_size} bytes)")
        if end - begin != nbytes:
            raise SafetensorsError(f"{path}: tensor {name} data_offsets span {end - begin} bytes, shape {shape} {dtype} needs {nbytes}")
        spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{path}: tensors {n0} and {n1} overlap")
    return header, 8 + n


def read_safetensors(path, buffers=None):
    """All tensors of one .safetensors file as float64 numpy arrays (F32, F16, BF16 or F64). I64
    index buffers (INDEX_BUFFERS) are left out, their names added to `buffers` when given; any other
    I64 tensor is an error."""
    header, data_start = read_safetensors_header(path)
    with open(path, "rb") as f:
        f.seek(data_start)
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = data[begin:end]
        dtype = info["dtype"]
        if dtype == "I64":
            if not name.endswith(INDEX_BUFFERS):
                raise SafetensorsError(f"{path}: tensor {name} is I64, not a float weight")
            if buffers is not None:
                buffers.add(name)
            continue
        if dtype == "BF16":
            values = bf16_bits_to_float32(np.frombuffer(buf, dtype="<u2"))
        else:
            values = np.frombuffer(buf, dtype={"F64": "<f8", "F32": "<f4", "F16": "<f2"}[dtype])
        tensors[name] = values.astype(np.float64).reshape(info["shape"])
    return tensors


def read_model_weights(model_dir):
    """The model's tensors: model.safetensors, or the shards listed in model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(index, encoding="utf-8") as f:
        weight_map = json.load(f)["weight_map"]
    tensors, buffers = {}, set()
    for shard in sorted(set(weight_map.values())):
        for name, value in read_safetensors(os.path.join(model_dir, shard), buffers).items():
            if weight_map.get(name) != shard:
                raise SafetensorsError(f"{shard}: tensor {name} not listed for this shard in the index")
            tensors[name] = value
    missing = set(weight_map) - set(tensors) - buffers
    if missing:
        raise SafetensorsError(f"{index}: tensors listed but not found: {sorted(missing)}")
    return tensors


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------------
# Added tokens (special tokens written in a text)
#
# Hugging Face cuts its added tokens (<s>, </s>, [SEP], ...) out of a text before the sub-word model
# sees it: at each position the longest token that starts there, the leftmost position first; a
# token marked lstrip (XLM-R's <mask>) also takes the whitespace before it, rstrip the whitespace
# after it. The pieces between are tokenized on their own. The tokens and their ids come from
# tokenizer.json's "added_tokens", else tokenizer_config.json's "added_tokens_decoder", else the
# tokenizer class's defaults (with special_tokens_map.json's flags). model_max_length and
# tokenizer.json's truncation.max_length cap the pair length (1e30 means "no limit").
# --------------------------------------------------------------------------------------------------

class AddedToken:
    def __init__(self, content, id, lstrip=False, rstrip=False):
        self.content, self.id, self.lstrip, self.rstrip = content, id, lstrip, rstrip


def _read_json(model_dir, name):
    path = os.path.join(model_dir, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_added_tokens(model_dir):
    """[AddedToken] with ids as the files list them, or None when no file does."""
    tok = _read_json(model_dir, "tokenizer.json")
    if tok and tok.get("added_tokens"):
        return [AddedToken(t["content"], t["id"], t.get("lstrip", False), t.get("rstrip", False))
                for t in tok["added_tokens"]]
    cfg = _read_json(model_dir, "tokenizer_config.json")
    if cfg and cfg.get("added_tokens_decoder"):
        return [AddedToken(t["content"], int(i), t.get("lstrip", False), t.get("rstrip", False))
                for i, t in cfg["added_tokens_decoder"].items()]
    return None


def special_token_flags(model_dir):
    """{content: (lstrip, rstrip)} from special_tokens_map.json."""
    flags = {}
    for value in (_read_json(model_dir, "special_tokens_map.json") or {}).values():
        for t in value if isinstance(value, list) else [value]:
            if isinstance(t, dict):
                flags[t["content"]] = (t.get("lstrip", False), t.get("rstrip", False))
    return flags


def tokenizer_max_length(model_dir):
    """The pair-length cap the tokenizer files set, or None."""
    caps = []
    cfg = _read_json(model_dir, "tokenizer_config.json") or {}
    if cfg.get("model_max_length") is not None and cfg["model_max_length"] < 1e15:
        caps.append(int(cfg["model_max_length"]))
    tok = _read_json(model_dir, "tokenizer.json") or {}
    if tok.get("truncation") and tok["truncation"].get("max_length") is not None:
        caps.append(int(tok["truncation"]["max_length"]))
    return min(caps) if caps else None


def split_on_added_tokens(text, tokens):
    """The text as a list of str pieces (for the sub-word model) and AddedToken entries."""
    out, pos, piece_start = [], 0, 0
    while pos < len(text):
        best = None
        for t in tokens:
            if t.content and text.startswith(t.content, pos) and (best is None or len(t.content) > len(best.content)):
                best = t
        if best is None:
            pos += 1
            continue
        start, stop = pos, pos + len(best.content)
        if best.lstrip:
            while start > piece_start and text[start - 1].isspace():
                start -= 1
        if best.rstrip:
            while stop < len(text) and text[stop].isspace():
                stop += 1
        if start > piece_start:
            out.append(text[piece_start:start])
        out.append(best)
        pos = piece_start = stop
    if piece_start < len(text):
        out.append(text[piece_start:])
    return out


# --------------------------------------------------------------------------------------------------
# Tokenizer: XLMRobertaTokenizer (slow)
#
# sentencepiece produces pieces; fairseq's dictionary puts <s> <pad> </s> <unk> at 0..3, so every
# other sentencepiece id is shifted up by one (the "fairseq offset"), and a piece sentencepiece does
# not know (its id 0, <unk>) becomes fairseq's <unk> = 3. <mask> is the last id (piece count + 1).
# A pair is `<s> A </s></s> B </s>`.
# --------------------------------------------------------------------------------------------------

BOS, PAD, EOS, UNK = 0, 1, 2, 3
FAIRSEQ_OFFSET = 1
FAIRSEQ_SPECIALS = {"<s>": BOS, "<pad>": PAD, "</s>": EOS, "<unk>": UNK}
PAIR_SPECIAL_TOKENS = 4  # <s>, </s></s> between, </s> at the end

# Which longest_first the expected outputs follow: "slow" (XLMRobertaTokenizer, Python) or "fast"
# (XLMRobertaTokenizerFast, Rust `tokenizers`, what AutoTokenizer loads for bge-reranker-v2-m3).
# They differ only when both texts are cut and the budget left for them is odd.
DEFAULT_TRUNCATION = "fast"


def truncate_longest_first_slow(a, b, num_tokens_to_remove):
    """Hugging Face's slow-tokenizer `truncate_sequences(..., "longest_first")`, truncation side right:
    one token at a time from the end of the longer sequence; on a tie, from the second."""
    a, b = list(a), list(b)
    for _ in range(max(0, num_tokens_to_remove)):
        if len(a) > len(b):
            a = a[:-1]
        else:
            b = b[:-1]
    return a, b


def truncate_longest_first_fast(a, b, max_len):
    """The Rust `tokenizers` LongestFirst (what XLMRobertaTokenizerFast does), right side, given the
    budget left after the special tokens. Differs from the slow one only when both sequences must be
    cut and the budget is odd: here the longer sequence (the second on a tie) keeps the odd token."""
    n1, n2 = len(a), len(b)
    if n1 + n2 <= max_len:
        return list(a), list(b)
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1  # n1 is now the shorter
    n2 = n1 if n1 > max_len else max(n1, max_len - n1)
    if n1 + n2 > max_len:
        n1 = max_len // 2
        n2 = n1 + max_len % 2
    if swap:
        n1, n2 = n2, n1
    return list(a)[:n1], list(b)[:n2]


def truncate_flagembedding(a, b, max_length):
    """FlagEmbedding's FlagReranker.compute_score (encoder-only BaseReranker), from its code: the
    query is tokenized alone with truncation to query_max_length = max_length * 3 // 4 tokens, the
    passage alone to max_length tokens, then `prepare_for_model(q, p, truncation="only_second",
    max_length=max_length)` adds the specials and removes the excess from the end of the passage.
    Where the passage cannot absorb the whole excess (max_length <= 16) Hugging Face logs an error
    and leaves the pair too long; this reference, like rerankd, then keeps what fits."""
    a = list(a)[: max_length * 3 // 4]
    b = list(b)[:max_length]
    excess = len(a) + len(b) + PAIR_SPECIAL_TOKENS - max_length
    if excess > 0:
        b = b[: max(0, len(b) - excess)]
        a = a[: max(0, max_length - PAIR_SPECIAL_TOKENS - len(b))]
    return a, b


class XlmrTokenizer:
    def __init__(self, spm_model_path, added_tokens=None, flags=None):
        """added_tokens: from the model's files (read_added_tokens); None: XLMRobertaTokenizer's own
        five, <mask> taking the whitespace on its left, with `flags` {content: (lstrip, rstrip)}."""
        import sentencepiece  # imported here so that the rest of the module works without it

        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path))
        self.piece_count = self.sp.get_piece_size()
        self.mask_id = self.piece_count + FAIRSEQ_OFFSET
        if added_tokens is None:
            added_tokens = [AddedToken(c, i) for c, i in FAIRSEQ_SPECIALS.items()]
            added_tokens.append(AddedToken("<mask>", self.mask_id, lstrip=True))
            for t in added_tokens:
                t.lstrip, t.rstrip = (flags or {}).get(t.content, (t.lstrip, t.rstrip))
        self.added_tokens = added_tokens

    @classmethod
    def from_model_dir(cls, model_dir):
        return cls(os.path.join(model_dir, "sentencepiece.bpe.model"), read_added_tokens(model_dir),
                   special_token_flags(model_dir))

    def piece_to_id(self, piece):
        if piece in FAIRSEQ_SPECIALS:
            return FAIRSEQ_SPECIALS[piece]
        spm_id = self.sp.piece_to_id(piece)
        return spm_id + FAIRSEQ_OFFSET if spm_id != 0 else UNK

    def encode(self, text):
        """Fairseq ids of `text` alone, without the pair template. Added tokens written in the text
        are their ids; each piece between them goes through sentencepiece on its own (which gives
        it a leading "▁" and drops its edge whitespace)."""
        ids = []
        for piece in split_on_added_tokens(text, self.added_tokens):
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
            else:
                ids += [self.piece_to_id(p) for p in self.sp.encode(piece, out_type=str)]
        return ids

    @staticmethod
    def assemble_pair(a, b, max_length, truncation=DEFAULT_TRUNCATION):
        """`<s> a </s></s> b </s>`, truncated longest_first so that the total is at most max_length
        (which counts the 4 special tokens; with max_length < 4 only the specials remain)."""
        budget = max_length - PAIR_SPECIAL_TOKENS
        if truncation == "flagembedding":
            a, b = truncate_flagembedding(a, b, max_length)
        elif truncation == "slow":
            a, b = truncate_longest_first_slow(a, b, len(a) + len(b) - budget)
        elif truncation == "fast":
            a, b = truncate_longest_first_fast(a, b, max(0, budget))
        else:
            raise ValueError(f"truncation must be 'slow', 'fast' or 'flagembedding', not {truncation!r}")
        return [BOS] + a + [EOS, EOS] + b + [EOS]

    def encode_pair(self, query, document, max_length=512, truncation=DEFAULT_TRUNCATION):
        return self.assemble_pair(self.encode(query), self.encode(document), max_length, truncation)

    def encode_with_byte_spans(self, text):
        """(ids, [(begin, end)]) with each token's span in UTF-8 bytes of `text`. sentencepiece's
        Python binding reports spans in characters of the str; they are converted here."""
        ids, spans, pos = [], [], 0
        for piece in split_on_added_tokens(text, self.added_tokens):  # as encode() does
            content = piece.content if isinstance(piece, AddedToken) else piece
            at = text.index(content, pos)
            pos = at + len(content)
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
                spans.append((at, pos))
                continue
            for p in self.sp.encode(piece, out_type="immutable_proto").pieces:
                ids.append(self.piece_to_id(p.piece))
                spans.append((at + p.begin, at + p.end))
        byte_at = [0]
        for ch in text:
            byte_at.append(byte_at[-1] + len(ch.encode("utf-8")))
        return ids, [(byte_at[b], byte_at[e]) for b, e in spans]

    def chunk_pairs(self, query, document, max_length, truncation=DEFAULT_TRUNCATION, max_chunks=1,
                    max_tokens=None, overlap=0):
        """A long document as windows, the spec of rerankd's max_chunks_per_doc / max_tokens_per_doc /
        chunk_overlap_tokens (Cohere's chunked rerank): only the document's first max_tokens tokens
        count (None: all). The query keeps what the truncation rule leaves it against a document far
        longer than the model's window; the window is what is then left of max_length for document
        tokens. A document that fits the window, or max_chunks == 1, is one pair cut by the rule as
        usual. Otherwise windows of that many tokens start at 0 and every window - overlap tokens
        after, until one reaches the end of the considered tokens or max_chunks (None: no cap) are
        made. Returns [(ids, char_start, char_end)] with the bytes of the document each pair holds."""
        a = self.encode(query)
        b, spans = self.encode_with_byte_spans(document)
        if max_tokens is not None:
            b, spans = b[:max_tokens], spans[:max_tokens]
        query_kept, _ = self.kept_tokens(len(a), 4 * max_length + len(a), max_length, truncation)
        window = max_length - PAIR_SPECIAL_TOKENS - query_kept

        def byte_span(lo, hi):
            return (spans[lo][0], spans[hi - 1][1]) if hi > lo else (0, 0)

        if max_chunks == 1 or len(b) <= window:
            _, doc_kept = self.kept_tokens(len(a), len(b), max_length, truncation)
            return [(self.assemble_pair(a, b, max_length, truncation), *byte_span(0, doc_kept))]
        if not 0 <= overlap < window:
            raise ValueError(f"overlap {overlap} must be below the window {window}")
        q = a[:query_kept]
        out, start = [], 0
        while max_chunks is None or len(out) < max_chunks:
            end = min(start + window, len(b))
            out.append(([BOS] + q + [EOS, EOS] + b[start:end] + [EOS], *byte_span(start, end)))
            if end == len(b):
                break
            start += window - overlap
        return out

    def kept_tokens(self, query_len, document_len, max_length, truncation):
        """(query tokens, document tokens) the rule keeps of texts of these lengths, found by marking
        the tokens (the rules look only at lengths)."""
        ids = self.assemble_pair([-1] * query_len, [-2] * document_len, max_length, truncation)
        return ids.count(-1), ids.count(-2)


# --------------------------------------------------------------------------------------------------
# Tokenizer: BertTokenizer (slow)
#
# Added tokens ([CLS] [SEP] [PAD] [UNK] [MASK] with vocab.txt's ids by default) are cut out first.
# Each remaining piece goes through BasicTokenizer: drop NUL, U+FFFD and control characters (category
# C*, except tab/newline/return, which are whitespace like category Zs); put spaces around CJK
# ideographs; NFC; split on whitespace; per word lower-case (do_lower_case) and strip accents (NFD,
# drop category Mn; strip_accents, which follows do_lower_case when null); split off every
# punctuation character (category P*, or ASCII symbols such as $ + < = > ^ ` | ~). Then WordPiece:
# greedy longest match from the left, continuation pieces prefixed "##"; a word with no full cover,
# or longer than 100 characters, is [UNK]. A pair is [CLS] A [SEP] B [SEP], token types 0 then 1.
# --------------------------------------------------------------------------------------------------

BERT_PAIR_SPECIAL_TOKENS = 3
BERT_MAX_CHARS_PER_WORD = 100


def bert_is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def bert_is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def bert_is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def bert_is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def bert_basic_tokenize(text, lower_case=True, strip_accents=None, chinese=True):
    if strip_accents is None:
        strip_accents = lower_case
    chars = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or bert_is_control(ch):
            continue
        if bert_is_whitespace(ch):
            chars.append(" ")
        elif chinese and bert_is_cjk(ch):
            chars += [" ", ch, " "]
        else:
            chars.append(ch)
    words = []
    for word in unicodedata.normalize("NFC", "".join(chars)).split():
        if lower_case:
            word = word.lower()
        if strip_accents:
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        current = ""
        for c in word:
            if bert_is_punctuation(c):
                if current:
                    words.append(current)
                words.append(c)
                current = ""
            else:
                current += c
        if current:
            words.append(current)
    return words


class BertTokenizer:
    def __init__(self, model_dir):
        self.vocab = {}
        with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
            for i, line in enumerate(f):
                self.vocab[line.rstrip("\n")] = i
        cfg = _read_json(model_dir, "tokenizer_config.json") or {}
        self.lower_case = cfg.get("do_lower_case", True)
        self.strip_accents = cfg.get("strip_accents")
        self.chinese = cfg.get("tokenize_chinese_chars", True)
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]
        self.added_tokens = read_added_tokens(model_dir)
        if self.added_tokens is None:
            self.added_tokens = [AddedToken(t, self.vocab[t]) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
                                 if t in self.vocab]

    def word_piece(self, word):
        if len(word) > BERT_MAX_CHARS_PER_WORD:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = ("##" if start > 0 else "") + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return ids

    def encode(self, text):
        ids = []
        for piece in split_on_added_tokens(text, self.added_tokens):
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
            else:
                for word in bert_basic_tokenize(piece, self.lower_case, self.strip_accents, self.chinese):
                    ids += self.word_piece(word)
        return ids

    def assemble_pair(self, a, b, max_length, truncation=DEFAULT_TRUNCATION):
        """([CLS] a [SEP] b [SEP], token types), longest_first to at most max_length tokens."""
        budget = max_length - BERT_PAIR_SPECIAL_TOKENS
        if truncation == "slow":
            a, b = truncate_longest_first_slow(a, b, len(a) + len(b) - budget)
        else:
            a, b = truncate_longest_first_fast(a, b, max(0, budget))
        ids = [self.cls] + a + [self.sep] + b + [self.sep]
        return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)

    def encode_pair(self, query, document, max_length=512, truncation=DEFAULT_TRUNCATION):
        return self.assemble_pair(self.encode(query), self.encode(document), max_length, truncation)


# --------------------------------------------------------------------------------------------------
# Model: XLMRobertaForSequenceClassification with one label, in float64, one sequence at a time
# (no padding, so no attention mask). Dropout is inactive (inference).
# --------------------------------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    """Exact GELU (hidden_act "gelu"): x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, gamma, beta, eps):
    """torch.nn.LayerNorm over the last axis: biased variance, eps inside the square root."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def linear(x, weights, prefix):
    """torch.nn.Linear: weight is [out_features, in_features]; y = x W^T + b."""
    return x @ weights[prefix + ".weight"].T + weights[prefix + ".bias"]


def quantize_activation_rows(x):
    """Dynamic per-token symmetric int8, the scheme of CTranslate2 (and of rerankd's int8 dtype):
    each row scaled so that its largest |value| maps to 127, rounded half to even, scaled back."""
    largest = np.abs(x).max(axis=-1, keepdims=True)
    scale = np.where(largest > 0, 127.0 / np.where(largest > 0, largest, 1.0), 1.0)
    return np.rint(x * scale) / scale


def quantize_weight_rows(weight, weight_range):
    """Per-output-channel symmetric weights: each row of the [out, in] matrix scaled so its largest
    |value| maps to weight_range (127 for the engine's 8 bits; 63 as the 7-bit control)."""
    largest = np.abs(weight).max(axis=1, keepdims=True)
    scale = np.where(largest > 0, weight_range / np.where(largest > 0, largest, 1.0), 1.0)
    return np.rint(weight * scale) / scale


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def roberta_position_ids(ids, padding_idx):
    """RoBERTa numbers real tokens from padding_idx + 1 on; pad tokens get padding_idx."""
    mask = (np.asarray(ids) != padding_idx).astype(np.int64)
    return np.cumsum(mask) * mask + padding_idx


SUPPORTED_ACTIVATIONS = {"gelu"}
# architectures -> (model_type, tensor prefix)
ARCHITECTURES = {"XLMRobertaForSequenceClassification": ("xlm-roberta", "roberta."),
                 "BertForSequenceClassification": ("bert", "bert.")}


class Reranker:
    def __init__(self, model_dir, int8_weight_range=None):
        """int8_weight_range: simulate int8 linear layers in the encoder (quantize_weight_rows with
        this range, quantize_activation_rows on their inputs; all arithmetic still float64). The
        embeddings, LayerNorms, attention and the classification head stay exact."""
        self.model_dir = model_dir
        self.config = read_config(model_dir)
        c = self.config
        arch = c.get("architectures", ["XLMRobertaForSequenceClassification"])[0]
        if arch not in ARCHITECTURES or c.get("model_type") != ARCHITECTURES[arch][0]:
            raise ValueError(f"{model_dir}: unsupported architecture {arch} / model_type {c.get('model_type')}")
        self.bert = arch == "BertForSequenceClassification"
        self.prefix = ARCHITECTURES[arch][1]
        if c.get("hidden_act") not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"{model_dir}: only exact GELU")
        if c.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{model_dir}: only absolute position embeddings")
        self.weights = read_model_weights(model_dir)
        self.int8 = int8_weight_range is not None
        if self.int8:
            for name in self.weights:
                if name.startswith(self.prefix + "encoder.") and name.endswith(".weight") and "LayerNorm" not in name:
                    self.weights[name] = quantize_weight_rows(self.weights[name], int8_weight_range)
        self.tokenizer = BertTokenizer(model_dir) if self.bert else XlmrTokenizer.from_model_dir(model_dir)
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = self.hidden // self.heads
        self.layers = c["num_hidden_layers"]
        self.eps = c["layer_norm_eps"]
        self.pad = c["pad_token_id"]
        self.max_position_embeddings = c["max_position_embeddings"]

    def encoder_linear(self, x, prefix):
        return linear(quantize_activation_rows(x) if self.int8 else x, self.weights, prefix)

    def default_max_length(self):
        """512, unless the position table (RoBERTa's positions start at pad_token_id + 1, BERT's at 0)
        or the tokenizer files' model_max_length allow fewer."""
        positions = self.max_position_embeddings - (0 if self.bert else self.pad + 1)
        return min([512, positions] + [m for m in [tokenizer_max_length(self.model_dir)] if m is not None])

    def logit(self, ids, type_ids=None):
        w = self.weights
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        types = np.zeros(n, dtype=np.int64) if type_ids is None else np.asarray(type_ids, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= self.config["vocab_size"]:
            raise ValueError("token id outside the vocabulary")
        # BERT numbers positions from 0; RoBERTa from padding_idx + 1 (no padding here).
        positions = np.arange(n) if self.bert else roberta_position_ids(ids, self.pad)
        if positions.max() >= self.max_position_embeddings:
            raise ValueError(f"{n} tokens do not fit {self.max_position_embeddings} position embeddings")

        e = self.prefix + "embeddings."
        x = (w[e + "word_embeddings.weight"][ids]
             + w[e + "position_embeddings.weight"][positions]
             + w[e + "token_type_embeddings.weight"][types])
        x = layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], self.eps)

        for i in range(self.layers):
            p = f"{self.prefix}encoder.layer.{i}."
            # Self-attention, heads split along the hidden axis: [n, H] -> [heads, n, head_dim].
            split = lambda t: t.reshape(n, self.heads, self.head_dim).transpose(1, 0, 2)
            q = split(self.encoder_linear(x, p + "attention.self.query"))
            k = split(self.encoder_linear(x, p + "attention.self.key"))
            v = split(self.encoder_linear(x, p + "attention.self.value"))
            probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(self.head_dim))  # [heads, n, n]
            context = (probs @ v).transpose(1, 0, 2).reshape(n, self.hidden)
            attn = self.encoder_linear(context, p + "attention.output.dense")
            x = layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], self.eps)
            # Feed-forward.
            h = gelu(self.encoder_linear(x, p + "intermediate.dense"))
            out = self.encoder_linear(h, p + "output.dense")
            x = layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)

        cls = x[0]
        if self.bert:
            # BertPooler (dense, tanh) on [CLS], then the classifier Linear.
            out = linear(np.tanh(linear(cls, w, "bert.pooler.dense")), w, "classifier")
        else:
            # RobertaClassificationHead on <s>: dense, tanh, out_proj.
            out = linear(np.tanh(linear(cls, w, "classifier.dense")), w, "classifier.out_proj")
        return float(out[0])

    def encode_pair(self, query, document, max_length, truncation=DEFAULT_TRUNCATION):
        """(ids, token type ids or None for XLM-R's single type)."""
        if self.bert:
            return self.tokenizer.encode_pair(query, document, max_length, truncation)
        return self.tokenizer.encode_pair(query, document, max_length, truncation), None

    def score_chunked(self, query, document, max_length, truncation=DEFAULT_TRUNCATION, **chunking):
        """The document's score as the best of its windows' (Cohere's max), and which window that was
        (the first on a tie)."""
        pairs = self.tokenizer.chunk_pairs(query, document, max_length, truncation, **chunking)
        logits = [self.logit(ids) for ids, _, _ in pairs]
        best = max(range(len(logits)), key=lambda k: (logits[k], -k))
        return {"query": query, "document": document, "max_length": max_length, "truncation": truncation,
                "chunking": chunking, "logit": logits[best], "logits": logits, "index": best, "count": len(pairs),
                "char_start": pairs[best][1], "char_end": pairs[best][2], "ids": [ids for ids, _, _ in pairs]}

    def score_pairs(self, pairs, max_length=None, truncation=DEFAULT_TRUNCATION):
        """[{"query", "document", "max_length", "ids", ("type_ids",) "logit"}] for [{"query", "document"}]."""
        if max_length is None:
            max_length = self.default_max_length()
        results = []
        for pair in pairs:
            ids, types = self.encode_pair(pair["query"], pair["document"], max_length, truncation)
            row = {"query": pair["query"], "document": pair["document"], "max_length": max_length, "ids": ids}
            if types is not None:
                row["type_ids"] = types
            row["logit"] = self.logit(ids, types)
            results.append(row)
        return results


def read_pairs(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--pairs", required=True, help="JSONL of {\"query\", \"document\"}")
    parser.add_argument("--max-length", type=int, default=None,
                        help="default: min(512, max_position_embeddings - 2)")
    parser.add_argument("--truncation", choices=["slow", "fast", "flagembedding"], default=DEFAULT_TRUNCATION,
                        help=f"longest_first as HF's slow or fast tokenizer does it, or FlagEmbedding's rule "
                             f"(default {DEFAULT_TRUNCATION})")
    args = parser.parse_args(argv)
    model = Reranker(args.model_dir)
    for r in model.score_pairs(read_pairs(args.pairs), args.max_length, args.truncation):
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
