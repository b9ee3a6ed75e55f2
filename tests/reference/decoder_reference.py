#!/usr/bin/python3
"""Independent float64 reference for decoder-only (causal LM) rerankers: Qwen3-Reranker (Qwen3ForCausalLM),
mxbai-rerank-base/large-v2 (Qwen2ForCausalLM) and bge-reranker-v2-gemma (GemmaForCausalLM).

Written from Hugging Face's modeling sources (transformers' modeling_qwen3.py, modeling_qwen2.py,
modeling_gemma.py) and from each model's own scoring code (the Qwen3-Reranker model card, the
`mxbai-rerank` package's MxbaiRerankV2, FlagEmbedding's BaseLLMReranker / FlagLLMReranker), not from
rerankd's C++. numpy only (plus `sentencepiece` for Gemma, and tests/reference/bpe_tokenizer.py's
ByteLevelBpeRef for the Qwen byte-level BPE); float64 throughout; one sequence at a time, causal.

As a module:
    model = DecoderReranker("path/to/model_dir")          # family from config.json
    row = model.score("what is panda?", "The giant panda ...", max_length=8192)
    # row: {"query", "document", "instruction", "max_length", "ids", "logit", "score"}
    model.lm.last_logits(ids, [yes_id, no_id])             # logits of chosen ids at the last position
    model.lm.last_hidden(ids)                               # final-norm hidden state of the last position

As a command (one JSON line per pair, in order):
    decoder_reference.py MODEL_DIR --pairs pairs.jsonl [--max-length N] [--instruction TEXT]
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402  (safetensors reader, added-token splitting)

# --------------------------------------------------------------------------------------------------
# Prompts, with their sources. Every string is quoted exactly from the named source.
# --------------------------------------------------------------------------------------------------

# Qwen3-Reranker-0.6B/4B/8B model card (huggingface.co/Qwen/Qwen3-Reranker-0.6B, "Transformers Usage"),
# checked against several verbatim copies of that card's code (search corpus "code"):
#   prefix = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and
#             the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"
#   suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
#   def format_instruction(instruction, query, doc):
#       if instruction is None:
#           instruction = 'Given a web search query, retrieve relevant passages that answer the query'
#       output = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}".format(...)
#   inputs = tokenizer(pairs, padding=False, truncation='longest_first', return_attention_mask=False,
#                      max_length=max_length - len(prefix_tokens) - len(suffix_tokens))
#   inputs['input_ids'][i] = prefix_tokens + ele + suffix_tokens          (max_length = 8192 in the card)
#   token_false_id = tokenizer.convert_tokens_to_ids("no"); token_true_id = ...("yes")
#   scores = log_softmax(stack([false, true]))[:, 1].exp()   == sigmoid(logit_yes - logit_no)
QWEN3_PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
                "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_BODY = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"
QWEN3_DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
QWEN3_DEFAULT_MAX_LENGTH = 8192
QWEN3_YES, QWEN3_NO = "yes", "no"

# mxbai-rerank-base-v2 / large-v2: the `mxbai-rerank` package, mxbai_rerank/mxbai_rerank_v2.py, class
# MxbaiRerankV2 (github.com/mixedbread-ai/mxbai-rerank, read at commits 03324ea9 and 93a0be81; the
# template is identical in both, they differ only in the document's token cap, see mxbai_ids):
#   sep = "\n"
#   instruction_prompt = "instruction: {instruction}"
#   query_prompt = "query: {query}"
#   doc_prompt = "document: {document}"
#   task_prompt = "You are a search relevance expert who evaluates how well documents match search queries.
#     For each query-document pair, carefully analyze the semantic relationship between them, then provide
#     your binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:"
#   chat_template = {"prefix": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful
#     assistant.<|im_end|>\n<|im_start|>user\n", "suffix": "<|im_end|>\n<|im_start|>assistant\n"}
#   yes_loc = get_input_ids("1")[0]; no_loc = get_input_ids("0")[0]
#   logits = outputs.logits[:, -1, yes_loc] - outputs.logits[:, -1, no_loc]
MXBAI_SEP = "\n"
MXBAI_INSTRUCTION = "instruction: {instruction}"
MXBAI_QUERY = "query: {query}"
MXBAI_DOC = "document: {document}"
MXBAI_TASK = ("You are a search relevance expert who evaluates how well documents match search queries. For each "
              "query-document pair, carefully analyze the semantic relationship between them, then provide your "
              "binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:")
MXBAI_PREFIX = ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                "<|im_start|>user\n")
MXBAI_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
MXBAI_DEFAULT_MAX_LENGTH = 8192
MXBAI_YES, MXBAI_NO = "1", "0"

# bge-reranker-v2-gemma: FlagEmbedding, FlagEmbedding/inference/reranker/decoder_only/base.py
# (BaseLLMReranker.compute_score_single_gpu) and the older FlagEmbedding/flag_reranker.py (FlagLLMReranker),
# which agree:
#   prompt = "Given a query A and a passage B, determine whether the passage contains an answer to the query
#             by providing a prediction of either 'Yes' or 'No'."
#   sep = "\n"
#   query_instruction_for_rerank = "A: " / passage "B: " with format "{}{}"  (old code: f'A: {q}', f'B: {p}')
#   queries tokenized alone: add_special_tokens=False, max_length=query_max_length (= max_length * 3 // 4),
#     truncation=True; passages alone: add_special_tokens=False, max_length=max_length, truncation=True
#   encode_max_length = max_length + len(sep_inputs) + len(prompt_inputs)
#   item = prepare_for_model([bos] + query_ids, sep_inputs + passage_ids, truncation='only_second',
#                            max_length=encode_max_length, add_special_tokens=False)
#     ([bos] only when bos_token_id is not None and != pad_token_id: true for Gemma, bos 2 / pad 0)
#   input_ids = item['input_ids'] + sep_inputs + prompt_inputs
#   yes_loc = tokenizer('Yes', add_special_tokens=False)['input_ids'][0]
#   score = logits[last position, yes_loc]   (raw; sigmoid only with normalize=True); max_length default 512
BGE_PROMPT = ("Given a query A and a passage B, determine whether the passage contains an answer to the query by "
              "providing a prediction of either 'Yes' or 'No'.")
BGE_SEP = "\n"
BGE_QUERY = "A: {query}"
BGE_PASSAGE = "B: {passage}"
BGE_DEFAULT_MAX_LENGTH = 512
BGE_YES = "Yes"


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# --------------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------------

# Qwen2/Qwen3's added tokens in the order and with the flags their tokenizer_config.json lists them
# (ids 151643..151668 in the real files; special=False from <tool_call> on).
QWEN_ADDED_TOKENS = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True), ("<|quad_start|>", True),
    ("<|quad_end|>", True), ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|repo_name|>", False), ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]


class QwenTokenizer:
    """Qwen2TokenizerFast as the rerankers call it: no BOS/EOS is ever added (add_bos_token false, no
    post-processor template), added tokens cut out first (none of Qwen's has lstrip/rstrip), the
    byte-level BPE on the pieces between them. The BPE itself is bpe_tokenizer.ByteLevelBpeRef
    (branch `tok`), or any object with encode(text) -> ids and token_id(token) -> id or None."""

    def __init__(self, bpe, added_tokens):
        self.bpe = bpe
        self.added_tokens = added_tokens  # [reference.AddedToken]
        self.added_ids = {t.content: t.id for t in added_tokens}
        self._cache = {}

    @classmethod
    def from_model_dir(cls, model_dir, bpe=None):
        path = os.path.join(model_dir, "tokenizer.json")
        if bpe is None:
            import bpe_tokenizer  # tests/reference/bpe_tokenizer.py (branch `tok`)
            bpe = bpe_tokenizer.ByteLevelBpeRef.from_file(path)
        return cls(bpe, reference.read_added_tokens(model_dir) or [])

    def encode(self, text):
        if text not in self._cache:
            ids = []
            for piece in split_on_added_tokens(text, self.added_tokens):
                ids += [piece.id] if isinstance(piece, reference.AddedToken) else list(self.bpe.encode(piece))
            self._cache[text] = ids
        return list(self._cache[text])

    def token_id(self, token):
        """convert_tokens_to_ids: the vocabulary entry spelled exactly so (byte-level alphabet), or None."""
        if token in self.added_ids:
            return self.added_ids[token]
        return self.bpe.token_id(token)


class GemmaTokenizer:
    """GemmaTokenizer(Fast) with add_special_tokens=False: added tokens (<pad> <eos> <bos> <unk> and any
    other listed in the files) cut out first, sentencepiece BPE (no dummy prefix, byte fallback) on the
    pieces between them. bos_token_id / pad_token_id from tokenizer_config.json (Gemma: <bos> 2, <pad> 0)."""

    def __init__(self, spm_path, added_tokens, bos_token="<bos>", pad_token="<pad>"):
        import sentencepiece
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_path))
        self.added_tokens = added_tokens
        ids = {t.content: t.id for t in added_tokens}
        self.bos_id = ids.get(bos_token, self.sp.piece_to_id(bos_token)) if bos_token else None
        self.pad_id = ids.get(pad_token, self.sp.piece_to_id(pad_token)) if pad_token else None

    @classmethod
    def from_model_dir(cls, model_dir):
        cfg = reference._read_json(model_dir, "tokenizer_config.json") or {}
        added = reference.read_added_tokens(model_dir) or []
        name = lambda v: v["content"] if isinstance(v, dict) else v
        return cls(os.path.join(model_dir, "tokenizer.model"), added, name(cfg.get("bos_token", "<bos>")),
                   name(cfg.get("pad_token", "<pad>")))

    def encode(self, text):
        ids = []
        for piece in split_on_added_tokens(text, self.added_tokens):
            ids += [piece.id] if isinstance(piece, reference.AddedToken) else self.sp.encode(piece)
        return ids

    def token_id(self, token):
        i = self.sp.piece_to_id(token)
        return i if self.sp.id_to_piece(i) == token else None


def split_on_added_tokens(text, tokens):
    """reference.split_on_added_tokens (the longest added token starting at the leftmost position), found
    with one regex instead of a scan at every position; tokens with lstrip/rstrip go to the original."""
    if any(t.lstrip or t.rstrip for t in tokens):
        return reference.split_on_added_tokens(text, tokens)
    import re
    by_content = {t.content: t for t in tokens if t.content}
    if not by_content:
        return [text] if text else []
    pattern = re.compile("|".join(re.escape(c) for c in sorted(by_content, key=len, reverse=True)))
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(by_content[m.group(0)])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def truncate_only_second(a, b, max_length):
    """PreTrainedTokenizerBase.prepare_for_model(a, b, truncation='only_second', max_length, add_special_tokens
    False): drop the excess from the end of b; when b cannot absorb it, Hugging Face logs an error and leaves
    both unchanged."""
    excess = len(a) + len(b) - max_length
    if excess > 0 and len(b) > excess:
        b = b[:-excess]
    return list(a) + list(b)


# --------------------------------------------------------------------------------------------------
# Prompt builders (ids) per family
# --------------------------------------------------------------------------------------------------

def qwen3_ids(tok, query, doc, instruction=None, max_length=QWEN3_DEFAULT_MAX_LENGTH):
    """The model card's process_inputs for one pair: the body tokenized alone (no special tokens are added
    by Qwen's tokenizer), cut on the right to max_length - len(prefix) - len(suffix), between the prefix
    and suffix ids."""
    prefix, suffix = tok.encode(QWEN3_PREFIX), tok.encode(QWEN3_SUFFIX)
    body = tok.encode(QWEN3_BODY.format(instruction=QWEN3_DEFAULT_INSTRUCTION if instruction is None else instruction,
                                        query=query, doc=doc))
    budget = max_length - len(prefix) - len(suffix)
    if budget < 0:
        raise ValueError(f"max_length {max_length} is shorter than the prompt's {len(prefix) + len(suffix)} tokens")
    return prefix + body[:budget] + suffix


def mxbai_ids(tok, query, doc, instruction=None, max_length=MXBAI_DEFAULT_MAX_LENGTH, model_max_length=None):
    """MxbaiRerankV2.prepare_inputs for one pair (commit 03324ea9). The query part ("instruction: ...\\n" +
    "query: ...") is cut to max_length * 3 // 4 tokens; the document part ("document: ...") to
    min(model_max_length - len(query) - predefined, max_length) (commit 93a0be81 used
    min(model_max_length - len(query), max_length); the two agree whenever model_max_length is large);
    then prepare_for_model(query, sep + document, only_second, max_length) and
    prefix + that + sep + task + suffix. __init__ first lowers max_length to model_max_length - predefined
    when the sum would exceed it."""
    prefix, suffix = tok.encode(MXBAI_PREFIX), tok.encode(MXBAI_SUFFIX)
    task, sep = tok.encode(MXBAI_TASK), tok.encode(MXBAI_SEP)
    predefined = len(prefix) + len(task) + len(suffix) + len(sep)
    if model_max_length is None:
        model_max_length = 1 << 60
    if max_length + predefined > model_max_length:
        max_length = model_max_length - predefined
    query_text = MXBAI_QUERY.format(query=query)
    if instruction:  # `if instruction_prompt:` in the source: None and "" mean no instruction
        query_text = MXBAI_INSTRUCTION.format(instruction=instruction) + MXBAI_SEP + query_text
    q = tok.encode(query_text)[: max_length * 3 // 4]
    doc_max = min(model_max_length - len(q) - predefined, max_length)
    d = tok.encode(MXBAI_DOC.format(document=doc))[: max(0, doc_max)]
    body = truncate_only_second(q, sep + d, max_length)
    return prefix + body + sep + task + suffix


def bge_gemma_ids(tok, query, passage, max_length=BGE_DEFAULT_MAX_LENGTH, prompt=None, query_max_length=None):
    """FlagEmbedding's decoder-only reranker input for one pair (see BGE_* above): [bos] + "A: query" ids (cut
    to query_max_length, default max_length * 3 // 4), then sep + "B: passage" ids (the passage cut to
    max_length first), the pair cut (only_second) to max_length + len(sep) + len(prompt), then sep + prompt.
    The query and passage are tokenized separately and their ids concatenated, never the joined text."""
    prompt_ids = tok.encode(BGE_PROMPT if prompt is None else prompt)
    sep = tok.encode(BGE_SEP)
    if query_max_length is None:
        query_max_length = max_length * 3 // 4
    q = tok.encode(BGE_QUERY.format(query=query))[:query_max_length]
    p = tok.encode(BGE_PASSAGE.format(passage=passage))[:max_length]
    first = ([tok.bos_id] if tok.bos_id is not None and tok.bos_id != tok.pad_id else []) + q
    pair = truncate_only_second(first, sep + p, max_length + len(sep) + len(prompt_ids))
    return pair + sep + prompt_ids


# --------------------------------------------------------------------------------------------------
# The forward pass, float64, one sequence, causal
# --------------------------------------------------------------------------------------------------

def rms_norm(x, weight, eps, plus_one=False):
    """Qwen2/Qwen3RMSNorm: x * rsqrt(mean(x^2) + eps) * w (HF in float32; here float64).
    GemmaRMSNorm: the same times (1 + w) (its weight is stored as an offset from 1, initialized to zeros)."""
    y = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return y * ((1.0 + weight) if plus_one else weight)


def rope_cos_sin(positions, head_dim, theta):
    """Default RoPE: inv_freq[j] = 1 / theta^(2j / head_dim), j < head_dim / 2; angle = position * inv_freq,
    duplicated as cat(freqs, freqs) over the head (the rotate-half layout)."""
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    freqs = np.outer(np.asarray(positions, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    """x: [heads, n, head_dim]; x * cos + rotate_half(x) * sin (element j pairs with j + head_dim/2)."""
    return x * cos + rotate_half(x) * sin


def causal_attention(q, k, v, scaling):
    """q: [heads, m, d] for the last m of the n positions (m = n normally; 1 in the last layer, where only
    the last position's output is needed), k and v: [kv_heads, n, d]; query head h reads kv head
    h // (heads / kv_heads) (repeat_kv). Position i attends to positions 0..i; softmax over those only."""
    heads, m, _ = q.shape
    n = k.shape[1]
    groups = heads // k.shape[0]
    k = np.repeat(k, groups, axis=0)
    v = np.repeat(v, groups, axis=0)
    scores = q @ np.ascontiguousarray(k.transpose(0, 2, 1)) * scaling  # [heads, m, n]
    visible = np.tril(np.ones((n, n), dtype=bool))[n - m:]
    scores = scores - np.where(visible, scores, -np.inf).max(axis=-1, keepdims=True)
    # exp of the masked entries is exactly 0; arguments are clipped at -700 so that no result is subnormal
    # (e^-700 ~ 1e-304 instead of something below 2.2e-308: a relative change under 1e-300, and many times
    # faster on CPUs that trap on subnormals).
    e = np.where(visible, np.exp(np.maximum(scores, -700.0)), 0.0)
    return (e / e.sum(axis=-1, keepdims=True)) @ v


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    """gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


# architectures[0] -> (model_type, family)
ARCHITECTURES = {"Qwen3ForCausalLM": ("qwen3", "qwen3"), "Qwen2ForCausalLM": ("qwen2", "qwen2"),
                 "GemmaForCausalLM": ("gemma", "gemma")}


class DecoderLM:
    """Qwen3ForCausalLM / Qwen2ForCausalLM / GemmaForCausalLM, inference, no padding, no cache.

    Per layer (pre-norm): h = x + o_proj(attn(input_layernorm(x))); x = h + down(act(gate(n)) * up(n)) with
    n = post_attention_layernorm(h). Attention: q/k/v projections (Qwen2: with bias; Qwen3: bias only if
    attention_bias), heads of head_dim, Qwen3 only: q_norm / k_norm RMSNorm over each head's head_dim
    BEFORE RoPE; RoPE; scaling head_dim^-0.5; causal; GQA/MQA by repeat_kv; o_proj (no bias). Then the
    final norm (model.norm) and lm_head (lm_head.weight, or model.embed_tokens.weight when
    tie_word_embeddings). Gemma: embeddings times sqrt(hidden_size), which HF builds as
    torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype), i.e. rounded to the run's dtype
    (float32: sqrt(2048) = 45.254833; bfloat16: 45.25); this reference uses the float32 value.
    `overrides` (tests only) changes config values or switches parts off to show the outputs depend on them:
    {"rope_theta": ..., "rms_norm_eps": ..., "qk_norm": False, "skip_layer": i}."""

    def __init__(self, model_dir, overrides=None):
        self.model_dir = model_dir
        c = self.config = reference.read_config(model_dir)
        arch = (c.get("architectures") or [None])[0]
        if arch not in ARCHITECTURES or c.get("model_type") != ARCHITECTURES[arch][0]:
            raise ValueError(f"{model_dir}: unsupported architecture {arch} / model_type {c.get('model_type')}")
        self.family = ARCHITECTURES[arch][1]
        o = dict(overrides or {})
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.layers = c["num_hidden_layers"]
        self.eps = o.get("rms_norm_eps", c["rms_norm_eps"])
        self.theta = o.get("rope_theta", c.get("rope_theta", 10000.0))
        self.qk_norm = self.family == "qwen3" and o.get("qk_norm", True)
        self.skip_layer = o.get("skip_layer")
        self.vocab_size = c["vocab_size"]
        if c.get("rope_scaling"):
            raise ValueError(f"{model_dir}: rope_scaling is not supported")
        if self.family == "gemma":
            act = c.get("hidden_activation") or "gelu_pytorch_tanh"  # GemmaMLP ignores hidden_act
            self.bias = bool(c.get("attention_bias", False))
        else:
            act = c.get("hidden_act", "silu")
            self.bias = True if self.family == "qwen2" else bool(c.get("attention_bias", False))
        self.act = {"silu": silu, "gelu_pytorch_tanh": gelu_tanh}.get(act)
        if self.act is None:
            raise ValueError(f"{model_dir}: unsupported activation {act}")
        self.weights = reference.read_model_weights(model_dir)
        w = self.weights
        # Qwen2Config / Qwen3Config default tie_word_embeddings to False, GemmaConfig to True.
        tied = c.get("tie_word_embeddings", self.family == "gemma")
        if "lm_head.weight" in w:
            self.lm_head = w["lm_head.weight"]
        elif tied:
            self.lm_head = w["model.embed_tokens.weight"]
        else:
            raise ValueError(f"{model_dir}: tie_word_embeddings is false but lm_head.weight is missing")

    def _linear(self, x, name, bias):
        y = x @ self.weights[name + ".weight"].T
        return y + self.weights[name + ".bias"] if bias else y

    def hidden_states(self, ids, last_only=False):
        """The final-norm hidden states of every position, [n, hidden] (last_only: of the last position,
        [1, hidden]; the last layer then computes only that row, which is all a score needs)."""
        w = self.weights
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            raise ValueError("empty sequence")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError("token id outside the vocabulary")
        n = len(ids)
        gemma = self.family == "gemma"
        x = w["model.embed_tokens.weight"][ids]
        if gemma:
            x = x * float(np.float32(math.sqrt(self.hidden)))
        cos, sin = rope_cos_sin(np.arange(n), self.head_dim, self.theta)
        layers = [i for i in range(self.layers) if i != self.skip_layer]
        for i in layers:
            p = f"model.layers.{i}."
            h = rms_norm(x, w[p + "input_layernorm.weight"], self.eps, gemma)
            rows = 1 if last_only and i == layers[-1] else n  # queries (and everything after attention)
            q = self._linear(h[n - rows:], p + "self_attn.q_proj", self.bias)
            q = q.reshape(rows, self.heads, self.head_dim).transpose(1, 0, 2)
            k = self._linear(h, p + "self_attn.k_proj", self.bias).reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2)
            v = self._linear(h, p + "self_attn.v_proj", self.bias).reshape(n, self.kv_heads, self.head_dim).transpose(1, 0, 2)
            if self.qk_norm:
                q = rms_norm(q, w[p + "self_attn.q_norm.weight"], self.eps)
                k = rms_norm(k, w[p + "self_attn.k_norm.weight"], self.eps)
            q, k = apply_rope(q, cos[n - rows:], sin[n - rows:]), apply_rope(k, cos, sin)
            ctx = causal_attention(q, k, v, self.head_dim ** -0.5).transpose(1, 0, 2).reshape(rows, self.heads * self.head_dim)
            x = x[n - rows:] + self._linear(ctx, p + "self_attn.o_proj", False)
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps, gemma)
            up = self.act(self._linear(h, p + "mlp.gate_proj", False)) * self._linear(h, p + "mlp.up_proj", False)
            x = x + self._linear(up, p + "mlp.down_proj", False)
        return rms_norm(x, w["model.norm.weight"], self.eps, gemma)

    def last_hidden(self, ids):
        return self.hidden_states(ids, last_only=True)[-1]

    def last_logits(self, ids, token_ids):
        """The logits of `token_ids` at the last position (the only rows of lm_head an engine needs)."""
        h = self.last_hidden(ids)
        return [float(self.lm_head[t] @ h) for t in token_ids]


# --------------------------------------------------------------------------------------------------
# Scorers per family
# --------------------------------------------------------------------------------------------------

FAMILY_DEFAULT_MAX_LENGTH = {"qwen3": QWEN3_DEFAULT_MAX_LENGTH, "qwen2": MXBAI_DEFAULT_MAX_LENGTH,
                             "gemma": BGE_DEFAULT_MAX_LENGTH}


class DecoderReranker:
    """A model directory with its tokenizer and scoring rule:
    qwen3 (Qwen3-Reranker): logit = logit("yes") - logit("no") at the last position, score = sigmoid(logit)
      (= the card's softmax over [no, yes]);
    qwen2 (mxbai-rerank-v2): logit = logit("1") - logit("0"), score = sigmoid(logit);
    gemma (bge-reranker-v2-gemma): logit = logit("Yes"), the raw value FlagEmbedding returns; score =
      sigmoid(logit) (its normalize=True).
    `bpe`: a ByteLevelBpeRef-like object for the Qwen families (default: bpe_tokenizer's, from the files)."""

    def __init__(self, model_dir, bpe=None, overrides=None):
        self.lm = DecoderLM(model_dir, overrides)
        self.family = self.lm.family
        if self.family == "gemma":
            self.tokenizer = GemmaTokenizer.from_model_dir(model_dir)
            words = [BGE_YES]
        else:
            self.tokenizer = QwenTokenizer.from_model_dir(model_dir, bpe)
            words = [QWEN3_YES, QWEN3_NO] if self.family == "qwen3" else [MXBAI_YES, MXBAI_NO]
        tc = reference._read_json(model_dir, "tokenizer_config.json") or {}
        self.model_max_length = tc.get("model_max_length")
        # convert_tokens_to_ids("yes") (Qwen3) and tokenizer("1"/"Yes")["input_ids"][0] (mxbai, FlagEmbedding):
        # the same id when the word is a single token, which the test models guarantee.
        self.score_ids = []
        for word in words:
            ids = self.tokenizer.encode(word)
            tid = self.tokenizer.token_id(word)
            if len(ids) != 1 or tid != ids[0]:
                raise ValueError(f"{model_dir}: {word!r} is not a single token ({ids}, token id {tid})")
            self.score_ids.append(ids[0])

    def build_ids(self, query, document, instruction=None, max_length=None):
        if max_length is None:
            max_length = FAMILY_DEFAULT_MAX_LENGTH[self.family]
        if self.family == "qwen3":
            return qwen3_ids(self.tokenizer, query, document, instruction, max_length)
        if self.family == "qwen2":
            return mxbai_ids(self.tokenizer, query, document, instruction, max_length, self.model_max_length)
        if instruction is not None:
            raise ValueError("bge-reranker-v2-gemma takes a prompt, not an instruction")
        return bge_gemma_ids(self.tokenizer, query, document, max_length)

    def logit_of(self, ids):
        values = self.lm.last_logits(ids, self.score_ids)
        return values[0] - values[1] if len(values) == 2 else values[0]

    def score(self, query, document, instruction=None, max_length=None):
        if max_length is None:
            max_length = FAMILY_DEFAULT_MAX_LENGTH[self.family]
        ids = self.build_ids(query, document, instruction, max_length)
        logit = self.logit_of(ids)
        return {"query": query, "document": document, "instruction": instruction, "max_length": max_length,
                "ids": ids, "logit": logit, "score": sigmoid(logit)}

    def score_pairs(self, pairs, max_length=None, instruction=None):
        """[{"query", "document", "instruction", "max_length", "ids", "logit", "score"}]; a pair's own
        "instruction" / "max_length" keys win over the arguments."""
        return [self.score(p["query"], p["document"], p.get("instruction", instruction), p.get("max_length", max_length))
                for p in pairs]


# --------------------------------------------------------------------------------------------------
# Self-test: RoPE and the causal mask against hand-worked values
# --------------------------------------------------------------------------------------------------

def self_test():
    # RoPE, head_dim 4, theta 100: inv_freq = [1, 1/10]; position 2 -> angles [2, 0.2, 2, 0.2].
    cos, sin = rope_cos_sin([0, 1, 2], 4, 100.0)
    assert np.allclose(cos[2], np.cos([2.0, 0.2, 2.0, 0.2])) and np.allclose(sin[1], np.sin([1.0, 0.1, 1.0, 0.1]))
    x = np.array([[[1.0, 2.0, 3.0, 4.0]] * 3])  # one head, 3 positions
    y = apply_rope(x, cos, sin)
    # rotate_half pairs element j with j + 2: (x0, x2) rotated by angle a0, (x1, x3) by a1.
    for pos in range(3):
        a0, a1 = pos * 1.0, pos * 0.1
        want = [1 * math.cos(a0) - 3 * math.sin(a0), 2 * math.cos(a1) - 4 * math.sin(a1),
                3 * math.cos(a0) + 1 * math.sin(a0), 4 * math.cos(a1) + 2 * math.sin(a1)]
        assert np.allclose(y[0, pos], want), (pos, y[0, pos], want)
    assert np.allclose(y[0, 0], x[0, 0])  # position 0 is not rotated
    # Causal mask, 3 tokens, one head, head_dim 1, q = k = 0: uniform over the visible prefix.
    v = np.array([[[1.0], [2.0], [6.0]]])
    out = causal_attention(np.zeros((1, 3, 1)), np.zeros((1, 3, 1)), v, 1.0)
    assert np.allclose(out[0, :, 0], [1.0, 1.5, 3.0]), out
    # With q = k = [1] and scaling 1, every visible score is 1: still uniform; k = [0, 0, 100] must not leak
    # position 2 into positions 0 and 1.
    out = causal_attention(np.ones((1, 3, 1)), np.array([[[0.0], [0.0], [100.0]]]), v, 1.0)
    assert np.allclose(out[0, :2, 0], [1.0, 1.5]) and abs(out[0, 2, 0] - 6.0) < 1e-12, out
    # GQA: 2 query heads on 1 kv head read the same values.
    out = causal_attention(np.zeros((2, 3, 1)), np.zeros((1, 3, 1)), v, 1.0)
    assert np.allclose(out[0], out[1])
    # only_second truncation: the excess comes off the end of the second sequence.
    assert truncate_only_second([1, 2], [3, 4, 5], 4) == [1, 2, 3, 4]
    assert truncate_only_second([1, 2, 3], [4], 2) == [1, 2, 3, 4]  # cannot absorb: unchanged (HF logs an error)
    toks = [reference.AddedToken("<a>", 7), reference.AddedToken("<a><b>", 8), reference.AddedToken("<b>", 9)]
    for text in ["", "x", "<a>", "x<a><b>y<b><a>", "<a<b>><a><a>", "<<a>>"]:
        got = [p.id if isinstance(p, reference.AddedToken) else p for p in split_on_added_tokens(text, toks)]
        want = [p.id if isinstance(p, reference.AddedToken) else p for p in reference.split_on_added_tokens(text, toks)]
        assert got == want, (text, got, want)
    assert abs(sigmoid(0.0) - 0.5) < 1e-15 and abs(gelu_tanh(np.array(1.0)) - 0.8411919906) < 1e-9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--pairs", required=True, help="JSONL of {\"query\", \"document\"[, \"instruction\", \"max_length\"]}")
    parser.add_argument("--max-length", type=int, default=None,
                        help="default: the family's (Qwen3 8192, mxbai 8192, bge-gemma 512)")
    parser.add_argument("--instruction", default=None, help="Qwen3 / mxbai instruction (default: the family's)")
    args = parser.parse_args(argv)
    model = DecoderReranker(args.model_dir)
    for r in model.score_pairs(reference.read_pairs(args.pairs), args.max_length, args.instruction):
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    self_test()
    main()
