#!/usr/bin/python3
"""Rate limits per client and keys that fail closed, end to end over real sockets on 127.0.0.1
(tiny model): a client past its requests/s or pairs/s bucket gets 429 `rate_limited` with a
Retry-After computed from the bucket while other clients are still served; a request its pairs
bucket can never hold gets 413; metrics, /info and logs name keys by their ids only; and a key
setting that is set but holds no key stops start-up.

The rates are tiny (a token per 100 s or so) and the buckets a few tokens deep, so that no
refill during a test changes an answer."""
import hashlib
import os
import re
import time
import shutil
import tempfile
import unittest

from harness import Server, model, parse_metrics, run_rerankd

BODY = {"query": "where do pandas live?", "texts": ["Pandas live in the mountains of China."]}


def key_id(key):
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def docs(n):
    return {"query": "q", "texts": [f"document {i}" for i in range(n)]}


class KeysFailClosedTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rerankd-limits-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def refused(self, *args, env=None, global_args=()):
        result = run_rerankd(*global_args, "serve", "--model", model("tiny"), "--port", "0", *args, env=env, timeout=60)
        self.assertEqual(result.returncode, 2, (args, env, result.stdout, result.stderr))
        self.assertNotIn("listening", result.stdout)
        return result.stderr

    def test_a_key_variable_set_but_holding_no_key_stops_start_up(self):
        # Each once started a server that needed no key (a missing Kubernetes secret gives "").
        for value in ["", ",", ", ,"]:
            self.assertIn("RERANKD_API_KEYS", self.refused(env={"RERANKD_API_KEYS": value}), repr(value))
        self.assertIn("RERANKD_API_KEY_FILE", self.refused(env={"RERANKD_API_KEY_FILE": ""}))
        self.assertIn("--api-key-file", self.refused("--api-key-file", ""))
        self.assertIn("blank", self.refused("--api-key", ""))

    def test_a_key_file_or_config_without_keys_stops_start_up(self):
        path = os.path.join(self.dir, "keys")
        with open(path, "w") as f:
            f.write("# rotated out\n\n")
        self.assertIn(path + ": the API key file holds no key", self.refused("--api-key-file", path))
        config = os.path.join(self.dir, "rerankd.toml")
        for line in ['api-key = ""', "api-key = []", 'api-key-file = ""']:
            with open(config, "w") as f:
                f.write("[serve]\n" + line + "\n")
            self.assertIn("api-key", self.refused(global_args=("--config", config)), line)

    def test_malformed_limits_stop_start_up_naming_the_setting(self):
        self.assertIn("--trusted-proxy", self.refused("--trusted-proxy", "10.0.0.0/33"))
        self.assertIn("--tenant", self.refused("--tenant", "key-1a2b3c4d:weight=0"))
        self.assertIn("--tenant", self.refused("--tenant", "someone:requests=1"))
        self.assertIn("rate-limit-requests", self.refused(env={"RERANKD_RATE_LIMIT_REQUESTS": "-1"}))
        self.assertIn("rate-limit-pairs", self.refused("--rate-limit-pairs", "lots"))

    def test_key_id_prints_what_the_server_calls_a_key(self):
        result = run_rerankd("key-id", timeout=30, input_text="k-one\n# comment\n  k-two  \n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split(), [key_id("k-one"), key_id("k-two")])
        self.assertEqual(run_rerankd("key-id", timeout=30, input_text="\n").returncode, 2)


class KeyRateLimitTest(unittest.TestCase):
    """Server-wide limits of 3 requests and 3 pairs in a bucket (0.01/s for 300 s); the monitor key
    has no limits of its own (a tenant), the pairs key a pairs limit only."""
    KEYS = {name: f"k-{name}-{i}-0123456789" for i, name in
            enumerate(["requests", "quiet", "pairs", "bystander", "monitor", "counted"])}

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rerankd-limits-")
        cls.key_file = os.path.join(cls.dir, "keys")
        with open(cls.key_file, "w") as f:
            f.write("\n".join(cls.KEYS.values()) + "\n")
        ids = {name: key_id(key) for name, key in cls.KEYS.items()}
        cls.ids = ids
        cls.server = Server(model("tiny"), "--api-key-file", cls.key_file, "--rate-limit-requests", "0.01",
                            "--rate-limit-pairs", "0.01", "--rate-limit-burst-seconds", "300",
                            "--tenant", f"{ids['monitor']}:requests=0,pairs=0",
                            "--tenant", f"{ids['pairs']}:weight=2,requests=0")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.dir)

    def auth(self, name):
        return {"Authorization": "Bearer " + self.KEYS[name]}

    def metric(self, name, **labels):
        r = self.server.request("GET", "/metrics", headers=self.auth("monitor"))
        self.assertEqual(r.status, 200, r)
        wanted = set(labels.items())
        values = [v for (n, have), v in parse_metrics(r.body.decode()).items() if n == name and wanted <= have]
        self.assertEqual(len(values), 1, (name, labels))
        return values[0]

    def assert_rate_limited(self, r):
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error_type"], "rate_limited")
        retry_after = int(r.headers["retry-after"])
        # A token every 100 s, and this client just spent its last: from the bucket, not a constant.
        self.assertTrue(50 <= retry_after <= 100, retry_after)

    def test_a_client_past_its_requests_gets_429_while_another_key_is_served(self):
        for _ in range(3):
            self.assertEqual(self.server.post("/rerank", BODY, self.auth("requests")).status, 200)
        r = self.server.post("/rerank", BODY, self.auth("requests"))
        self.assert_rate_limited(r)
        self.assertIn(self.ids["requests"], r.json()["error"])
        self.assertNotIn(self.KEYS["requests"], r.body.decode())
        # Every route a key opens counts; /health needs none and is never limited.
        self.assertEqual(self.server.request("GET", "/info", headers=self.auth("requests")).status, 429)
        self.assertEqual(self.server.request("GET", "/health").status, 200)
        self.assertEqual(self.server.post("/rerank", BODY, self.auth("quiet")).status, 200)

    def test_pairs_per_second_and_a_request_its_bucket_can_never_hold(self):
        self.assertEqual(self.server.post("/rerank", docs(2), self.auth("pairs")).status, 200)
        self.assert_rate_limited(self.server.post("/rerank", docs(2), self.auth("pairs")))
        r = self.server.post("/rerank", docs(4), self.auth("pairs"))
        self.assertEqual(r.status, 413, r)
        self.assertIn("never", r.json()["error"])
        self.assertEqual(self.server.post("/rerank", docs(1), self.auth("pairs")).status, 200)  # the last token
        self.assertEqual(self.server.post("/rerank", docs(3), self.auth("bystander")).status, 200)

    def test_metrics_info_and_logs_name_keys_by_their_ids(self):
        for _ in range(3):
            self.server.post("/rerank", BODY, self.auth("counted"))
        self.assert_rate_limited(self.server.post("/rerank", BODY, self.auth("counted")))
        self.assertEqual(self.metric("rerankd_rate_limited_requests_total", tenant=self.ids["counted"],
                                     limit="requests"), 1)
        self.assertEqual(self.metric("rerankd_rate_limited_requests_total", tenant=self.ids["quiet"],
                                     limit="pairs"), 0)
        info = self.server.request("GET", "/info", headers=self.auth("monitor"))
        limits = info.json()["rate_limits"]
        self.assertEqual((limits["requests_per_second"], limits["pairs_per_second"], limits["burst_seconds"]),
                         (0.01, 0.01, 300))
        tenants = {t["id"]: t for t in limits["tenants"]}
        self.assertEqual(tenants[self.ids["pairs"]], {"id": self.ids["pairs"], "weight": 2,
                                                      "requests_per_second": 0, "pairs_per_second": 0.01})
        metrics = self.server.request("GET", "/metrics", headers=self.auth("monitor")).body.decode()
        log = self.server.log()
        for key in self.KEYS.values():
            for text in (metrics, info.body.decode(), log):
                self.assertNotIn(key, text)
        self.assertIn(f"tenant={self.ids['counted']}", log)
        self.assertIn(self.ids["monitor"], log)  # the start-up line lists the keys' ids


class AddressRateLimitTest(unittest.TestCase):
    """Without keys a client is its address; X-Forwarded-For counts only from a trusted proxy."""

    @classmethod
    def setUpClass(cls):
        # 127.0.0.0/8 is the proxy here (the test itself).
        cls.server = Server(model("tiny"), "--rate-limit-requests", "0.01", "--rate-limit-burst-seconds", "200",
                            "--trusted-proxy", "127.0.0.0/8", "--tenant", "addr-198.51.100.99:requests=0")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def via(self, address):
        return {"X-Forwarded-For": f"203.0.113.250, {address}"}

    def test_each_forwarded_address_has_its_own_bucket(self):
        for _ in range(2):
            self.assertEqual(self.server.post("/rerank", BODY, self.via("198.51.100.7")).status, 200)
        r = self.server.post("/rerank", BODY, self.via("198.51.100.7"))
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error_type"], "rate_limited")
        self.assertIn("retry-after", r.headers)
        self.assertEqual(self.server.post("/rerank", BODY, self.via("198.51.100.8")).status, 200)
        metrics = self.server.request("GET", "/metrics", headers=self.via("198.51.100.99"))
        self.assertEqual(metrics.status, 200, metrics)
        text = metrics.body.decode()
        # Addresses are not label values: one series for all of them.
        self.assertIn('rerankd_rate_limited_requests_total{tenant="address",limit="requests"} 1', text)
        self.assertNotIn("198.51.100.7", text)
        self.assertIn("tenant=addr-198.51.100.7", self.server.log())


class RefusedBeforeTheBodyTest(unittest.TestCase):
    """Keys and rates are checked on the header alone: the answer comes before the body is read; a
    small body is then read and dropped so the connection stays usable, a large one is not read and
    the connection closes after the answer."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(model("tiny"), "--api-key", "the-key")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_the_answer_comes_before_the_body(self):
        with self.server.raw_socket(timeout=30) as s:
            s.sendall(b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000000\r\n\r\n")  # and not a byte of the body
            head = s.recv(65536).decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 401"), head)
        self.assertIn("connection: close", head.lower())

    def test_a_small_refused_body_keeps_the_connection(self):
        conn = self.server.connect()
        try:
            r = self.server.post("/rerank", BODY, conn=conn)  # no key
            self.assertEqual(r.status, 401, r)
            self.assertNotEqual(r.headers.get("connection", "").lower(), "close")
            r = self.server.post("/rerank", BODY, {"Authorization": "Bearer the-key"}, conn=conn)
            self.assertEqual(r.status, 200, r)
            # A request without a body (GET) keeps it too.
            r = self.server.request("GET", "/info", conn=conn)
            self.assertEqual(r.status, 401, r)
            self.assertNotEqual(r.headers.get("connection", "").lower(), "close")
            self.assertEqual(self.server.request("GET", "/info", headers={"Authorization": "Bearer the-key"},
                                                 conn=conn).status, 200)
        finally:
            conn.close()


class EagerResendTest(unittest.TestCase):
    """A client that resends at once after a 429 waits before it is answered again; the wait is a
    timer, so the lower bound is exact on any machine."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(model("tiny"), "--rate-limit-requests", "0.001", "--rate-limit-burst-seconds", "1000")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_a_resend_at_once_after_a_429_is_held(self):
        with self.server.raw_socket(timeout=30) as s:
            request = (b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")

            def answer():
                s.sendall(request)
                started = time.monotonic()
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
                while len(rest) < length:
                    rest += s.recv(65536)
                return head.split(b" ")[1], time.monotonic() - started

            self.assertEqual(answer()[0], b"200")  # the bucket's one request
            self.assertEqual(answer()[0], b"429")
            self.assertEqual(answer()[0], b"429")  # sent the moment the 429 was read: one eager resend
            status, seconds = answer()  # and a second in a row: held
            self.assertEqual(status, b"429")
            self.assertGreaterEqual(seconds, 0.09)


if __name__ == "__main__":
    unittest.main()
