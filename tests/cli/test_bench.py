"""rerankd_bench end to end on the tiny model: the table, the --profile breakdown and the JSON a
script would read (the figures themselves are not checked: speed is never a test here)."""
import json
import os
import subprocess
import tempfile
import unittest

BENCH = os.environ["RERANKD_BENCH_BIN"]
TINY = os.path.join(os.environ["RERANKD_TESTDATA"], "models", "tiny")


class BenchTest(unittest.TestCase):
    def test_profile_and_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bench.json")
            run = subprocess.run([BENCH, "--model", TINY, "--dtypes", "float32,int8", "--lengths", "16,40",
                                  "--batches", "1,3", "--min-seconds", "0.05", "--profile", "--json", out],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("matmul ceiling", run.stdout)
            with open(out, encoding="utf-8") as f:
                results = json.load(f)["results"]
        self.assertEqual([(r["dtype"], r["length"], r["batch"]) for r in results],
                         [(d, n, b) for d in ("float32", "int8") for n in (16, 40) for b in (1, 3)])
        with open(os.path.join(TINY, "config.json"), encoding="utf-8") as f:
            layers = json.load(f)["num_hidden_layers"]
        for r in results:
            self.assertGreater(r["pairs_per_second"], 0)
            self.assertAlmostEqual(r["fraction_of_ceiling"], r["gflops"] / r["ceiling_gflops"], places=6)
            # Each layer's ops once a layer, the rest once a pass (the warm-up pass not counted).
            calls = {op["op"]: op["calls_per_forward"] for op in r["ops"]}
            self.assertEqual(calls["attention"], layers)
            self.assertEqual(sum(n for op, n in calls.items() if op.startswith("linear_residual_norm")), 2 * layers)
            self.assertEqual(calls["embed"], 1)
            self.assertEqual(calls["read"], 1)
            self.assertTrue(all(op["ms_per_forward"] >= 0 for op in r["ops"]))

    def test_bad_input_is_a_message_not_a_crash(self):
        for args, needle in ((["--model", "/nonexistent", "--dtypes", "int8"], "config.json"),
                             (["--model", TINY, "--dtypes", "int9"], "int9")):
            run = subprocess.run([BENCH, *args, "--lengths", "8", "--batches", "1"], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(run.returncode, 1)
            self.assertIn(needle, run.stderr)


if __name__ == "__main__":
    unittest.main()
