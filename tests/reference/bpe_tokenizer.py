#!/usr/bin/python3
"""Byte-level BPE in Qwen2/Qwen3's tokenizer.json layout: a small deterministic trainer and an
independent reference encoder, written from the semantics of Hugging Face's `tokenizers` library
(never from rerankd's C++). Debian's python3 with the `regex` module (python3-regex); nothing else.

As a module:
    train_qwen_style(corpus_lines, vocab_size) -> dict     # the tokenizer.json object
    ByteLevelBpeRef.from_file(path).encode(text) -> [ids]  # add_special_tokens=False
    ByteLevelBpeRef.from_file(path).token_id("<|im_end|>")

As a script:
    bpe_tokenizer.py OUTDIR [--variants DIR]
writes OUTDIR/tokenizer.json (trained on tests/data/corpus.txt plus multilingual lines) and
OUTDIR/tokenizer-cases.jsonl ({"text", "ids"} for each case of tests/data/tokenizer_cases.jsonl and
a long text). With --variants, also DIR/<name>/{tokenizer.json, tokenizer-cases.jsonl} for the
other layouts the C++ tokenizer supports (added-token flags, ignore_merges, GPT-2's ByteLevel regex).
"""
import argparse
import collections
import copy
import json
import os
import sys
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")

# Qwen2's (and Qwen3's) Split pattern, as its tokenizer.json writes it.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# GPT-2's, which the ByteLevel pre-tokenizer applies itself when use_regex is true.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# Qwen3's added tokens among those the tests need: the chat markers are special, the thinking
# markers are not; none is normalized, none strips.
QWEN_ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
              ("<think>", False), ("</think>", False)]

MULTILINGUAL = [
    "北京是中国的首都，也是一座历史悠久的城市。",
    "東京は日本の首都です。ラーメンと寿司が有名です。",
    "서울은 대한민국의 수도입니다.",
    "القاهرة هي عاصمة مصر وأكبر مدنها.",
    "नई दिल्ली भारत की राजधानी है।",
    "Москва — столица России, а Киев — столица Украины.",
    "Ο Όλυμπος είναι το ψηλότερο βουνό της Ελλάδας.",
    "Café, naïve, façade, déjà vu, Ångström, São Paulo, Zürich.",
    "I'm sure THEY'RE here; we'll see what you've done, it's fine, he'd agree.",
    "Emoji: 👍 🎉 👩‍💻 🇫🇷 🇯🇵 ❤️ 1234567890",
]


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the other bytes take U+0100 on."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    table = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = bytes_to_unicode()
# Vocabulary order of the 256 base tokens in GPT-2 and Qwen: the printable bytes first, then the rest.
BASE_ORDER = sorted(range(256), key=lambda b: ord(BYTE_CHARS[b]))


def byte_level(text):
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def regex_split(pattern, text):
    """The Split pre-tokenizer, behavior Isolated: matches and the stretches between them, empties dropped."""
    pieces, done = [], 0
    for m in regex.finditer(pattern, text):
        if m.start() == m.end():
            continue
        if m.start() > done:
            pieces.append(text[done:m.start()])
        pieces.append(m.group())
        done = m.end()
    if done < len(text):
        pieces.append(text[done:])
    return pieces


def train_qwen_style(corpus_lines, vocab_size):
    """A byte-level BPE trained on the lines, as a tokenizer.json object in Qwen2/Qwen3's layout.

    Deterministic: the most frequent pair wins, ties go to the pair whose strings sort first.
    vocab_size counts the 256 byte tokens and the merges, not the added tokens."""
    words = collections.Counter()
    for line in corpus_lines:
        for piece in regex_split(QWEN2_PATTERN, unicodedata.normalize("NFC", line)):
            words[byte_level(piece)] += 1
    vocab = {BYTE_CHARS[b]: i for i, b in enumerate(BASE_ORDER)}
    seqs = [list(w) for w in words]
    freq = [words[w] for w in words]
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for i, s in enumerate(seqs):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += freq[i]
            where[(a, b)].add(i)
    merges = []
    while len(vocab) < vocab_size and pair_count:
        best = min(pair_count.items(), key=lambda kv: (-kv[1], kv[0]))
        (a, b), count = best
        if count < 2:
            break
        merged = a + b
        merges.append((a, b))
        if merged not in vocab:
            vocab[merged] = len(vocab)
        for i in sorted(where.pop((a, b), ())):
            s = seqs[i]
            for x, y in zip(s, s[1:]):
                pair_count[(x, y)] -= freq[i]
                if pair_count[(x, y)] <= 0:
                    del pair_count[(x, y)]
            out, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and s[k] == a and s[k + 1] == b:
                    out.append(merged)
                    k += 2
                else:
                    out.append(s[k])
                    k += 1
            seqs[i] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += freq[i]
                where[(x, y)].add(i)
        pair_count.pop((a, b), None)
    byte_level_step = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    added = [{"id": len(vocab) + k, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": special} for k, (content, special) in enumerate(QWEN_ADDED)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            byte_level_step]},
        "post_processor": dict(byte_level_step),
        "decoder": dict(byte_level_step),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def _is_word_char(ch):
    # Rust regex's Unicode \w, which the library's single_word check uses.
    return regex.match(r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]", ch) is not None


def _is_space(ch):
    # Rust's char::is_whitespace: the White_Space property.
    return regex.match(r"\p{White_Space}", ch) is not None


class _AddedTokens:
    """The library's added-token matcher: leftmost match, longest there; a single_word token beside
    a word character is dropped (and nothing else is looked for inside it); lstrip/rstrip swallow
    the whitespace beside the token."""

    def __init__(self, tokens):
        self.tokens = tokens

    def split(self, text):
        """[(piece, None) | (content, id)], in order; empty pieces left out."""
        out, done, i = [], 0, 0
        while i < len(text):
            best = None
            for t in self.tokens:
                if text.startswith(t["content"], i) and (best is None or len(t["content"]) > len(best["content"])):
                    best = t
            if best is None:
                i += 1
                continue
            end = i + len(best["content"])
            if best.get("single_word", False):
                if (i > 0 and _is_word_char(text[i - 1])) or (end < len(text) and _is_word_char(text[end])):
                    i = end
                    continue
            start = i
            if best.get("lstrip", False):
                while start > done and _is_space(text[start - 1]):
                    start -= 1
            stop = end
            if best.get("rstrip", False):
                while stop < len(text) and _is_space(text[stop]):
                    stop += 1
            if start > done:
                out.append((text[done:start], None))
            out.append((best["content"], best["id"]))
            done = i = stop
        if done < len(text):
            out.append((text[done:], None))
        return out


class ByteLevelBpeRef:
    """Encodes as tokenizers' Tokenizer.encode(text, add_special_tokens=False) does for a byte-level
    BPE tokenizer.json: added tokens, NFC, Split (Isolated), ByteLevel, BPE merges by rank."""

    def __init__(self, spec):
        normalizer = spec.get("normalizer")
        self.nfc = False
        for n in self._flatten(normalizer, "normalizers"):
            if n["type"] != "NFC":
                raise ValueError(f"normalizer {n['type']} is not supported")
            self.nfc = True
        self.patterns = []
        self.byte_level_regex = False
        for p in self._flatten(spec["pre_tokenizer"], "pretokenizers"):
            if p["type"] == "Split":
                if p["behavior"] != "Isolated" or p.get("invert", False) or "Regex" not in p["pattern"]:
                    raise ValueError("only Split with a Regex, Isolated, not inverted")
                self.patterns.append(p["pattern"]["Regex"])
            elif p["type"] == "ByteLevel":
                if p.get("add_prefix_space", False):
                    raise ValueError("add_prefix_space is not supported")
                self.byte_level_regex = p.get("use_regex", True)
            else:
                raise ValueError(f"pre-tokenizer {p['type']} is not supported")
        model = spec["model"]
        if model["type"] != "BPE" or model.get("byte_fallback") or model.get("dropout"):
            raise ValueError("only a BPE model without byte fallback or dropout")
        self.vocab = dict(model["vocab"])
        self.ignore_merges = bool(model.get("ignore_merges", False))
        self.unk = model.get("unk_token")
        self.fuse_unk = bool(model.get("fuse_unk", False))
        self.ranks = {}
        for rank, m in enumerate(model["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.ranks[(a, b)] = rank
        added = self._with_library_ids(spec.get("added_tokens") or [], self.vocab)
        self.added = {t["content"]: t["id"] for t in added}
        raw = [t for t in added if not t.get("normalized", not t.get("special", False))]
        normalized = [t for t in added if t.get("normalized", not t.get("special", False))]
        self.raw_tokens, self.normalized_tokens = _AddedTokens(raw), _AddedTokens(normalized)

    @staticmethod
    def _with_library_ids(tokens, vocab):
        """The library does not read the ids the file gives added tokens: it adds them in order, a
        token the vocabulary has taking that id, any other the next one after the vocabulary and
        the tokens added so far. A content listed twice keeps its first id and its last flags."""
        by_content = {}
        for t in tokens:
            t = dict(t)
            if t["content"] in by_content:
                t["id"] = by_content[t["content"]]["id"]
            elif t["content"] in vocab:
                t["id"] = vocab[t["content"]]
            else:
                ids = [x["id"] for x in by_content.values()]
                t["id"] = max(len(vocab), max(ids) + 1) if ids else len(vocab)
            by_content[t["content"]] = t
        return list(by_content.values())

    @staticmethod
    def _flatten(node, key):
        if node is None:
            return []
        if node["type"] == "Sequence":
            return [x for child in node[key] for x in ByteLevelBpeRef._flatten(child, key)]
        return [node]

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def token_id(self, token):
        if token in self.added:
            return self.added[token]
        return self.vocab.get(token)

    def encode(self, text):
        ids = []
        for piece, token in self.raw_tokens.split(text):
            if token is not None:
                ids.append(token)
                continue
            if self.nfc:
                piece = unicodedata.normalize("NFC", piece)
            for sub, sub_token in self.normalized_tokens.split(piece):
                if sub_token is not None:
                    ids.append(sub_token)
                else:
                    ids.extend(self._encode_pre_tokens(sub))
        return ids

    def _encode_pre_tokens(self, text):
        pieces = [text]
        patterns = self.patterns + ([GPT2_PATTERN] if self.byte_level_regex else [])
        for pattern in patterns:
            pieces = [p for piece in pieces for p in regex_split(pattern, piece)]
        ids = []
        for piece in pieces:
            ids.extend(self._bpe(byte_level(piece)))
        return ids

    def _bpe(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        symbols = []
        in_unk = False
        for ch in word:
            if ch in self.vocab:
                symbols.append(ch)
                in_unk = False
            elif self.unk is not None:
                if not (in_unk and self.fuse_unk):
                    symbols.append(self.unk)
                in_unk = True
        # Each step merges the pair of lowest rank, the leftmost among equals.
        while True:
            best = None
            for k in range(len(symbols) - 1):
                rank = self.ranks.get((symbols[k], symbols[k + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, k)
            if best is None:
                break
            k = best[1]
            symbols[k:k + 2] = [symbols[k] + symbols[k + 1]]
        return [self.vocab[s] for s in symbols]


def read_cases():
    """The texts of tests/data/tokenizer_cases.jsonl, then a long one (several thousand characters)."""
    texts = []
    with open(os.path.join(DATA, "tokenizer_cases.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["text"])
    texts.append("\n".join(read_corpus()[:40]) + "\n" + "\n".join(MULTILINGUAL) + " <|im_end|>  tail  ")
    return texts


def read_corpus():
    with open(os.path.join(DATA, "corpus.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def variants(base):
    """Other tokenizer.json layouts the C++ side supports, each a change to the Qwen one."""
    flags = copy.deepcopy(base)
    n = max(t["id"] for t in flags["added_tokens"]) + 1
    for k, (content, options) in enumerate([
            ("<mask>", {"lstrip": True, "rstrip": True}),
            ("[w]", {"single_word": True}),
            ("é!", {"normalized": True}),        # matched after NFC: "e\u0301!" matches too
            ("<mask>x", {}),                      # longer than <mask>: the longest at one place wins
            ("ab", {"single_word": True, "normalized": True}),  # in the vocabulary: takes that id
            ("<odd>", {"id": 99999}),                            # the library gives it the next id instead
    ]):
        token = {"id": n + k, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": False}
        token.update(options)
        flags["added_tokens"].append(token)
    ignore = copy.deepcopy(base)
    ignore["model"]["ignore_merges"] = True
    # Words no merge sequence reaches: only ignore_merges makes each one id.
    for word in IGNORE_MERGES_WORDS:
        ignore["model"]["vocab"][byte_level(word)] = len(ignore["model"]["vocab"])
    for k, token in enumerate(ignore["added_tokens"]):
        token["id"] = len(ignore["model"]["vocab"]) + k
    gpt2 = copy.deepcopy(base)
    gpt2["normalizer"] = None
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    gpt2["model"]["merges"] = [m.split(" ") for m in gpt2["model"]["merges"]]
    gpt2["model"]["continuing_subword_prefix"] = None
    gpt2["model"]["end_of_word_suffix"] = None
    return {"added-flags": flags, "ignore-merges": ignore, "gpt2": gpt2}


IGNORE_MERGES_WORDS = ["xyzzy", " qqq", "ÿþ"]
VARIANT_CASES = ["xyzzy qqq ÿþ xyzzyx", "<odd> <odd>", "a<mask>b", "a <mask> b", "x  <mask>\t\ny", "<mask>x <mask>xy", "[w] a[w] [w]b ([w]) _[w]",
                 "e\u0301! é! e\u0301!x", "ab cab ab, abc é ab", " <mask> <mask> ", "[w][w]", "ab\u0301 ab"]


def write(outdir, spec, texts):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, indent=1)
    ref = ByteLevelBpeRef.from_file(path)
    with open(os.path.join(outdir, "tokenizer-cases.jsonl"), "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text, "ids": ref.encode(text)}, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--variants", help="also write the other supported layouts here, one folder each")
    args = parser.parse_args()
    spec = train_qwen_style(read_corpus() + MULTILINGUAL, 2000)
    texts = read_cases()
    write(args.outdir, spec, texts)
    if args.variants:
        for name, variant in variants(spec).items():
            write(os.path.join(args.variants, name), variant, texts + VARIANT_CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
