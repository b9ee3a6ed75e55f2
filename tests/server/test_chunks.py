#!/usr/bin/python3
"""Long documents by chunks, FlagEmbedding's truncation and the score cache over HTTP: the request
fields on every route, their errors, the chunk each result reports, scores against the float64
reference (expected/chunks-tiny.jsonl), and the cache's counts on /metrics and /info."""
import math
import time
import unittest

from harness import Server, expected, model


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


class ChunksTest(unittest.TestCase):
    MAX_LENGTH = 64

    @classmethod
    def setUpClass(cls):
        cls.rows = [r for r in expected("chunks-tiny") if r["max_length"] == cls.MAX_LENGTH]
        cls.server = Server(model("tiny"), "--max-length", str(cls.MAX_LENGTH), "--max-client-batch-size", "50")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.close()
        assert code == 0, code

    def row(self, truncation, **chunking):
        return next(r for r in self.rows if r["truncation"] == truncation and r["chunking"] == chunking)

    def test_cohere_route_scores_by_the_best_window(self):
        ref = self.row("fast", max_chunks=3)
        r = self.server.post("/v1/rerank", {"query": ref["query"], "documents": [ref["document"], "hi"],
                                            "max_chunks_per_doc": 3, "return_chunks": True})
        self.assertEqual(r.status, 200, r)
        first = next(x for x in r.json()["results"] if x["index"] == 0)
        self.assertAlmostEqual(first["relevance_score"], sigmoid(ref["logit"]), delta=1e-5)
        self.assertEqual(first["chunk"], {"index": ref["index"], "count": 3, "char_start": ref["char_start"],
                                          "char_end": ref["char_end"]})
        window = ref["document"].encode("utf-8")[ref["char_start"]:ref["char_end"]].decode("utf-8")
        self.assertIn(window, ref["document"])
        other = next(x for x in r.json()["results"] if x["index"] == 1)
        self.assertEqual(other["chunk"]["count"], 1)
        # Every window's tokens count, and the short document's pair (at most max_length).
        self.assertGreater(r.json()["usage"]["total_tokens"], sum(map(len, ref["ids"])))
        self.assertLessEqual(r.json()["usage"]["total_tokens"], sum(map(len, ref["ids"])) + self.MAX_LENGTH)

    def test_tokens_per_doc_alone_chunks_and_flagembedding_per_request(self):
        ref = self.row("flagembedding", max_chunks=None, max_tokens=150)
        r = self.server.post("/rerank", {"query": ref["query"], "texts": [ref["document"]], "raw_scores": True,
                                         "truncation": "flagembedding", "max_tokens_per_doc": 150,
                                         "return_chunks": True})
        self.assertEqual(r.status, 200, r)
        self.assertAlmostEqual(r.json()[0]["score"], ref["logit"], delta=1e-4)
        self.assertEqual(r.json()[0]["chunk"]["count"], ref["count"])
        plain = self.row("flagembedding", max_chunks=1)
        r = self.server.post("/rerank", {"query": plain["query"], "documents": [plain["document"]], "raw_scores": True,
                                         "truncation": "flagembedding", "return_chunks": True})
        self.assertEqual(r.status, 200, r)
        self.assertAlmostEqual(r.json()["scores"][0], plain["logit"], delta=1e-4)
        self.assertEqual(r.json()["chunks"][0]["count"], 1)

    def test_a_megabyte_document_costs_only_its_windows(self):
        huge = "The giant panda lives in the mountains of central China. " * 18000
        t0 = time.monotonic()
        r = self.server.post("/v1/rerank", {"query": "panda", "documents": [huge], "max_chunks_per_doc": 2,
                                            "return_chunks": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["results"][0]["chunk"]["count"], 2)
        self.assertLess(r.json()["usage"]["total_tokens"], 2 * self.MAX_LENGTH + 1)
        print(f"[ 1 MB document, 2 windows ] {time.monotonic() - t0:.3f} s")
        # Asked for more windows than the request's pair limit (--max-client-batch-size 50): 413.
        r = self.server.post("/v1/rerank", {"query": "panda", "documents": [huge], "max_chunks_per_doc": 1000})
        self.assertEqual(r.status, 413, r)
        self.assertIn("chunks", r.json()["error"])

    def test_invalid_fields(self):
        for body, status in [({"max_chunks_per_doc": 0}, 422), ({"max_chunks_per_doc": "3"}, 400),
                             ({"max_tokens_per_doc": 0}, 422), ({"max_tokens_per_doc": 1.5}, 400),
                             ({"chunk_overlap_tokens": -1}, 422), ({"chunk_overlap_tokens": 1000, "max_chunks_per_doc": 2}, 422),
                             ({"truncation": "only_second"}, 422), ({"truncation": 1}, 400),
                             ({"return_chunks": "yes"}, 422),
                             ({"max_chunks_per_doc": 2, "truncation_direction": "Left"}, 422)]:
            r = self.server.post("/rerank", dict({"query": "q", "texts": ["a " * 200]}, **body))
            self.assertEqual(r.status, status, (body, r))
            self.assertIn(next(iter(body)), r.json()["error"])

    def test_cache_answers_repeats_with_the_same_scores(self):
        body = {"query": "cached?", "documents": [f"document {i} about pandas" for i in range(6)], "raw_scores": True}
        hits = self.server.metric("rerankd_score_cache_lookups_total", default=0, result="hit")
        processed = self.server.metric("rerankd_pairs_processed_total")
        first = self.server.post("/rerank", body)
        again = self.server.post("/rerank", body)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json(), again.json())
        self.assertEqual(self.server.metric("rerankd_score_cache_lookups_total", result="hit"), hits + 6)
        self.assertEqual(self.server.metric("rerankd_pairs_processed_total"), processed + 6)
        info = self.server.request("GET", "/info").json()
        self.assertTrue(info["score_cache"]["enabled"])
        self.assertEqual(info["score_cache"]["max_bytes"], 64 << 20)
        self.assertGreaterEqual(info["score_cache"]["hits"], 6)
        self.assertEqual(info["pairs"]["truncation"], "longest_first")


if __name__ == "__main__":
    unittest.main()
