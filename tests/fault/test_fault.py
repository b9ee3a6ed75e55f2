#!/usr/bin/python3
"""Fault injection (issue 14): hostile model files, clients that vanish at each stage of a request
or stop reading their answer, a replica killed behind nginx under load, file descriptors and
address space running out. Each case asserts that the server answers, refuses or exits with a
clear message, and that no request it admitted goes unanswered. The matrix of cases and outcomes
is in docs/operations.md ("Faults"). Standard library only, real sockets, real processes."""
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
from harness import BIN, HOST, Server, model, run_rerankd, wait_until  # noqa: E402
from test_ops import NGINX_CONF, free_port, wait_for_port  # noqa: E402

ST = "model.safetensors"
BODY = {"query": "where do pandas live?", "texts": ["Pandas live in the mountains of China.", "hi"]}


def is_asan_build():
    """ASan reserves terabytes of address space for its shadow: an address-space limit cannot apply."""
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True)
    return "libasan" in ldd.stdout


def http_request(path="/rerank", body=None, extra_headers=""):
    payload = json.dumps(body if body is not None else BODY).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra_headers}"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def read_status(sock):
    """The status of the HTTP response arriving on `sock` (its headers read, the body left)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a status line; got {data!r}")
        data += chunk
    return int(data.split(b" ", 2)[1])


def assert_exits_with_a_message(test, result, name):
    """A refusal: a non-zero exit (not a signal), and a message that names the file."""
    test.assertGreater(result.returncode, 0, f"{name}: exit {result.returncode}\n{result.stderr}")
    test.assertIn(ST, result.stderr, f"{name}: the message does not name {ST}: {result.stderr}")


class HostileModelTest(unittest.TestCase):
    """Copies of the tiny model cut short or corrupted at many places (bad/ in the testdata holds
    one crafted case per defect class, for the loader's unit test; these are the blunt ones)."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="rerankd-fault-")
        with open(os.path.join(model("tiny"), ST), "rb") as f:
            cls.good = f.read()
        cls.header_len = int.from_bytes(cls.good[:8], "little")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def model_with(self, name, data):
        d = os.path.join(self.work, name)
        shutil.copytree(model("tiny"), d)
        with open(os.path.join(d, ST), "wb") as f:
            f.write(data)
        return d

    def score(self, model_dir):
        return run_rerankd("score", "--model", model_dir, "--query", "q", "--doc", "d", timeout=60)

    def test_truncated_anywhere_is_refused_naming_the_file(self):
        h = 8 + self.header_len
        cuts = [0, 1, 7, 8, 9, h // 2, h - 1, h, h + 1, h + 4096, len(self.good) // 2, len(self.good) - 4,
                len(self.good) - 1]
        for cut in cuts:
            with self.subTest(cut=cut):
                result = self.score(self.model_with(f"cut{cut}", self.good[:cut]))
                assert_exits_with_a_message(self, result, f"cut at {cut}")

    def test_corrupted_header_bytes_load_or_are_refused(self):
        # Random bytes in the length and the JSON header: whatever they spell, a named error or
        # (rarely: a changed digit inside a tensor's name) a model that still scores; never a signal.
        rng = random.Random(14)
        for trial in range(40):
            data = bytearray(self.good)
            for _ in range(rng.choice([1, 2, 8])):
                data[rng.randrange(0, 8 + self.header_len)] = rng.randrange(256)
            with self.subTest(trial=trial):
                result = self.score(self.model_with(f"flip{trial}", bytes(data)))
                if result.returncode != 0:
                    assert_exits_with_a_message(self, result, f"trial {trial}")

    def test_garbage_and_zero_weights(self):
        h = 8 + self.header_len
        nan = b"\x00\x00\xc0\x7f"  # float32 NaN, little-endian
        for name, data in [("random_data", self.good[:h] + random.Random(1).randbytes(len(self.good) - h)),
                           ("nan_data", self.good[:h] + nan * ((len(self.good) - h) // 4)),
                           ("zero_file", b"\x00" * len(self.good))]:
            with self.subTest(name=name):
                # Random float32 bits hold NaNs and infinities, refused at load like the NaNs.
                assert_exits_with_a_message(self, self.score(self.model_with(name, data)), name)


class DisconnectTest(unittest.TestCase):
    """A client that goes away mid-headers, mid-body, right after sending, while its request waits
    behind another, and while it is being scored. The server keeps serving, counts the request out
    (no connection left open) and still answers every other request."""

    @classmethod
    def setUpClass(cls):
        # One scoring thread and a big first request, so that a second one really waits.
        cls.server = Server(model("small"), "--threads", "1", "--io-threads", "2", "--request-timeout", "600")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def big_request(self):
        # A new query each time: a repeat would be answered from the score cache, never queued.
        self.requests_made = getattr(self, "requests_made", 0) + 1
        return http_request(body={"query": f"what is panda? {self.requests_made} " * 20,
                                  "texts": [f"document {i} about bears and bamboo " * 30 for i in range(48)]})

    def connections(self):
        return self.server.metric("rerankd_http_open_connections")

    def assert_connections_back_to(self, baseline):
        # The /metrics request's own connection is open while it is answered: one more.
        self.server.wait_for_metric("rerankd_http_open_connections", lambda v: v <= baseline + 1)

    def test_1_mid_headers_mid_body_and_right_after_sending(self):
        baseline = self.connections()
        whole = http_request()
        for stage, sent in [("mid-headers", whole[:20]), ("mid-body", whole[:-5]), ("after sending", whole)]:
            with self.subTest(stage=stage):
                s = self.server.raw_socket()
                s.sendall(sent)
                s.close()
                self.assertEqual(self.server.post("/rerank", BODY).status, 200)
        self.assert_connections_back_to(baseline)

    def test_2_while_queued_and_while_scored(self):
        disconnects = self.server.metric("rerankd_client_disconnects_total")
        baseline = self.connections()
        first = self.server.raw_socket(timeout=600)
        first.sendall(self.big_request())  # occupies the one scoring thread
        self.server.wait_for_metric("rerankd_queue_requests", lambda v: v >= 1)
        queued = self.server.raw_socket()
        queued.sendall(self.big_request())  # waits behind the first
        self.server.wait_for_metric("rerankd_queue_requests", lambda v: v >= 2)
        queued.close()
        self.server.wait_for_metric("rerankd_client_disconnects_total", lambda v: v >= disconnects + 1)
        self.assertEqual(read_status(first), 200)  # the one still there is answered
        first.close()

        scored = self.server.raw_socket()
        scored.sendall(self.big_request())
        self.server.wait_for_metric("rerankd_queue_requests", lambda v: v >= 1)
        scored.close()  # while its first pass runs: the rest of its pairs are dropped
        self.server.wait_for_metric("rerankd_client_disconnects_total", lambda v: v >= disconnects + 2)
        self.server.wait_for_metric("rerankd_queue_requests", lambda v: v == 0)
        self.assertEqual(self.server.post("/rerank", BODY).status, 200)
        self.assert_connections_back_to(baseline)
        self.assertEqual(self.server.proc.poll(), None)


class SlowReaderTest(unittest.TestCase):
    """A client that asks for a big answer and never reads it: the write blocks on a full socket,
    other clients are served meanwhile, and --io-timeout closes the stuck connection."""

    def test_a_client_that_stops_reading_is_cut_off_and_blocks_nobody(self):
        server = Server(model("tiny"), "--io-timeout", "2", "--io-threads", "1")
        try:
            baseline = server.metric("rerankd_http_open_connections")
            # return_text echoes ~6 MB: more than the loopback socket buffers hold.
            body = {"query": "q", "texts": ["panda " * 20000 for _ in range(50)], "return_text": True}
            stuck = socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.connect((HOST, server.port))
            stuck.sendall(http_request(body=body))
            # One io thread: if the stuck write blocked it, these would not be answered.
            server.wait_for_metric("rerankd_http_requests_total", lambda v: v >= 1, timeout=60, default=0,
                                   route="/rerank", status="200")  # counted as its write begins
            for _ in range(3):
                self.assertEqual(server.post("/rerank", BODY).status, 200)
            # Past --io-timeout the server gives up on the write and closes the connection.
            server.wait_for_metric("rerankd_http_open_connections", lambda v: v <= baseline + 1, timeout=30)
            stuck.close()
        finally:
            server.close()


class ReplicaKilledTest(unittest.TestCase):
    """Two replicas behind Debian's nginx (deploy/nginx/); one is SIGKILLed under load. The other
    keeps answering; only requests that were inside the dead one can fail (nginx answers them 502,
    and never resends a POST it has sent). SIGTERM under load, where nothing may fail, is
    tests/ops (NginxScaleOutTest.test_3)."""

    def test_sigkill_of_one_replica_under_load(self):
        work = tempfile.mkdtemp(prefix="rerankd-fault-nginx-")
        servers = [Server(model("tiny"), "--threads", "1", "--io-threads", "1") for _ in range(2)]
        port = free_port()
        upstreams = "".join(f"    server {HOST}:{s.port} max_fails=1 fail_timeout=30s;\n" for s in servers)
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            conf = NGINX_CONF.format(work=work, source=os.environ.get("RERANKD_SOURCE", os.path.join(HERE, "..", "..")),
                                     host=HOST, port=port, tls_port=free_port(), servers=upstreams)
            f.write(conf.replace(" ssl;", ";").replace("    ssl_certificate", "    # ssl_certificate"))
        nginx = subprocess.Popen(["nginx", "-c", f"{work}/nginx.conf", "-p", work],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(port)
            concurrency = 8
            bench = subprocess.Popen([BIN, "bench", "--url", f"http://{HOST}:{port}", "--docs-per-request", "4",
                                      "--doc-tokens", "24", "--concurrency", str(concurrency), "--duration", "6",
                                      "--warmup", "0", "--retries", "0", "--json", "-"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # Under load: once the victim has answered some of the bench's requests, not after a
            # guessed delay; and the kill must land while the bench is still sending.
            servers[0].wait_for_metric("rerankd_http_requests_total", lambda v: v >= 20, timeout=60, default=0,
                                       route="/rerank", status="200")
            servers[0].proc.send_signal(signal.SIGKILL)
            self.assertIsNone(bench.poll(), "the bench ended before the replica was killed")
            out, err = bench.communicate(timeout=300)
            self.assertEqual(bench.returncode, 0, err)
            report = json.loads(out)
            print(f"\nreplica SIGKILLed mid-run: sent {report['sent']}, ok {report['ok']}, failed {report['failed']}, "
                  f"timeout {report['timeout']}")
            self.assertEqual(servers[0].proc.wait(10), -signal.SIGKILL)
            # At most the requests inside the dead replica when it died: one per client.
            self.assertLessEqual(report["failed"] + report["timeout"], concurrency, report)
            self.assertEqual(report["ok"] + report["failed"] + report["timeout"] + report["rejected"], report["sent"])
            self.assertGreater(report["ok"], report["sent"] // 2, report)
            # The survivor answers everything after the death.
            for _ in range(5):
                conn = socket.create_connection((HOST, port), timeout=30)
                conn.sendall(http_request())
                self.assertEqual(read_status(conn), 200)
                conn.close()
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)
            for s in servers:
                s.kill()
                s.close()
            shutil.rmtree(work, ignore_errors=True)


class ResourceLimitTest(unittest.TestCase):
    def test_file_descriptors_exhausted_then_recovered(self):
        server = Server(model("tiny"), "--io-threads", "1")
        try:
            keep = server.connect()
            self.assertEqual(server.post("/rerank", BODY, conn=keep).status, 200)  # opened before the limit
            in_use = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
            soft, hard = resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE)
            resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (in_use + 2, hard))
            # More clients than descriptors: the kernel completes their handshakes, the server
            # cannot accept them all.
            extra = [server.raw_socket() for _ in range(6)]
            for s in extra:
                s.sendall(http_request())
            wait_until(lambda: "accept failed: Too many open files" in server.log(), timeout=30,
                       message=lambda: "the refused accept logged; log:\n" + server.log())
            # The connection it already had is still served.
            self.assertEqual(server.post("/rerank", BODY, conn=keep).status, 200)
            # Descriptors come back: every waiting client is accepted and answered.
            resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
            for s in extra:
                self.assertEqual(read_status(s), 200)
                s.close()
            keep.close()
            self.assertIn("accepting connections again", server.log())
            self.assertEqual(server.log().count("accept failed"), 1, "one line per episode, not one per retry")
        finally:
            server.close()

    @unittest.skipIf(is_asan_build(), "ASan's shadow memory needs more address space than any limit leaves")
    def test_address_space_limited_at_load(self):
        # From a limit where nothing fits to one where the tiny model loads: each either serves or
        # exits non-zero with a message, never a signal or a hang.
        outcomes = {}
        # Not 128-320 MB: there the libraries load and the server starts, and oneDNN's JIT, making
        # a primitive during the warm-up pass, can die on a failed mmap with SIGSEGV inside libdnnl
        # (at 128 MB on an AVX2 CPU; at 256 MB, in 3 runs of 4, on an AVX-512 one, whose kernels
        # are larger). That is oneDNN's, not ours to catch; docs/operations.md lists it as a known
        # limit.
        for mb in (64, 512, 4096):
            def limit(mb=mb):
                resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
            proc = subprocess.Popen([BIN, "serve", "--model", model("tiny"), "--port", "0", "--threads", "1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
            line = proc.stdout.readline()
            if line.startswith("rerankd: listening on"):
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=60)
                self.assertEqual(proc.returncode, 0, err)
                outcomes[mb] = "serves"
            else:
                _, err = proc.communicate(timeout=60)
                self.assertGreater(proc.returncode, 0, f"{mb} MB: exit {proc.returncode}: {err}")
                # Below what the shared libraries need (ICU's data alone maps ~30 MB), the dynamic
                # loader refuses with its own message before rerankd runs: also a clear exit.
                self.assertRegex(err, r"rerankd: .*(memory|alloc|Resource|mmap|thread)|error while loading shared libraries",
                                 f"{mb} MB: {err}")
                outcomes[mb] = "exit: " + err.strip().splitlines()[-1][:100]
        print("\naddress-space limit -> outcome:", json.dumps(outcomes, indent=1))
        self.assertEqual(outcomes[4096], "serves")


if __name__ == "__main__":
    unittest.main()
