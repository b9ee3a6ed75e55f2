#!/usr/bin/python3
"""`rerankd serve` end to end over real sockets on 127.0.0.1: every route and error, scores
against the float64 reference and the offline CLI, keep-alive under 64 concurrent clients,
admission control (429 + Retry-After), deadlines (504), client disconnects, fairness between a
big and a small request, and the graceful drain on SIGTERM.

ApiTest uses the tiny model; the rest use the small one with long documents so that requests
take long enough to overlap."""
import collections
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (BIN, SOURCE, Server, corpus_sentences, exchange, expected, long_documents, model, read_jsonl,
                     run_in_thread, wait_until, wait_until_read)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def by_query(rows):
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault(r["query"], []).append(r)
    return groups


class ApiTest(unittest.TestCase):
    """Routes, shapes and errors on one tiny-model server."""

    MAX_DOCS = 100
    MAX_BODY = 1 << 20

    @classmethod
    def setUpClass(cls):
        ref = expected("tiny")
        cls.max_length = collections.Counter(r["max_length"] for r in ref).most_common(1)[0][0]
        cls.ref = [r for r in ref if r["max_length"] == cls.max_length]
        try:
            cls.server = Server(model("tiny"), "--max-client-batch-size", str(cls.MAX_DOCS), "--max-body-bytes",
                                str(cls.MAX_BODY), "--max-length", str(cls.max_length))
        except RuntimeError as e:
            # RERANKD_DEVICE=cuda (server.api.cuda) where no GPU is: the start-up error says so.
            if "no CUDA device" in str(e):
                raise unittest.SkipTest("skipped: no CUDA device")
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.close()
        assert code == 0, code

    def setUp(self):
        self.conn = self.server.connect()

    def tearDown(self):
        self.conn.close()

    def post(self, path, body, headers=None):
        return exchange(self.conn, "POST", path, body, headers)

    def get(self, path, headers=None):
        return exchange(self.conn, "GET", path, None, headers)

    def assert_error(self, r, status, error_type):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.headers["content-type"], "application/json")
        body = r.json()
        self.assertEqual(body["error_type"], error_type, body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["error"])
        self.assertTrue(r.headers.get("x-request-id"))

    def assert_still_serving(self):
        c = self.server.connect()
        try:
            self.assertEqual(exchange(c, "GET", "/health").status, 200)
            r = exchange(c, "POST", "/rerank", {"query": "panda", "texts": ["bears", "trains"]})
            self.assertEqual(r.status, 200, r)
        finally:
            c.close()

    # --- operational routes ---------------------------------------------------------------------

    def test_health(self):
        r = self.get("/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_info_lists_model_and_every_limit(self):
        r = self.get("/info")
        self.assertEqual(r.status, 200)
        info = r.json()
        self.assertEqual(info["model_id"], "tiny")
        self.assertEqual(info["model_type"], "xlm-roberta")
        for key in ("version", "model_dir", "model_dtype", "precision", "backend", "device", "backend_description"):
            self.assertTrue(info[key], key)
        device = os.environ.get("RERANKD_DEVICE", "cpu")
        self.assertEqual(info["device"], "cuda:0" if device == "cuda" else device)
        self.assertEqual(info["backend"], info["device"].split(":")[0])
        self.assertGreaterEqual(info["threads"], 1)  # resolved, never the "0 = physical cores" option
        self.assertLessEqual(info["max_input_length"], self.max_length)
        limits = info["limits"]
        self.assertEqual(limits["max_client_batch_size"], self.MAX_DOCS)
        self.assertEqual(limits["max_body_bytes"], self.MAX_BODY)
        for key in ("max_batch_tokens", "max_batch_pairs", "max_queue_seconds", "max_concurrent_requests",
                    "request_timeout_seconds", "drain_timeout_seconds", "io_timeout_seconds", "io_threads", "tokenizer_threads"):
            self.assertGreater(limits[key], 0, key)
        self.assertEqual(limits["max_queued_tokens"], 0)  # no token cap unless set: the queue is bounded in seconds
        self.assertAlmostEqual(limits["max_queue_seconds"], limits["request_timeout_seconds"] * 2 / 3)
        # The batch size in force is measured (a warm-up pass runs before the first request).
        batching = info["batching"]
        self.assertGreater(batching["token_budget"], 0)
        self.assertLessEqual(batching["token_budget"], limits["max_batch_tokens"])
        self.assertGreater(batching["measured_tokens_per_second"], 0)
        # One model served: `models` lists it, with the same facts as the top level.
        self.assertEqual(len(info["models"]), 1)
        only = info["models"][0]
        for key in ("model_id", "model_dir", "model_type", "architecture", "precision", "device", "max_input_length"):
            self.assertEqual(only[key], info[key], key)
        self.assertEqual(only["batching"]["token_budget"], batching["token_budget"])

    def test_metrics_exposition(self):
        self.post("/rerank", {"query": "q", "texts": ["a", "b"]})
        r = self.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = r.body.decode()
        for name in ("rerankd_http_requests_total{route=\"/rerank\",status=\"200\"}",
                     "rerankd_http_request_duration_seconds_bucket{route=\"/rerank\",le=",
                     "rerankd_http_requests_in_flight ", "rerankd_http_open_connections ",
                     "rerankd_http_connections_accepted_total ", "rerankd_client_disconnects_total ",
                     "rerankd_request_pairs_total ", "rerankd_batch_pairs_bucket{model=\"tiny\",le=",
                     "rerankd_batch_token_budget{model=\"tiny\"} ", "rerankd_measured_tokens_per_second{model=\"tiny\"} ",
                     "rerankd_queue_work_seconds{model=\"tiny\"} ",
                     "rerankd_model_info{model=\"tiny\",model_type=\"xlm-roberta\",precision=\""):
            self.assertIn(name, text)

    # --- the three shapes -------------------------------------------------------------------------

    def test_tei_raw_scores_match_the_reference(self):
        worst = 0.0
        for query, rows in by_query(self.ref).items():
            r = self.post("/rerank", {"query": query, "texts": [x["document"] for x in rows], "raw_scores": True})
            self.assertEqual(r.status, 200, r)
            results = r.json()
            self.assertEqual(sorted(x["index"] for x in results), list(range(len(rows))))
            scores = [x["score"] for x in results]
            self.assertEqual(scores, sorted(scores, reverse=True))
            for x in results:
                worst = max(worst, abs(x["score"] - rows[x["index"]]["logit"]))
        self.assertLess(worst, 1e-4)

    def test_tei_default_scores_are_sigmoids_best_first_with_text(self):
        query, rows = next(iter(by_query(self.ref).items()))
        texts = [x["document"] for x in rows]
        r = self.post("/rerank", {"query": query, "texts": texts, "return_text": True})
        self.assertEqual(r.status, 200, r)
        results = r.json()
        self.assertEqual([x["score"] for x in results], sorted((x["score"] for x in results), reverse=True))
        for x in results:
            self.assertAlmostEqual(x["score"], sigmoid(rows[x["index"]]["logit"]), delta=1e-5)
            self.assertEqual(x["text"], texts[x["index"]])
        r = self.post("/rerank", {"query": query, "texts": texts})
        self.assertNotIn("text", r.json()[0])

    def test_plain_documents_shape_is_sigmoid_in_input_order(self):
        query, rows = next(iter(by_query(self.ref).items()))
        r = self.post("/rerank", {"query": query, "documents": [x["document"] for x in rows]})
        self.assertEqual(r.status, 200, r)
        scores = r.json()["scores"]
        self.assertEqual(len(scores), len(rows))
        for s, x in zip(scores, rows):
            self.assertAlmostEqual(s, sigmoid(x["logit"]), delta=1e-5)

    def test_cohere_shape_on_v1_and_v2(self):
        query, rows = max(by_query(self.ref).items(), key=lambda kv: len(kv[1]))
        docs = [x["document"] for x in rows]
        # Strings and {"text": ...} objects may be mixed.
        mixed = [d if i % 2 else {"text": d} for i, d in enumerate(docs)]
        ids = set()
        for path in ("/v1/rerank", "/v2/rerank"):
            r = self.post(path, {"model": "whatever", "query": query, "documents": mixed})
            self.assertEqual(r.status, 200, r)
            body = r.json()
            ids.add(body["id"])
            self.assertEqual(body["model"], "tiny")
            self.assertEqual(body["usage"]["total_tokens"], sum(len(x["ids"]) for x in rows))
            results = body["results"]
            self.assertEqual(sorted(x["index"] for x in results), list(range(len(rows))))
            scores = [x["relevance_score"] for x in results]
            self.assertEqual(scores, sorted(scores, reverse=True))
            for x in results:
                self.assertAlmostEqual(x["relevance_score"], sigmoid(rows[x["index"]]["logit"]), delta=1e-5)
                self.assertNotIn("document", x)
        self.assertEqual(len(ids), 2, "response ids must be unique per request")

        top = min(2, len(docs))
        r = self.post("/v1/rerank", {"query": query, "documents": docs, "top_n": top, "return_documents": True})
        results = r.json()["results"]
        self.assertEqual(len(results), top)
        for x in results:
            self.assertEqual(x["document"], {"text": docs[x["index"]]})
        r = self.post("/v1/rerank", {"query": query, "documents": docs, "top_n": 10 ** 6})
        self.assertEqual(len(r.json()["results"]), len(docs))

    def test_scores_equal_the_score_cli(self):
        pairs = read_jsonl(os.path.join(SOURCE, "tests", "data", "pairs.jsonl"))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pairs.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for p in pairs:
                    f.write(json.dumps({"query": p["query"], "document": p["document"]}, ensure_ascii=False) + "\n")
            out = subprocess.run([BIN, "score", "--model", model("tiny"), "--max-length", str(self.max_length),
                                  "--input", path], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        cli = [json.loads(line)["logit"] for line in out.stdout.splitlines()]
        self.assertEqual(len(cli), len(pairs))
        got = [None] * len(pairs)
        positions = collections.OrderedDict()
        for i, p in enumerate(pairs):
            positions.setdefault(p["query"], []).append(i)
        for query, where in positions.items():
            r = self.post("/rerank", {"query": query, "documents": [pairs[i]["document"] for i in where],
                                      "raw_scores": True})
            self.assertEqual(r.status, 200, r)
            for i, s in zip(where, r.json()["scores"]):
                got[i] = s
        worst = max(abs(a - b) for a, b in zip(got, cli))
        self.assertLess(worst, 1e-5)

    def test_truncation(self):
        long_doc = " ".join(corpus_sentences()[:60])
        r = self.post("/rerank", {"query": "panda", "texts": [long_doc], "truncate": False})
        self.assert_error(r, 422, "validation")
        right = self.post("/rerank", {"query": "panda", "texts": [long_doc], "raw_scores": True})
        left = self.post("/rerank", {"query": "panda", "texts": [long_doc], "raw_scores": True,
                                     "truncation_direction": "Left"})
        self.assertEqual(right.status, 200, right)
        self.assertEqual(left.status, 200, left)
        self.assertNotEqual(right.json()[0]["score"], left.json()[0]["score"])
        self.assert_error(self.post("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "Up"}),
                          422, "validation")

    # --- headers ----------------------------------------------------------------------------------

    def test_request_id_is_echoed_or_generated(self):
        r = self.get("/health", {"X-Request-Id": "client-id-42"})
        self.assertEqual(r.headers["x-request-id"], "client-id-42")
        a = self.post("/rerank", {"query": "q", "texts": ["a"]}).headers["x-request-id"]
        b = self.post("/rerank", {"query": "q", "texts": ["a"]}).headers["x-request-id"]
        self.assertTrue(a)
        self.assertNotEqual(a, b)

    def test_request_timeout_header_is_validated(self):
        body = {"query": "q", "texts": ["a"]}
        for bad in ("abc", "0", "-1", "nan", "inf", "1s"):
            self.assert_error(self.post("/rerank", body, {"X-Request-Timeout": bad}), 400, "validation")
        for good in ("5", "0.5", "1e3", ""):  # an empty header is "not given"
            self.assertEqual(self.post("/rerank", body, {"X-Request-Timeout": good}).status, 200, good)

    # --- errors -----------------------------------------------------------------------------------

    def test_bad_bodies(self):
        cases = [
            ("/rerank", b"{bad", 400),
            ("/rerank", b"", 400),
            ("/rerank", b"[1, 2]", 422),
            ("/rerank", b'{"texts": ["a"]}', 400),                                   # no query
            ("/rerank", b'{"query": null, "texts": ["a"]}', 400),
            ("/rerank", b'{"query": "q"}', 400),                                     # no texts
            ("/rerank", b'{"query": "q", "texts": []}', 400),
            ("/rerank", b'{"query": "q", "documents": []}', 400),
            ("/rerank", b'{"query": "q", "texts": ["a"], "documents": ["b"]}', 400),
            ("/rerank", b'{"query": 5, "texts": ["a"]}', 422),
            ("/rerank", b'{"query": "q", "texts": "a"}', 422),
            ("/rerank", b'{"query": "q", "texts": [1]}', 422),
            ("/rerank", b'{"query": "q", "texts": [{"text": "a"}]}', 422),
            ("/rerank", b'{"query": "q", "texts": ["a"], "raw_scores": "yes"}', 422),
            ("/rerank", b'{"query": "q", "texts": ["a"], "truncate": 1}', 422),
            ("/v1/rerank", b'{"documents": ["a"]}', 400),
            ("/v1/rerank", b'{"query": "q"}', 400),
            ("/v1/rerank", b'{"query": "q", "documents": []}', 400),
            ("/v1/rerank", b'{"query": "q", "documents": [{"txt": "a"}]}', 400),
            ("/v1/rerank", b'{"query": "q", "documents": [3]}', 422),
            ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": 0}', 422),
            ("/v2/rerank", b'{"query": "q", "documents": ["a"], "top_n": 1.5}', 422),
            ("/v2/rerank", b'{"query": "q", "documents": ["a"], "model": 7}', 422),
            ("/v2/rerank", b'{"query": "q", "documents": ["a"], "return_documents": "no"}', 422),
            # invalid UTF-8, raw and through an escape (a lone surrogate)
            ("/rerank", b'{"query": "\xff", "texts": ["a"]}', 400),
            ("/rerank", b'{"query": "q", "texts": ["ok", "\xc3\x28"]}', 400),
            ("/rerank", b'{"query": "q", "texts": ["\\ud800"]}', 400),
            ("/v1/rerank", b'{"query": "q", "documents": [{"text": "\xed\xa0\x80"}]}', 400),
        ]
        for path, body, status in cases:
            with self.subTest(path=path, body=body):
                self.assert_error(self.post(path, body), status, "validation")
        self.assert_still_serving()

    def test_too_many_documents_is_413(self):
        docs = ["d"] * (self.MAX_DOCS + 1)
        self.assert_error(self.post("/rerank", {"query": "q", "texts": docs}), 413, "payload_too_large")
        self.assert_error(self.post("/v1/rerank", {"query": "q", "documents": docs}), 413, "payload_too_large")
        self.assertEqual(self.post("/rerank", {"query": "q", "texts": docs[1:]}).status, 200)

    def test_unknown_route_and_wrong_method(self):
        self.assert_error(self.get("/nope"), 404, "not_found")
        self.assert_error(self.post("/v3/rerank", {"query": "q", "texts": ["a"]}), 404, "not_found")
        r = self.get("/rerank")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "POST")
        r = self.post("/health", {})
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "GET")
        # The connection survives routing errors.
        self.assertEqual(self.get("/health").status, 200)

    def documented_error_types(self):
        """status -> error_type, read from docs/api.md's Errors table (the contract)."""
        types = {}
        with open(os.path.join(SOURCE, "docs", "api.md"), encoding="utf-8") as f:
            for line in f:
                cells = [c.strip() for c in line.split("|")]
                if len(cells) > 3 and cells[1].isdigit() and cells[2].startswith("`"):
                    types[int(cells[1])] = cells[2].strip("`")
        self.assertGreaterEqual(len(types), 10, types)
        return types

    def test_every_routes_errors_have_the_common_body(self):
        types = self.documented_error_types()
        post_routes = ["/rerank", "/v1/rerank", "/v2/rerank"]
        get_routes = ["/health", "/info", "/metrics"]
        cases = [("GET", p, None, {}) for p in post_routes]            # 405
        cases += [("POST", p, {}, {}) for p in get_routes]             # 405
        cases += [("POST", p, b"{not json", {}) for p in post_routes]  # 400
        cases += [("POST", p, [], {}) for p in post_routes]            # 422
        cases += [("POST", p, {"query": "q", "texts": ["a"]}, {"X-Request-Timeout": "soon"}) for p in post_routes]
        cases += [("GET", "/nope", None, {}), ("DELETE", "/rerank", None, {})]
        seen = set()
        for method, path, body, headers in cases:
            r = exchange(self.conn, method, path, body, headers)
            with self.subTest(method=method, path=path, status=r.status):
                self.assertIn(r.status, types)
                self.assertEqual(set(r.json()), {"error", "error_type"}, r)
                self.assert_error(r, r.status, types[r.status])
                seen.add(r.status)
        # The transport's own refusals, which close the connection.
        for request, status in [(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
                                (b"NOT HTTP AT ALL\r\n\r\n", 400),
                                (b"GET /health HTTP/1.1\r\n\r\n", 400)]:
            head, _, body = self.raw_exchange(request).partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 %d" % status), head)
            self.assertEqual(set(json.loads(body)), {"error", "error_type"}, body)
            self.assertEqual(json.loads(body)["error_type"], types[status], body)
        self.assertEqual(seen, {400, 404, 405, 422})

    def test_oversized_body_is_refused_before_it_is_read(self):
        # A 100 MiB declared body: the answer must come without a byte of it being sent.
        with self.server.raw_socket(timeout=10) as s:
            s.sendall(b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 104857600\r\n\r\n")
            head = s.recv(65536).decode()
        self.assertTrue(head.startswith("HTTP/1.1 413"), head)
        self.assertIn("payload_too_large", head)
        # A client that sends the whole oversized body anyway still reads the 413.
        r = self.server.post("/rerank", b"x" * (2 * self.MAX_BODY))
        self.assert_error(r, 413, "payload_too_large")
        # Chunked bodies have no length up front; the limit applies as they arrive.
        c = self.server.connect()
        chunks = (b"y" * 65536 for _ in range(2 * self.MAX_BODY // 65536))
        c.request("POST", "/rerank", body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.status, 413)
        self.assertEqual(json.loads(r.read())["error_type"], "payload_too_large")
        c.close()
        self.assert_still_serving()

    def test_malformed_http_is_400(self):
        with self.server.raw_socket(timeout=10) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            head = s.recv(65536).decode()
        self.assertTrue(head.startswith("HTTP/1.1 400"), head)
        self.assert_still_serving()

    def raw_exchange(self, request, timeout=10):
        """Sends raw bytes, returns everything the server sent back before closing (or timing out)."""
        with self.server.raw_socket(timeout=timeout) as s:
            try:
                s.sendall(request)
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and stopped reading
            chunks = []
            try:
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            except (ConnectionResetError, socket.timeout):
                pass
        return b"".join(chunks)

    def test_http_1_1_needs_a_host_header(self):
        answer = self.raw_exchange(b"GET /health HTTP/1.1\r\n\r\n").decode()
        self.assertTrue(answer.startswith("HTTP/1.1 400"), answer)
        self.assertIn("Host", answer)
        answer = self.raw_exchange(b"GET /health HTTP/1.0\r\n\r\n").decode()
        self.assertTrue(answer.startswith("HTTP/1.0 200"), answer)
        self.assert_still_serving()

    def test_error_bodies_are_utf8_json_whatever_the_request_held(self):
        answer = self.raw_exchange(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 404"), answer)
        self.assertEqual(json.loads(body.decode("utf-8"))["error_type"], "not_found")  # strict UTF-8 decode

    def test_head_gets_headers_and_no_body(self):
        for path in ("/health", "/rerank"):
            answer = self.raw_exchange(f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head, _, body = answer.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 "), answer)
            self.assertEqual(body, b"", (path, answer))
        self.assert_still_serving()

    def test_oversized_chunk_extension_and_trailer_are_answered_400(self):
        # Each once went unbounded: a 256 MB extension took 396 MB of memory, a trailer field over
        # 65535 bytes threw inside the HTTP library and the connection closed with no answer.
        head = b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = b'{"query": "q", "texts": ["a"]}'
        extension = b"%x;ext=%s\r\n" % (len(body), b"e" * (4 << 20)) + body + b"\r\n0\r\n\r\n"
        trailer = b"%x\r\n" % len(body) + body + b"\r\n0\r\nX-Trailer: " + b"t" * 70000 + b"\r\n\r\n"
        for name, request in (("extension", head + extension), ("trailer", head + trailer)):
            answer = self.raw_exchange(request).decode(errors="replace")
            self.assertTrue(answer.startswith("HTTP/1.1 400"), (name, answer[:200]))
        self.assert_still_serving()

    # --- connections ------------------------------------------------------------------------------

    def test_keep_alive_reuses_one_connection(self):
        before = self.server.metric("rerankd_http_connections_accepted_total", conn=self.conn)
        for i in range(20):
            self.assertEqual(self.post("/rerank", {"query": f"q{i}", "texts": ["a", "b"]}).status, 200)
            self.assertEqual(self.get("/health").status, 200)
        after = self.server.metric("rerankd_http_connections_accepted_total", conn=self.conn)
        self.assertEqual(after, before)

    def test_64_concurrent_keep_alive_clients_get_serial_scores(self):
        groups = list(by_query(self.ref).items())
        jobs = [(q, [x["document"] for x in rows]) for q, rows in groups]
        serial = []
        for q, docs in jobs:
            r = self.post("/rerank", {"query": q, "documents": docs, "raw_scores": True})
            self.assertEqual(r.status, 200, r)
            serial.append(r.json()["scores"])
        before = self.server.metric("rerankd_http_connections_accepted_total", conn=self.conn)

        clients, rounds = 64, 3
        results = [[None] * len(jobs) for _ in range(clients)]
        errors = []
        start = threading.Barrier(clients)

        def client(k):
            try:
                c = self.server.connect()
                start.wait()
                for n in range(rounds):
                    for j in range((k + n) % len(jobs), len(jobs), max(1, len(jobs) // 4)):
                        q, docs = jobs[j]
                        r = exchange(c, "POST", "/rerank", {"query": q, "documents": docs, "raw_scores": True})
                        if r.status != 200:
                            errors.append(r)
                            return
                        results[k][j] = r.json()["scores"]
                c.close()
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "a client did not finish")
        self.assertEqual(errors, [])
        compared = 0
        for k in range(clients):
            for j, got in enumerate(results[k]):
                if got is None:
                    continue
                compared += 1
                self.assertEqual(len(got), len(serial[j]))
                for a, b in zip(got, serial[j]):
                    self.assertAlmostEqual(a, b, delta=1e-5)
        self.assertGreaterEqual(compared, clients * rounds)
        after = self.server.metric("rerankd_http_connections_accepted_total", conn=self.conn)
        self.assertEqual(after - before, clients, "each client must reuse its one connection")


class LoadTest(unittest.TestCase):
    """Scheduling behaviour seen over HTTP, on the small model with long documents."""

    MAX_LENGTH = 128

    @classmethod
    def setUpClass(cls):
        # Batches of 16 long pairs: each forward pass is short, so how requests share the model
        # shows in their latencies rather than being hidden inside one long batch.
        # A deadline and queue bound far beyond any test: these tests are about order, deadlines
        # given per request and cancellation, and a slow build (ASan) must not refuse their big
        # requests at admission. No score cache: they repeat their big requests to make work.
        cls.server = Server(model("small"), "--max-length", str(cls.MAX_LENGTH), "--max-batch-tokens",
                            str(16 * cls.MAX_LENGTH), "--request-timeout", "600", "--max-queue-seconds", "600",
                            "--score-cache-mb", "0")
        cls.docs = long_documents(1000)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.close()
        assert code == 0, code

    def big_request(self, n=1000, headers=None):
        return self.server.post("/rerank", {"query": "where do pandas live?", "texts": self.docs[:n]}, headers)

    def wait_until_queued(self):
        self.server.wait_for_metric("rerankd_queue_tokens", lambda v: v > 0)

    def test_small_request_is_not_stuck_behind_a_big_one(self):
        start = time.monotonic()
        big = run_in_thread(self.big_request)
        self.wait_until_queued()
        t0 = time.monotonic()
        r = self.server.post("/rerank", {"query": "panda", "texts": ["The giant panda eats bamboo."]})
        small_done = time.monotonic()
        self.assertEqual(r.status, 200, r)
        big_response, big_done = big()
        self.assertEqual(big_response.status, 200, big_response)
        self.assertEqual(len(big_response.json()), 1000)
        big_seconds = big_done - start
        self.assertGreater(big_seconds, 1.0, "the big request is too quick to show anything")
        self.assertLess(small_done, big_done)
        self.assertLess(small_done - t0, 0.25 * big_seconds,
                        f"small request took {small_done - t0:.2f}s, big {big_seconds:.2f}s")

    def test_tight_deadline_behind_a_big_request_is_answered_first(self):
        big = run_in_thread(self.big_request)
        self.wait_until_queued()
        r = self.server.post("/rerank", {"query": "q", "texts": ["a"]}, {"X-Request-Timeout": "2"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(big()[0].status, 200)

    def test_expired_deadline_is_504(self):
        r = self.server.post("/rerank", {"query": "q", "texts": ["a"]}, {"X-Request-Timeout": "0.000001"})
        self.assertEqual(r.status, 504, r)
        self.assertEqual(r.json()["error_type"], "timeout")

    def test_too_slow_even_on_an_idle_server_is_refused_at_once(self):
        # Not a 504 after the work, nor a 429 inviting a retry that cannot succeed: 413 at once,
        # saying how long it would take and what its deadline allows. (The check needs token counts:
        # it runs every 16 documents as they are tokenized, and refuses once those so far are too many.)
        processed = self.server.metric("rerankd_pairs_processed_total")
        refused = self.server.metric("rerankd_rejected_requests_total", default=0, reason="too_slow_even_idle")
        # A deadline of 40% of what the server's own measured speed says the request needs (its 1000
        # documents are each cut to MAX_LENGTH tokens): too short on any machine, however fast.
        rate = self.server.request("GET", "/info").json()["batching"]["measured_tokens_per_second"]
        self.assertGreater(rate, 0)
        deadline = 0.4 * 1000 * self.MAX_LENGTH / rate
        t0 = time.monotonic()
        r = self.big_request(headers={"X-Request-Timeout": f"{deadline:.3f}"})
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.json()["error_type"], "payload_too_large")
        self.assertIn("even on an idle server", r.json()["error"])
        self.assertIn("deadline", r.json()["error"])
        self.assertLess(elapsed, deadline)
        self.assertEqual(self.server.metric("rerankd_pairs_processed_total"), processed)
        self.assertEqual(self.server.metric("rerankd_rejected_requests_total", reason="too_slow_even_idle"), refused + 1)
        self.assertEqual(self.server.post("/rerank", {"query": "q", "texts": ["a"]}).status, 200)

    def test_client_disconnect_cancels_the_request(self):
        disconnects = self.server.metric("rerankd_client_disconnects_total")
        cancelled = self.server.metric("rerankd_dropped_pairs_total", reason="cancelled")
        body = json.dumps({"query": "where do pandas live?", "texts": self.docs}).encode()
        s = self.server.raw_socket()
        s.sendall(b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.wait_until_queued()
        s.close()
        self.server.wait_for_metric("rerankd_client_disconnects_total", lambda v: v > disconnects, timeout=5)
        self.assertGreater(self.server.metric("rerankd_dropped_pairs_total", reason="cancelled"), cancelled)
        # The abandoned pairs no longer occupy the model: a new request is answered promptly.
        t0 = time.monotonic()
        self.assertEqual(self.server.post("/rerank", {"query": "q", "texts": ["a"]}).status, 200)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.server.wait_for_metric("rerankd_queue_tokens", lambda v: v == 0, timeout=5)


class OverloadTest(unittest.TestCase):
    """Admission control: refused requests get 429 + Retry-After, admitted ones all get 200."""

    def test_concurrency_and_queue_limits(self):
        docs = long_documents(60)
        max_length = 128
        # Feeders at the model's priority: the second queue-token request below must be tokenized
        # while the first still runs, which a tokenizer below the model's priority cannot promise
        # on a busy 2-core machine.
        server = Server(model("small"), "--max-length", str(max_length), "--max-concurrent-requests", "3",
                        "--max-queued-tokens", "6000", "--max-batch-tokens", "1024", "--feeder-nice", "0")
        try:
            # Concurrency: 16 at once against a limit of 3.
            barrier = threading.Barrier(16)

            def one(k):
                c = server.connect()
                barrier.wait()
                try:
                    return exchange(c, "POST", "/rerank", {"query": f"pandas {k}", "texts": docs[k:k + 20]})
                finally:
                    c.close()

            joins = [run_in_thread(one, k) for k in range(16)]
            responses = [j()[0] for j in joins]
            statuses = collections.Counter(r.status for r in responses)
            self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
            self.assertGreater(statuses[429], 0, statuses)
            self.assertGreater(statuses[200], 0, statuses)
            for r in responses:
                if r.status == 429:
                    self.assertEqual(r.json()["error_type"], "overloaded")
                    self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
                else:
                    self.assertEqual(len(r.json()), 20)
            self.assertGreater(server.metric("rerankd_rejected_requests_total", reason="concurrency"), 0)

            # Queue tokens: 46 pairs of 128 tokens (5888) fill the 6000-token queue and run 8 pairs
            # per batch; another 46 cannot be admitted until nearly all of the first have run.
            first = run_in_thread(lambda: server.post("/rerank", {"query": "a", "texts": docs[:46]}))
            server.wait_for_metric("rerankd_queue_tokens", lambda v: v > 0)
            r = server.post("/rerank", {"query": "b", "texts": docs[14:60]})
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["error_type"], "overloaded")
            self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
            self.assertEqual(first()[0].status, 200)
            self.assertGreater(server.metric("rerankd_rejected_requests_total", reason="queue_tokens"), 0)

            # A request bigger than the whole queue can never be admitted: 413, not 429.
            r = server.post("/rerank", {"query": "c", "texts": docs[:50]})
            self.assertEqual(r.status, 413, r)
            self.assertEqual(server.post("/rerank", {"query": "d", "texts": docs[:2]}).status, 200)
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


class DrainTest(unittest.TestCase):
    """SIGTERM: in-flight requests finish with 200, new connections are refused, exit 0."""

    def test_sigterm_drains_in_flight_requests(self):
        docs = long_documents(240)
        server = Server(model("small"), "--max-length", "128", "--drain-timeout", "30")
        try:
            def one(k):
                return server.post("/rerank", {"query": f"pandas {k}", "texts": docs[k * 60:(k + 1) * 60]})

            joins = [run_in_thread(one, k) for k in range(4)]
            server.wait_for_metric("rerankd_queue_requests", lambda v: v >= 4)
            # An idle keep-alive connection: the drain closes it, after it has stopped admitting
            # requests, so its close tells the test that the drain has begun.
            idle = server.connect()
            self.assertEqual(server.request("GET", "/health", conn=idle).status, 200)
            # A request whose header is half sent when the drain starts is still answered (the
            # drain closes only connections that have sent nothing), once the server has read it.
            half = server.raw_socket()
            half.sendall(b"GET /health HTTP/1.1\r\n")
            wait_until_read(half)
            server.signal(signal.SIGTERM)
            idle.sock.settimeout(30)
            self.assertEqual(idle.sock.recv(1), b"", "the drain must close an idle keep-alive connection")
            idle.close()
            half.sendall(b"Host: x\r\n\r\n")
            head = half.recv(65536).decode()
            half.close()
            self.assertTrue(head.startswith("HTTP/1.1 503"), head)
            self.assertIn("draining", head)
            self.assertIn("Connection: close", head)

            def refused():
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                    return False
                except ConnectionRefusedError:
                    return True
            wait_until(refused, timeout=5, message="new connections refused while draining")

            for join in joins:
                r, _ = join()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(len(r.json()), 60)
            self.assertEqual(server.wait(30), 0)
            self.assertIn("drained", server.log())
        finally:
            server.close()

    def test_drain_timeout_bounds_the_exit(self):
        server = Server(model("small"), "--drain-timeout", "0.3", "--request-timeout", "600", "--max-queue-seconds", "600")
        try:
            documents = long_documents(1000)
            stuck_requests = [run_in_thread(lambda: server.post("/rerank", {"query": "q", "texts": documents}))
                              for _ in range(6)]
            server.wait_for_metric("rerankd_queue_tokens", lambda v: v > 0)
            t0 = time.monotonic()
            server.signal(signal.SIGTERM)
            self.assertEqual(server.wait(30), 0)
            # The bound is what is under test, not a latency guess: the admitted requests need
            # minutes, the drain timeout and the answers' grace under a second; 10 s is slack.
            self.assertLess(time.monotonic() - t0, 10)
            # The drain gave up on it, and says so: it once closed such connections with no answer.
            # Admission may refuse some at once (429: they could not finish in time); every one
            # admitted is still running when the drain gives up, and gets 503.
            statuses = []
            for stuck in stuck_requests:
                r, _ = stuck()
                statuses.append(r.status)
                self.assertIn(r.status, (429, 503), r)
                if r.status == 503:
                    self.assertIn("drain timeout", r.json()["error"])
            self.assertIn(503, statuses)
            self.assertIn("drain timeout", server.log())
        finally:
            server.close()


class BertServeTest(unittest.TestCase):
    """A BertForSequenceClassification model serves like an XLM-R one: TEI raw scores equal the
    float64 reference's logits, texts with special tokens written in them included."""

    def test_bert_model_serves_reference_logits(self):
        server = Server(model("bert-cased"), "--dtype", "float32")
        try:
            conn = server.connect()
            worst = 0.0
            for name in ("bert-cased", "special-bert-cased"):
                for query, rows in by_query(expected(name)).items():
                    r = exchange(conn, "POST", "/rerank",
                                 {"query": query, "texts": [x["document"] for x in rows], "raw_scores": True,
                                  "truncate": True})
                    self.assertEqual(r.status, 200, r)
                    for x in r.json():
                        worst = max(worst, abs(x["score"] - rows[x["index"]]["logit"]))
            self.assertLess(worst, 1e-4)
            conn.close()
        finally:
            self.assertEqual(server.stop(), 0)
            server.close()


if __name__ == "__main__":
    unittest.main()
