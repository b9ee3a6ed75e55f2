"""Several models in one server (`--model` repeated): the "model" field picks one on every route,
requests that name none go to the first, an unknown name gets 404 listing the names served, and
/info and /metrics say which model is which. Scores are checked against each model's float64
reference, so a request routed to the wrong model fails."""
import http.client
import math
import os
import re
import subprocess
import tempfile
import unittest

from harness import BIN, HOST, Server, exchange, expected, model, run_rerankd


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def first_query(name):
    rows = expected(name)
    query = rows[0]["query"]
    return query, [r for r in rows if r["query"] == query]


class SeveralModelsTest(unittest.TestCase):
    """tiny (XLM-R, the default) and bert-cased served as "bert"."""

    @classmethod
    def setUpClass(cls):
        # float32: the reference's tolerance (auto would be bf16 on a CPU that has it).
        cls.server = Server(model("tiny"), "--model", "bert=" + model("bert-cased"), "--dtype", "float32")
        cls.conn = cls.server.connect()

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.server.close()

    def post(self, path, body):
        return exchange(self.conn, "POST", path, body)

    def assert_cohere_scores(self, body, name):
        query, rows = first_query(name)
        r = self.post("/v1/rerank", dict(body, query=query, documents=[x["document"] for x in rows]))
        self.assertEqual(r.status, 200, r)
        for result in r.json()["results"]:
            self.assertAlmostEqual(result["relevance_score"], sigmoid(rows[result["index"]]["logit"]), delta=1e-5)
        return r.json()

    def assert_tei_logits(self, body, name):
        query, rows = first_query(name)
        r = self.post("/rerank", dict(body, query=query, texts=[x["document"] for x in rows], raw_scores=True))
        self.assertEqual(r.status, 200, r)
        for result in r.json():
            self.assertLess(abs(result["score"] - rows[result["index"]]["logit"]), 1e-4)

    def test_cohere_model_field_picks_the_model(self):
        self.assertEqual(self.assert_cohere_scores({"model": "bert"}, "bert-cased")["model"], "bert")
        self.assertEqual(self.assert_cohere_scores({"model": "tiny"}, "tiny")["model"], "tiny")

    def test_no_model_field_is_the_first_model(self):
        self.assertEqual(self.assert_cohere_scores({}, "tiny")["model"], "tiny")
        self.assert_tei_logits({}, "tiny")

    def test_tei_and_plain_shapes_take_the_model_field_too(self):
        self.assert_tei_logits({"model": "bert"}, "bert-cased")
        query, rows = first_query("bert-cased")
        r = self.post("/rerank", {"model": "bert", "query": query, "documents": [x["document"] for x in rows]})
        self.assertEqual(r.status, 200, r)
        for score, row in zip(r.json()["scores"], rows):
            self.assertAlmostEqual(score, sigmoid(row["logit"]), delta=1e-5)

    def test_unknown_model_is_404_naming_the_models_served(self):
        for path, body in (("/v1/rerank", {"model": "rerank-english-v3.0", "query": "q", "documents": ["d"]}),
                           ("/rerank", {"model": "nope", "query": "q", "texts": ["d"]})):
            r = self.post(path, body)
            self.assertEqual(r.status, 404, r)
            error = r.json()
            self.assertEqual(error["error_type"], "not_found")
            self.assertIn("'tiny'", error["error"])
            self.assertIn("'bert'", error["error"])
        # A name of any length is cut in the message, not echoed whole.
        r = self.post("/v1/rerank", {"model": "x" * 100000, "query": "q", "documents": ["d"]})
        self.assertEqual(r.status, 404)
        self.assertLess(len(r.body), 1000)

    def test_info_lists_every_model(self):
        info = exchange(self.conn, "GET", "/info").json()
        self.assertEqual(info["model_id"], "tiny")  # the default's facts stay at the top, as TEI has them
        self.assertEqual([m["model_id"] for m in info["models"]], ["tiny", "bert"])
        self.assertEqual([m["model_type"] for m in info["models"]], ["xlm-roberta", "bert"])
        self.assertEqual(info["models"][1]["model_dir"], model("bert-cased"))
        for m in info["models"]:
            self.assertGreater(m["batching"]["token_budget"], 0)
            self.assertTrue(m["score_cache"]["enabled"])

    def test_metrics_are_labelled_by_model(self):
        query, rows = first_query("bert-cased")
        before = {name: self.server.metric("rerankd_pairs_processed_total", model=name) for name in ("tiny", "bert")}
        # A query no earlier test sent, so that the score cache cannot answer it.
        # Distinct, non-blank documents: pairs with the same ids ("" and "   ") are scored once.
        documents = sorted({x["document"] for x in rows if x["document"].strip()})
        r = self.post("/v1/rerank", {"model": "bert", "query": query + " metrics", "documents": documents})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.metric("rerankd_pairs_processed_total", model="bert"),
                         before["bert"] + len(documents))
        self.assertEqual(self.server.metric("rerankd_pairs_processed_total", model="tiny"), before["tiny"])
        self.assertEqual(self.server.metric("rerankd_model_info", model="bert", model_type="bert"), 1)
        self.assertEqual(self.server.metric("rerankd_model_info", model="tiny", model_type="xlm-roberta"), 1)

    def test_load_generator_names_the_model(self):
        before = self.server.metric("rerankd_pairs_processed_total", model="bert")
        r = run_rerankd("bench", "--url", f"http://{HOST}:{self.server.port}", "--model-name", "bert", "--api", "plain",
                        "--requests", "4", "--warmup", "0", "--docs-per-request", "3", "--distinct", "4",
                        "--seed", "1415", "--json", "-")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.server.metric("rerankd_pairs_processed_total", model="bert"), before + 12)


class OneModelTest(unittest.TestCase):
    def test_any_model_name_reaches_the_only_model(self):
        # Cohere's and Jina's clients must send a model and default to their vendors' names.
        server = Server(model("tiny"))
        try:
            conn = server.connect()
            query, rows = first_query("tiny")
            r = exchange(conn, "POST", "/v1/rerank",
                         {"model": "rerank-english-v3.0", "query": query, "documents": [x["document"] for x in rows]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["model"], "tiny")  # what actually scored it
            conn.close()
        finally:
            server.close()


class ModelListSourcesTest(unittest.TestCase):
    """Besides the flag repeated, the list comes from RERANKD_MODEL (commas) or the config file's
    array. Started without --model, so not through Server (which passes one)."""

    def served_names(self, env, global_args=()):
        proc = subprocess.Popen([BIN, *global_args, "serve", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env)
        try:
            line = proc.stdout.readline()
            m = re.match(r"rerankd: listening on (\S+):(\d+)$", line.strip())
            self.assertTrue(m, f"first line {line!r}")
            conn = http.client.HTTPConnection(HOST, int(m.group(2)), timeout=60)
            info = exchange(conn, "GET", "/info").json()
            conn.close()
            return [x["model_id"] for x in info["models"]]
        finally:
            proc.terminate()
            proc.wait(60)

    def test_environment_list(self):
        env = dict(os.environ, RERANKD_MODEL=model("tiny") + ",bert=" + model("bert-cased"))
        self.assertEqual(self.served_names(env), ["tiny", "bert"])

    def test_config_file_array(self):
        env = {k: v for k, v in os.environ.items() if k != "RERANKD_MODEL"}
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "rerankd.toml")
            with open(config, "w", encoding="utf-8") as f:
                f.write('[serve]\nmodel = ["%s", "b2=%s"]\n' % (model("tiny"), model("bert-cased")))
            self.assertEqual(self.served_names(env, ("--config", config)), ["tiny", "b2"])


class ModelListErrorsTest(unittest.TestCase):
    def assert_usage_error(self, args, *needles, env=None):
        r = run_rerankd(*args, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        for needle in needles:
            self.assertIn(needle, r.stderr)

    def test_two_models_with_one_name_are_refused(self):
        self.assert_usage_error(["serve", "--port", "0", "--model", "m=" + model("tiny"), "--model", "m=" + model("small")],
                                "two models are named 'm'", "NAME=SOURCE")
        # Before any hub id is looked up (here it would fail: offline, nothing cached).
        self.assert_usage_error(["serve", "--port", "0", "--model", "m=no-org/no-model", "--model", "m=no-org/other"],
                                "two models are named 'm'", env={"HF_HUB_OFFLINE": "1"})

    def test_an_empty_name_or_source_is_refused(self):
        self.assert_usage_error(["serve", "--port", "0", "--model", "=" + model("tiny")], "NAME=SOURCE")
        self.assert_usage_error(["serve", "--port", "0", "--model", "x="], "NAME=SOURCE")

    def test_score_takes_one_model(self):
        self.assert_usage_error(["score", "--model", model("tiny"), "--model", model("small"), "--query", "q",
                                 "--doc", "d"], "takes one --model")


if __name__ == "__main__":
    unittest.main()
