#!/usr/bin/python3
"""`rerankd score` end to end: scores against the float64 reference, JSONL in and out, and the
errors a user sees for bad input (non-zero exit, a message naming the file and field)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from harness import BIN, DATA, expected, model, run_rerankd as run  # noqa: E402

TINY = model("tiny")


class ScoreCli(unittest.TestCase):
    def test_query_and_docs_print_logit_and_sigmoid(self):
        ref = expected("tiny")[:3]
        query = ref[0]["query"]
        same_query = [r for r in expected("tiny") if r["query"] == query]
        args = ["score", "--model", TINY, "--query", query]
        for r in same_query:
            args += ["--doc", r["document"]]
        out = run(*args)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len(lines), len(same_query))
        for line, r in zip(lines, same_query):
            logit, score = (float(x) for x in line.split("\t")[:2])
            self.assertAlmostEqual(logit, r["logit"], delta=1e-4)
            self.assertAlmostEqual(score, 1 / (1 + math.exp(-r["logit"])), delta=1e-5)

    def test_jsonl_in_and_out_match_the_reference(self):
        ref = expected("small")
        with tempfile.TemporaryDirectory() as tmp:
            pairs = os.path.join(tmp, "pairs.jsonl")
            scores = os.path.join(tmp, "scores.jsonl")
            with open(pairs, "w", encoding="utf-8") as f:
                for r in ref:
                    f.write(json.dumps({"query": r["query"], "document": r["document"]}, ensure_ascii=False) + "\n")
            out = run("score", "--model", os.path.join(DATA, "models", "small"), "--input", pairs,
                      "--output", scores, "--max-batch-tokens", "300")
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(scores, encoding="utf-8") as f:
                got = [json.loads(line) for line in f]
        self.assertEqual([g["index"] for g in got], list(range(len(ref))))
        worst = max(abs(g["logit"] - r["logit"]) for g, r in zip(got, ref))
        self.assertLess(worst, 1e-4)

    def test_model_from_environment(self):
        out = run("score", "--query", "q", "--doc", "d", env={"RERANKD_MODEL": TINY})
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_bad_model_exits_nonzero_naming_the_file(self):
        out = run("score", "--model", os.path.join(DATA, "bad", "config_bad_json"), "--query", "q", "--doc", "d")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("config.json", out.stderr)

    def test_bad_jsonl_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            pairs = os.path.join(tmp, "pairs.jsonl")
            with open(pairs, "w", encoding="utf-8") as f:
                f.write('{"query": "q", "document": "d"}\n{"query": 3, "document": "d"}\n')
            out = run("score", "--model", TINY, "--input", pairs)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("pairs.jsonl:2", out.stderr)
        self.assertIn("query", out.stderr)

    def test_device_flag_environment_and_config_file(self):
        out = run("score", "--model", TINY, "--device", "cpu", "--query", "q", "--doc", "d")
        self.assertEqual(out.returncode, 0, out.stderr)
        # A malformed device: a usage error (exit 2) naming it and the accepted forms, from the flag,
        # the environment or the configuration file alike.
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "rerankd.toml")
            with open(config, "w", encoding="utf-8") as f:
                f.write('[score]\ndevice = "gpu:1"\n')
            for args, env in ((["score", "--device", "gpu:1"], {}), (["score"], {"RERANKD_DEVICE": "gpu:1"}),
                              (["--config", config, "score"], {})):
                out = run(*args, "--model", TINY, "--query", "q", "--doc", "d", env=env)
                self.assertEqual(out.returncode, 2, (args, env, out.stderr))
                self.assertIn("device 'gpu:1'", out.stderr)
                self.assertIn("expected cpu, cuda or cuda:N", out.stderr)
        # CUDA in a build without it says so; in a CUDA build without a device, that there is none.
        help_text = run("score", "--help").stdout
        out = run("score", "--model", TINY, "--device", "cuda", "--query", "q", "--doc", "d")
        if "this build has no CUDA backend" in help_text:
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn("built without the CUDA backend", out.stderr)
        elif out.returncode != 0:
            self.assertIn("no CUDA device", out.stderr)

    def test_missing_model_and_missing_docs(self):
        env = {k: v for k, v in os.environ.items() if k != "RERANKD_MODEL"}
        out = subprocess.run([BIN, "score", "--query", "q", "--doc", "d"], capture_output=True, text=True,
                             env=env, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--model", out.stderr)
        out = run("score", "--model", TINY, "--query", "q")
        self.assertNotEqual(out.returncode, 0)


    def test_bert_model_scores_match_the_reference(self):
        ref = [r for r in expected("bert-tiny") if r["query"] == "Héllo WÖRLD"][:6]
        args = ["score", "--model", model("bert-tiny"), "--query", ref[0]["query"]]
        for r in ref:
            args += ["--doc", r["document"]]
        out = run(*args)
        self.assertEqual(out.returncode, 0, out.stderr)
        logits = [float(line.split("\t")[0]) for line in out.stdout.splitlines()]
        self.assertEqual(len(logits), len(ref))
        for logit, r in zip(logits, ref):
            self.assertAlmostEqual(logit, r["logit"], delta=1e-4)

    def test_decoder_prompts_with_their_instructions_match_the_reference(self):
        # Qwen3-Reranker's layout at its card's max_length: lines without and with an instruction.
        at_card = [r for r in expected("qwen3-tiny") if r["max_length"] == 8192]
        ref = [r for r in at_card if not r["instruction"]][:12] + [r for r in at_card if r["instruction"]][:12]
        self.assertEqual(sum(bool(r["instruction"]) for r in ref), 12)
        with tempfile.TemporaryDirectory() as tmp:
            pairs = os.path.join(tmp, "pairs.jsonl")
            scores = os.path.join(tmp, "scores.jsonl")
            with open(pairs, "w", encoding="utf-8") as f:
                for r in ref:
                    f.write(json.dumps({k: r[k] for k in ("query", "document", "instruction")}, ensure_ascii=False) + "\n")
            out = run("score", "--model", model("qwen3-tiny"), "--max-length", "8192", "--input", pairs, "--output", scores)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(scores, encoding="utf-8") as f:
                got = [json.loads(line) for line in f]
        self.assertLess(max(abs(g["logit"] - r["logit"]) for g, r in zip(got, ref)), 1e-4)
        told = next(r for r in ref if r["instruction"])
        out = run("score", "--model", model("qwen3-tiny"), "--max-length", "8192", "--query", told["query"],
                  "--doc", told["document"], "--instruction", told["instruction"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertAlmostEqual(float(out.stdout.split("\t")[0]), told["logit"], delta=1e-4)
        out = run("score", "--model", model("tiny"), "--query", "q", "--doc", "d", "--instruction", "judge")
        self.assertEqual(out.returncode, 2)
        self.assertIn("takes no instruction", out.stderr)

    def test_unsupported_architecture_names_it_and_the_file(self):
        out = run("score", "--model", os.path.join(os.environ["RERANKD_TESTDATA"], "bad",
                                                   "config_architecture_unsupported"), "--query", "q", "--doc", "d")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("DebertaV2ForSequenceClassification", out.stderr)
        self.assertIn("config.json", out.stderr)


if __name__ == "__main__":
    unittest.main()
