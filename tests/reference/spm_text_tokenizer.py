#!/usr/bin/python3
"""A Gemma-style sentencepiece tokenizer for the tests, and its expected ids.

    spm_text_tokenizer.py OUTDIR

trains a BPE sentencepiece model with byte fallback and Gemma's special ids (<pad>=0 <eos>=1 <bos>=2
<unk>=3, <start_of_turn>/<end_of_turn> as user-defined symbols; spm_train single-threaded, so the
model is the same on every run) on tests/data/corpus.txt plus multilingual lines, and writes
OUTDIR/tokenizer.model, OUTDIR/tokenizer_config.json (Hugging Face's added_tokens_decoder, as
Gemma ships it) and OUTDIR/tokenizer-cases.jsonl: {"text", "ids"} for each case, computed as
transformers' GemmaTokenizer does: added tokens cut out of the raw text, each piece between them
through python3-sentencepiece on its own.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import sentencepiece

from bpe_tokenizer import MULTILINGUAL, _AddedTokens, read_cases, read_corpus

SPM_FLAGS = ["--model_type=bpe", "--vocab_size=1200", "--character_coverage=0.995", "--byte_fallback=true",
             "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
             "--pad_piece=<pad>", "--eos_piece=<eos>", "--bos_piece=<bos>", "--unk_piece=<unk>",
             "--user_defined_symbols=<start_of_turn>,<end_of_turn>",
             "--add_dummy_prefix=false", "--remove_extra_whitespaces=false", "--normalization_rule_name=identity",
             "--split_digits=true", "--allow_whitespace_only_pieces=true",
             "--num_threads=1", "--input_sentence_size=0", "--shuffle_input_sentence=false", "--random_seed=1",
             "--minloglevel=2"]

GEMMA_CASES = ["<start_of_turn>user\nIs this relevant?<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos>",
               "<pad><unk> literal", "<start_of_turn", "<bos><bos>", "ʬ rare ʭ characters ʮ", "1234567"]


def train(outdir):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "corpus.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(read_corpus() + MULTILINGUAL) + "\n")
        cmd = ["spm_train", "--input=corpus.txt", "--model_prefix=tokenizer"] + SPM_FLAGS
        run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            raise SystemExit(f"spm_train failed ({run.returncode})")
        shutil.copy(os.path.join(tmp, "tokenizer.model"), os.path.join(outdir, "tokenizer.model"))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    train(outdir)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(outdir, "tokenizer.model"))
    tokens = []
    for piece in ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]:
        assert sp.id_to_piece(sp.piece_to_id(piece)) == piece, piece
        tokens.append({"id": sp.piece_to_id(piece), "content": piece, "lstrip": False, "rstrip": False,
                       "single_word": False, "normalized": False, "special": True})
    config = {"added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tokens},
              "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
              "tokenizer_class": "GemmaTokenizer"}
    with open(os.path.join(outdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1, ensure_ascii=False)
    added = _AddedTokens(tokens)
    with open(os.path.join(outdir, "tokenizer-cases.jsonl"), "w", encoding="utf-8") as f:
        for text in read_cases() + GEMMA_CASES:
            ids = []
            for piece, token in added.split(text):
                ids.extend([token] if token is not None else sp.encode(piece))
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
