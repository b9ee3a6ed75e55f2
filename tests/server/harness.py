#!/usr/bin/python3
"""Runs `rerankd serve` for the server tests and talks HTTP to it over real sockets, standard
library only. The server is started with --port 0 and the port is read from its stdout line
"rerankd: listening on HOST:PORT"; its log (stderr) goes to a file that failing tests print."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

BIN = os.environ["RERANKD_BIN"]
DATA = os.environ["RERANKD_TESTDATA"]
SOURCE = os.environ.get("RERANKD_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOST = "127.0.0.1"


def wait_until(predicate, timeout=30, message="condition", poll=0.01):
    """Returns predicate()'s first true value, asking again every `poll` s; AssertionError naming
    `message` (a string, or a callable for one made at the time) after `timeout` s. For waits on a
    real process (a server, a socket): what the test needs to have happened, never a fixed sleep
    assumed to be long enough."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: not {message() if callable(message) else message}")
        time.sleep(poll)


def tcp_queues(local, remote):
    """(unacknowledged bytes sent, bytes received and not yet read) of the IPv4 TCP socket with
    these (host, port) ends, from /proc/net/tcp; None when there is none. How a test sees that
    the other end has read what it was sent, rather than sleeping until it probably has."""
    def hex_end(end):
        host, port = end
        return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    want = (hex_end(local), hex_end(remote))
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def wait_until_read(sock, timeout=30):
    """Waits until the peer of a connected loopback `sock` has read every byte sent on it."""
    mine, peer = sock.getsockname(), sock.getpeername()
    wait_until(lambda: tcp_queues(mine, peer) == (0, 0) and tcp_queues(peer, mine) == (0, 0), timeout,
               lambda: f"read by the peer: queues {tcp_queues(mine, peer)} here, {tcp_queues(peer, mine)} there")


def model(name):
    return os.path.join(DATA, "models", name)


def run_rerankd(*args, env=None, timeout=120, input_text=None):
    """`rerankd ARGS...` to completion, `input_text` on its stdin if given: the CompletedProcess,
    with text stdout and stderr."""
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, input=input_text,
                          env=dict(os.environ, **(env or {})))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def expected(name):
    return read_jsonl(os.path.join(DATA, "expected", name + ".jsonl"))


def corpus_sentences():
    with open(os.path.join(SOURCE, "tests", "data", "corpus.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def long_documents(n, sentences_each=40):
    """n distinct documents long enough to be truncated to any test max_length."""
    sentences = corpus_sentences()
    return [" ".join(sentences[(i * 7 + k) % len(sentences)] for k in range(sentences_each)) for i in range(n)]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def exchange(conn, method, path, body=None, headers=None):
    """One request on `conn` (kept open for the next one)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    conn.request(method, path, body=body, headers=all_headers)
    r = conn.getresponse()
    return Response(r.status, r.getheaders(), r.read())


def parse_metrics(text):
    """{(name, frozenset(labels)): value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise ValueError("bad metrics line: " + line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class Server:
    def __init__(self, model_dir, *args, env=None, startup_timeout=120, global_args=()):
        """`rerankd [global_args] serve --model DIR --port 0 [args]`."""
        self.log_file = tempfile.NamedTemporaryFile(prefix="rerankd-serve-", suffix=".log", delete=False)
        command = [BIN, *global_args, "serve", "--model", model_dir, "--port", "0", *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log_file, text=True,
                                     env=dict(os.environ, **(env or {})))
        line = self._first_line(startup_timeout)
        m = re.match(r"rerankd: listening on (\S+):(\d+)$", line.strip())
        if not m:
            self.kill()
            raise RuntimeError(f"unexpected first line {line!r} from {command}; log:\n{self.log()}")
        self.port = int(m.group(2))
        self._conn = None

    def _first_line(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            self.kill()
            raise RuntimeError("rerankd serve did not report its port; log:\n" + self.log())
        return result[0]

    def log(self):
        with open(self.log_file.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def connect(self, timeout=120):
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout)

    def raw_socket(self, timeout=30):
        return socket.create_connection((HOST, self.port), timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        """On `conn`, or on a fresh connection closed afterwards."""
        if conn is not None:
            return exchange(conn, method, path, body, headers)
        c = self.connect()
        try:
            return exchange(c, method, path, body, headers)
        finally:
            c.close()

    def post(self, path, body, headers=None, conn=None):
        return self.request("POST", path, body, headers, conn)

    def metrics(self, conn=None):
        r = self.request("GET", "/metrics", conn=conn)
        assert r.status == 200, r
        return parse_metrics(r.body.decode("utf-8"))

    _REQUIRED = object()

    def metric(self, name, conn=None, default=_REQUIRED, **labels):
        """The sum of the series of `name` whose labels include `labels` (every model's, unless
        model= is given). No such series is an error (a renamed metric must not read as 0 and pass
        a comparison), unless `default` is given: for a labelled counter not yet incremented."""
        wanted = set(labels.items())
        values = [v for (n, have), v in self.metrics(conn).items() if n == name and wanted <= have]
        if not values:
            if default is Server._REQUIRED:
                raise KeyError(f"no series {name}{labels} in /metrics")
            return default
        return sum(values)

    def wait_for_metric(self, name, predicate, timeout=30, conn=None, default=_REQUIRED, **labels):
        """The value of a series once `predicate` holds for it (on `conn` if given; `default` as
        for metric())."""
        seen = []

        def check():
            seen.append(self.metric(name, conn=conn, default=default, **labels))
            return predicate(seen[-1])

        wait_until(check, timeout, lambda: f"{name}{labels} as asked: it stayed at {seen[-1]}; log:\n{self.log()}")
        return seen[-1]

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        self.proc.stdout.close()
        self.log_file.close()
        return self.proc.returncode

    def close(self):
        try:
            self.stop()
        finally:
            self.kill()
            os.unlink(self.log_file.name)


def run_in_thread(fn, *args):
    """Starts fn(*args) in a thread; returns a callable that joins and returns (or raises) its result."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # re-raised in the joining thread
            box["error"] = e
        box["done"] = time.monotonic()

    t = threading.Thread(target=target, daemon=True)
    t.start()

    def join(timeout=300):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("background request did not finish")
        if "error" in box:
            raise box["error"]
        return box["value"], box["done"]

    return join
