"""Decoder-LLM rerankers served beside a cross-encoder: Qwen3-Reranker's and bge-reranker-v2-gemma's
layouts answer every API shape with the float64 reference's scores, take a per-request
"instruction", and refuse what their prompts cannot do (chunks, Left truncation) with 422, while a
cross-encoder refuses an instruction."""
import math
import unittest

from harness import Server, exchange, expected, model


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def rows_of(name, instructed):
    """The reference rows at the family's default max_length, with or without an instruction, of
    the first query that has such rows; only prompts well inside it, which the server's own
    --max-length leaves as they are."""
    rows = [r for r in expected(name) if (r["instruction"] is not None) == instructed]
    longest = max(r["max_length"] for r in rows)
    rows = [r for r in rows if r["max_length"] == longest and len(r["ids"]) < longest * 3 // 4]
    query = rows[0]["query"]
    return [r for r in rows if r["query"] == query and r["instruction"] == rows[0]["instruction"]]


class DecoderServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # float32: the reference's tolerance; --max-length 8192: Qwen3-Reranker's own default. The
        # server's chunk default is the cross-encoder's: the decoders must score whole prompts anyway.
        cls.server = Server(model("tiny"), "--model", "qwen3=" + model("qwen3-tiny"), "--model",
                            "gemma=" + model("bge-gemma-tiny"), "--dtype", "float32", "--max-length", "8192",
                            "--max-chunks-per-doc", "2")
        cls.conn = cls.server.connect()

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.server.close()

    def post(self, path, body):
        return exchange(self.conn, "POST", path, body)

    def assert_scores(self, name, served, instructed):
        rows = rows_of(name, instructed)
        self.assertGreater(len(rows), 1)
        body = {"model": served, "query": rows[0]["query"], "documents": [r["document"] for r in rows]}
        if instructed:
            body["instruction"] = rows[0]["instruction"]
        r = self.post("/v1/rerank", body)
        self.assertEqual(r.status, 200, r)
        for result in r.json()["results"]:
            self.assertAlmostEqual(result["relevance_score"], sigmoid(rows[result["index"]]["logit"]), delta=1e-4)
        raw = self.post("/rerank", dict({k: v for k, v in body.items() if k != "documents"},
                                        texts=body["documents"], raw_scores=True))
        self.assertEqual(raw.status, 200, raw)
        for result in raw.json():
            self.assertLess(abs(result["score"] - rows[result["index"]]["logit"]), 2e-4)

    def test_qwen3_scores_are_the_references(self):
        self.assert_scores("qwen3-tiny", "qwen3", instructed=False)

    def test_qwen3_takes_an_instruction(self):
        self.assert_scores("qwen3-tiny", "qwen3", instructed=True)
        rows = rows_of("qwen3-tiny", instructed=True)
        plain = self.post("/v1/rerank", {"model": "qwen3", "query": rows[0]["query"], "documents": [rows[0]["document"]]})
        told = self.post("/v1/rerank", {"model": "qwen3", "query": rows[0]["query"], "documents": [rows[0]["document"]],
                                        "instruction": rows[0]["instruction"]})
        self.assertNotAlmostEqual(plain.json()["results"][0]["relevance_score"],
                                  told.json()["results"][0]["relevance_score"], places=6)

    def test_gemma_scores_are_the_references(self):
        self.assert_scores("bge-gemma-tiny", "gemma", instructed=False)

    def test_what_a_prompt_cannot_do_is_refused(self):
        for body, words in (({"max_chunks_per_doc": 2}, "chunks"), ({"return_chunks": True}, "chunks"),
                            ({"truncation_direction": "Left"}, "Left")):
            r = self.post("/rerank", dict(body, model="qwen3", query="q", texts=["d"]))
            self.assertEqual(r.status, 422, r)
            self.assertIn(words, r.json()["error"])
        r = self.post("/v1/rerank", {"model": "tiny", "query": "q", "documents": ["d"], "instruction": "judge"})
        self.assertEqual(r.status, 422, r)
        self.assertIn("instruction", r.json()["error"])
        r = self.post("/v1/rerank", {"model": "qwen3", "query": "q", "documents": ["d"], "instruction": 3})
        self.assertEqual(r.status, 422, r)
        self.assertIn("instruction", r.json()["error"])


if __name__ == "__main__":
    unittest.main()
