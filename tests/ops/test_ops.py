#!/usr/bin/python3
"""Operations tests (issue 6) over real sockets, with real Debian nginx, Prometheus and promtool:
API keys, configuration by file and environment, JSON logs, metrics that Prometheus accepts and
scrapes, nginx in front of several replicas (least_conn, keep-alive upstreams, passive health
checks, TLS termination), and a replica stopped mid-run without a request lost."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from harness import BIN, HOST, SOURCE, Server, model, run_rerankd  # noqa: E402

TEI_BODY = {"query": "where do pandas live?", "texts": ["Pandas live in the mountains of China.", "hi"]}


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class ApiKeyTest(unittest.TestCase):
    KEYS = ["k-first-0123456789", "k-second-abcdefghij"]

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rerankd-keys-")
        cls.key_file = os.path.join(cls.dir, "api-keys")
        with open(cls.key_file, "w") as f:
            f.write("# rerankd keys\n" + "\n".join(cls.KEYS) + "\n")
        cls.server = Server(model("tiny"), "--api-key-file", cls.key_file)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.dir)

    def test_health_needs_no_key(self):
        self.assertEqual(self.server.request("GET", "/health").status, 200)

    def test_every_other_route_needs_a_valid_key(self):
        for method, path, body in [("POST", "/rerank", TEI_BODY), ("POST", "/v1/rerank", TEI_BODY),
                                   ("GET", "/info", None), ("GET", "/metrics", None), ("GET", "/nope", None)]:
            for headers in [None, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + self.KEYS[0][:-1]},
                            {"Authorization": self.KEYS[0]}, {"Authorization": "Basic " + self.KEYS[0]}]:
                r = self.server.request(method, path, body, headers)
                self.assertEqual(r.status, 401, (path, headers, r))
                self.assertEqual(r.json()["error_type"], "unauthorized")
                self.assertEqual(r.headers.get("www-authenticate"), "Bearer")

    def test_each_key_works(self):
        for key in self.KEYS:
            r = self.server.post("/rerank", TEI_BODY, {"Authorization": "Bearer " + key})
            self.assertEqual(r.status, 200, r)
            r = self.server.request("GET", "/metrics", headers={"Authorization": "bearer " + key})
            self.assertEqual(r.status, 200, r)

    def test_keys_are_never_echoed(self):
        r = self.server.request("GET", "/info", headers={"Authorization": "Bearer " + self.KEYS[1]})
        self.assertEqual(r.json()["auth"], "api_key")
        self.server.post("/rerank", TEI_BODY, {"Authorization": "Bearer " + self.KEYS[0] + "x"})
        for key in self.KEYS:
            self.assertNotIn(key, r.body.decode())
            self.assertNotIn(key, self.server.log())

    def test_a_key_in_the_query_string_never_reaches_the_log(self):
        secret = "q-secret-5f1e2d3c4b"
        self.server.request("GET", "/info?api_key=" + secret, headers={"Authorization": "Bearer " + self.KEYS[0]})
        self.server.request("GET", "/info?api_key=" + secret)
        self.assertNotIn(secret, self.server.log())
        self.assertIn("/info?(query omitted)", self.server.log())

    def test_blank_keys_are_refused_at_startup(self):
        # Each once started a server that logged "keys required" and answered without one.
        for how, args, env in [("flag", ["--api-key", ""], None), ("flag", ["--api-key", "  "], None),
                               ("env", [], {"RERANKD_API_KEYS": " "}), ("env", [], {"RERANKD_API_KEYS": "\t"})]:
            result = run_rerankd("serve", "--model", model("tiny"), "--port", "0", *args, env=env, timeout=60)
            self.assertNotEqual(result.returncode, 0, (how, args, env, result.stderr))
            self.assertIn("blank", result.stderr, (how, args, env))

    def test_a_key_file_ending_in_a_newline_works(self):
        # As a Kubernetes secret mounted as a file, or `echo KEY > file`: the newline is not the key's.
        path = os.path.join(self.dir, "secret")
        with open(path, "w") as f:
            f.write("k-from-secret-42\r\n")
        server = Server(model("tiny"), "--api-key-file", path)
        try:
            r = server.post("/rerank", TEI_BODY, {"Authorization": "Bearer k-from-secret-42"})
            self.assertEqual(r.status, 200, r)
        finally:
            server.close()
        server = Server(model("tiny"), env={"RERANKD_API_KEYS": "k-env-7\n"})
        try:
            self.assertEqual(server.post("/rerank", TEI_BODY, {"Authorization": "Bearer k-env-7"}).status, 200)
            self.assertEqual(server.post("/rerank", TEI_BODY).status, 401)
        finally:
            server.close()

    def test_missing_key_file_is_refused_at_startup(self):
        result = run_rerankd("serve", "--model", model("tiny"), "--port", "0", "--api-key-file",
                             os.path.join(self.dir, "absent"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("absent", result.stderr)


class ConfigurationTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rerankd-config-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write_config(self, text):
        path = os.path.join(self.dir, "rerankd.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_flags_beat_the_file_which_beats_the_environment(self):
        config = self.write_config("[serve]\nmax-client-batch-size = 3\nrequest-timeout = 7\nmax-body-bytes = 5000\n")
        server = Server(model("tiny"), "--max-body-bytes", "6000",
                        env={"RERANKD_CONFIG": config, "RERANKD_REQUEST_TIMEOUT": "9"})
        try:
            limits = server.request("GET", "/info").json()["limits"]
            self.assertEqual(limits["max_client_batch_size"], 3)  # from the file
            self.assertEqual(limits["request_timeout_seconds"], 7)  # the file beats the environment (CLI11's order)
            self.assertEqual(limits["max_body_bytes"], 6000)  # the command line beats both
            r = server.post("/rerank", {"query": "q", "texts": ["a", "b", "c", "d"]})
            self.assertEqual(r.status, 413, r)
        finally:
            server.close()

    def test_config_flag_before_the_subcommand(self):
        config = self.write_config("[serve]\nmax-client-batch-size = 2\n")
        server = Server(model("tiny"), global_args=("--config", config))
        try:
            self.assertEqual(server.request("GET", "/info").json()["limits"]["max_client_batch_size"], 2)
        finally:
            server.close()

    def test_invalid_values_are_refused_naming_the_setting(self):
        cases = [
            ([], {"RERANKD_CONFIG": self.write_config("[serve]\nmax-client-batch-size = -4\n")},
             "max-client-batch-size"),
            (["--max-queued-tokens", "lots"], {}, "max-queued-tokens"),
            ([], {"RERANKD_LOG_FORMAT": "xml"}, "log-format"),
            ([], {"RERANKD_DTYPE": "float8"}, "dtype"),
            ([], {"RERANKD_CONFIG": os.path.join(self.dir, "missing.toml")}, "missing.toml"),
        ]
        for args, env, setting in cases:
            result = run_rerankd("serve", "--model", model("tiny"), "--port", "0", *args, env=env)
            self.assertNotEqual(result.returncode, 0, (args, env))
            self.assertIn(setting, result.stderr + result.stdout, (args, env))

    def test_help_lists_every_setting_with_its_default_and_variable(self):
        out = run_rerankd("serve", "--help").stdout
        for flag, env in [("--port", "RERANKD_PORT"), ("--max-queued-tokens", "RERANKD_MAX_QUEUED_TOKENS"),
                          ("--api-key-file", "RERANKD_API_KEY_FILE"), ("--log-format", "RERANKD_LOG_FORMAT"),
                          ("--dtype", "RERANKD_DTYPE"), ("--request-timeout", "RERANKD_REQUEST_TIMEOUT")]:
            self.assertIn(flag, out)
            self.assertIn(env, out)
        self.assertIn("--config", run_rerankd("--help").stdout)


class JsonLogTest(unittest.TestCase):
    def test_every_line_is_json_and_access_lines_carry_the_fields(self):
        server = Server(model("tiny"), "--log-format", "json")
        try:
            r = server.post("/rerank", TEI_BODY, {"X-Request-Id": "req-\"quoted\"-1"})
            self.assertEqual(r.status, 200)
            server.post("/rerank", {"query": 1})
        finally:
            server.stop()
        lines = [line for line in read(server.log_file.name).splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # raises on any non-JSON line
        for rec in records:
            self.assertIn("ts", rec)
            self.assertIn("level", rec)
        access = [rec for rec in records if rec["logger"] == "access"]
        ok = next(rec for rec in access if rec.get("request_id") == "req-\"quoted\"-1")
        self.assertEqual((ok["method"], ok["route"], ok["status"], ok["model"], ok["pairs"]),
                         ("POST", "/rerank", 200, "tiny", 2))
        for field in ("tokens", "queue_ms", "inference_ms", "total_ms"):
            self.assertIn(field, ok)
        self.assertTrue(any(rec["status"] == 422 or rec["status"] == 400 for rec in access))
        self.assertTrue(any("msg" in rec for rec in records))


class PrometheusTest(unittest.TestCase):
    def test_promtool_accepts_the_metrics(self):
        server = Server(model("tiny"))
        try:
            server.post("/rerank", TEI_BODY)
            server.post("/rerank", {"query": "x"})
            text = server.request("GET", "/metrics").body
        finally:
            server.close()
        result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_a_real_prometheus_scrapes_the_request_rate(self):
        server = Server(model("tiny"))
        work = tempfile.mkdtemp(prefix="rerankd-prometheus-")
        port = free_port()
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: rerankd\n"
                    f"    static_configs:\n      - targets: ['{HOST}:{server.port}']\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
                                 f"--web.listen-address={HOST}:{port}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            query = 'sum(rate(rerankd_http_requests_total{route="/rerank",status="200"}[10s]))'
            deadline, value = time.monotonic() + 60, None
            while time.monotonic() < deadline and not value:
                server.post("/rerank", TEI_BODY)
                url = f"http://{HOST}:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        result = json.load(r)["data"]["result"]
                except urllib.error.HTTPError as e:
                    if e.code != 503:  # 503: Prometheus listens before its storage is ready
                        raise
                    result = None
                value = float(result[0]["value"][1]) if result else None
                time.sleep(0.2)
            self.assertIsNotNone(value, "Prometheus never returned a request rate")
            self.assertGreater(value, 0)
            print(f"prometheus: {query} = {value:.2f}/s")
        finally:
            prom.terminate()
            prom.wait(30)
            server.close()
            shutil.rmtree(work, ignore_errors=True)



class DeployFilesTest(unittest.TestCase):
    """What can be checked here of deploy/ without a cluster, a Docker daemon or systemd running."""

    def test_dashboard_and_hpa_use_series_the_server_exports(self):
        server = Server(model("tiny"))
        try:
            server.post("/rerank", TEI_BODY)
            exported = set(re.findall(r"^(rerankd_[a-z_]+)", server.request("GET", "/metrics").body.decode(), re.M))
        finally:
            server.close()
        dashboard = json.loads(read(os.path.join(SOURCE, "deploy/grafana/rerankd-dashboard.json")))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 8)
        used = set()
        for text in exprs + [read(os.path.join(SOURCE, "deploy/k8s", f))
                             for f in ("hpa.yaml", "prometheus-adapter-rules.yaml")]:
            used |= set(re.findall(r"rerankd_[a-z_]+", text))
        self.assertGreaterEqual(len(used), 8)
        for name in used:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertTrue(name in exported or base in exported, f"{name} is not exported by /metrics")

    def test_kubernetes_manifests(self):
        import yaml  # Debian's python3-yaml
        deployment = yaml.safe_load(read(os.path.join(SOURCE, "deploy/k8s/deployment.yaml")))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            self.assertEqual(container[probe]["httpGet"]["path"], "/health")
        drain = next(int(e["value"]) for e in container["env"] if e["name"] == "RERANKD_DRAIN_TIMEOUT")
        self.assertGreater(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], drain)
        hpa = yaml.safe_load(read(os.path.join(SOURCE, "deploy/k8s/hpa.yaml")))
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"])
        service = yaml.safe_load(read(os.path.join(SOURCE, "deploy/k8s/service.yaml")))
        self.assertEqual(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"])

    def test_prometheus_config(self):
        result = subprocess.run(["promtool", "check", "config", os.path.join(SOURCE, "deploy/prometheus/prometheus.yml")],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_unit(self):
        work = tempfile.mkdtemp(prefix="rerankd-unit-")
        try:
            unit = read(os.path.join(SOURCE, "deploy/systemd/rerankd.service"))
            self.assertIn("ExecStart=/usr/local/bin/rerankd serve", unit)
            path = os.path.join(work, "rerankd.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/rerankd", BIN))
            result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
            problems = [line for line in (result.stdout + result.stderr).splitlines() if "rerankd.service" in line]
            self.assertEqual(problems, [])
        finally:
            shutil.rmtree(work)


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  upstream rerankd {{
    least_conn;
{servers}    keepalive 32;
    keepalive_timeout 60s;
  }}
  server {{
    listen {host}:{port};
    include {source}/deploy/nginx/rerankd-location.conf;
  }}
  server {{
    listen {host}:{tls_port} ssl;
    ssl_certificate {work}/cert.pem;
    ssl_certificate_key {work}/key.pem;
    include {source}/deploy/nginx/rerankd-location.conf;
  }}
}}
"""


class NginxScaleOutTest(unittest.TestCase):
    """Three replicas of the tiny model behind Debian's nginx, configured with deploy/nginx/."""

    REPLICAS = 3

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="rerankd-nginx-")
        cls.servers = [Server(model("tiny"), "--io-threads", "1", "--tokenizer-threads", "1", "--threads", "1",
                              "--drain-timeout", "10")
                       for _ in range(cls.REPLICAS)]
        cls.port, cls.tls_port = free_port(), free_port()
        source = SOURCE
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-keyout", f"{cls.work}/key.pem", "-out", f"{cls.work}/cert.pem"], check=True,
                       capture_output=True)
        servers = "".join(f"    server {HOST}:{s.port} max_fails=1 fail_timeout=5s;\n" for s in cls.servers)
        with open(os.path.join(cls.work, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(work=cls.work, source=source, host=HOST, port=cls.port, tls_port=cls.tls_port,
                                      servers=servers))
        cls.nginx = subprocess.Popen(["nginx", "-c", f"{cls.work}/nginx.conf", "-p", cls.work],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(cls.port)
        wait_for_port(cls.tls_port)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.send_signal(signal.SIGQUIT)
        cls.nginx.wait(30)
        for s in cls.servers:
            s.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def bench(self, *args, url=None):
        result = run_rerankd("bench", "--url", url or f"http://{HOST}:{self.port}", "--docs-per-request", "4",
                             "--doc-tokens", "24", "--json", "-", *args, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_1_routes_and_tls(self):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        conn.request("POST", "/rerank", json.dumps(TEI_BODY), {"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(len(json.loads(r.read())), 2)
        conn.close()
        context = ssl.create_default_context(cafile=f"{self.work}/cert.pem")
        context.check_hostname = False
        tls = http.client.HTTPSConnection(HOST, self.tls_port, timeout=30, context=context)
        tls.request("POST", "/v1/rerank", json.dumps({"query": "q", "documents": ["a", "b"]}),
                    {"Content-Type": "application/json", "X-Request-Id": "over-tls"})
        r = tls.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("X-Request-Id"), "over-tls")
        self.assertEqual(len(json.loads(r.read())["results"]), 2)
        tls.close()

    def test_2_every_replica_serves(self):
        # Figures, not assertions (no timed tests): one replica on its own, then all behind nginx.
        alone = self.bench("--concurrency", "12", "--duration", "5", "--warmup", "1",
                           url=f"http://{HOST}:{self.servers[1].port}")
        before = [s.metric("rerankd_http_requests_total", default=0.0, route="/rerank", status="200") for s in self.servers]
        report = self.bench("--concurrency", "12", "--duration", "5", "--warmup", "1")
        after = [s.metric("rerankd_http_requests_total", route="/rerank", status="200") for s in self.servers]
        self.assertEqual(report["failed"] + report["timeout"] + report["rejected"], 0, report)
        served = [a - b for a, b in zip(after, before)]
        print(f"\n1 replica direct: {alone['pairs_per_s']:.0f} pairs/s, P99 {alone['latency_ms']['p99']:.1f} ms; "
              f"{self.REPLICAS} replicas behind nginx least_conn: {report['pairs_per_s']:.0f} pairs/s, "
              f"P99 {report['latency_ms']['p99']:.1f} ms; requests per replica {served}")
        for count in served:
            self.assertGreater(count, 0.1 * sum(served) / self.REPLICAS, served)
        accepted = sum(s.metric("rerankd_http_connections_accepted_total") for s in self.servers)
        self.assertLess(accepted, 200, "nginx must keep upstream connections alive")

    def test_3_a_replica_stopped_mid_run_loses_no_request(self):
        victim = self.servers[0]
        served = victim.metric("rerankd_http_requests_total", default=0, route="/rerank", status="200")
        bench = subprocess.Popen([BIN, "bench", "--url", f"http://{HOST}:{self.port}", "--docs-per-request", "4",
                                  "--doc-tokens", "24", "--json", "-", "--concurrency", "12", "--duration", "6",
                                  "--warmup", "0", "--retries", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        # Stopped under load: once it has answered some of this run's requests, not after a guessed
        # delay, and while the bench is still sending.
        victim.wait_for_metric("rerankd_http_requests_total", lambda v: v >= served + 20, timeout=60, default=0,
                               route="/rerank", status="200")
        victim.signal(signal.SIGTERM)
        self.assertIsNone(bench.poll(), "the bench ended before the replica was stopped")
        out, err = bench.communicate(timeout=300)
        self.assertEqual(bench.returncode, 0, err)
        report = json.loads(out)
        self.assertEqual(victim.wait(30), 0)
        print(f"replica stopped mid-run: sent {report['sent']}, ok {report['ok']}, failed {report['failed']}, "
              f"retries {report['client']['retries']}")
        self.assertEqual(report["ok"], report["sent"], report)
        self.assertGreater(report["ok"], 0)


if __name__ == "__main__":
    unittest.main()
