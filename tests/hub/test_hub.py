#!/usr/bin/python3
"""`--model ORG/NAME` against a loopback fake hub (fake_hub.py), over HTTP and HTTPS with a test CA:
the downloaded snapshot scores exactly like the same files given as a directory, the cache has
huggingface_hub's layout, the cache is used without the network, and every failure (gated, missing,
dropped, corrupted, wrong size, offline, untrusted certificate) is a clear error that leaves
nothing loadable behind."""
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from fake_hub import FakeHub, Repo, git_blob_id, make_certificates  # noqa: E402
from fake_proxy import FakeProxy  # noqa: E402
from harness import BIN, DATA, expected  # noqa: E402

SCRUBBED = ("HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
            "HF_HUB_OFFLINE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "RERANKD_MODEL", "XDG_CACHE_HOME",
            "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def model_files(name):
    folder = os.path.join(DATA, "models", name)
    files = {}
    for entry in os.listdir(folder):
        with open(os.path.join(folder, entry), "rb") as f:
            files[entry] = f.read()
    return files


def small_repo(**kwargs):
    files = model_files("small")  # sharded: model.safetensors.index.json and two shards
    # What a real repository also holds and the engine never reads: must not be fetched.
    files["pytorch_model.bin"] = b"\0" * 4096
    files["onnx/model.onnx"] = b"\1" * 4096
    files["README.md"] = b"# small\n"
    return Repo(files, **kwargs)


class HubTestBase(unittest.TestCase):
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rerankd-hub-")
        cls.ca = None
        tls = None
        if cls.tls:
            cls.ca, cert, key = make_certificates(cls.tmp)
            tls = (cert, key)
        cls.hub = FakeHub({
            "test-org/small": small_repo(),
            "test-org/tiny": Repo(model_files("tiny")),
            "test-org/gated": Repo(model_files("tiny"), gated=True),
            "test-org/pytorch-only": Repo({"config.json": model_files("tiny")["config.json"],
                                           "pytorch_model.bin": b"\0" * 64}),
        }, tls=tls)
        cls.hub.renamed["old-org/tiny"] = "test-org/tiny"
        q = expected("small")[0]["query"]
        cls.query = q
        # A few short documents: each test runs `rerankd score` several times on 2 shared cores.
        cls.docs = [r["document"] for r in expected("small") if r["query"] == q and 0 < len(r["document"]) < 80][:3]
        cls.direct = {}

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.home = tempfile.mkdtemp(dir=self.tmp)
        self.cache = os.path.join(self.home, "hub")
        self.hub.clear_log()
        self.hub.drop_after = None
        self.hub.corrupt.clear()
        self.hub.wrong_size.clear()
        self.hub.unsized.clear()

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env.update(HOME=self.home, HF_HOME=self.home, HF_ENDPOINT=self.hub.endpoint, RERANKD_DTYPE="float32")
        if self.ca:
            env["SSL_CERT_FILE"] = self.ca
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def rerankd(self, *args, **extra):
        return subprocess.run([BIN, *args], env=self.env(**extra), capture_output=True, text=True, timeout=120)

    def score(self, model, *options, **extra):
        args = ["score", "--model", model, *options, "--query", self.query]
        for d in self.docs:
            args += ["--doc", d]
        return self.rerankd(*args, **extra)

    def repo_dir(self, repo_id):
        return os.path.join(self.cache, "models--" + repo_id.replace("/", "--"))

    def assert_scores_like_directory(self, out, name="small"):
        self.assertEqual(out.returncode, 0, out.stderr)
        if name not in self.direct:
            direct = self.score(os.path.join(DATA, "models", name))
            self.assertEqual(direct.returncode, 0, direct.stderr)
            self.direct[name] = direct.stdout
        self.assertEqual(len(out.stdout.splitlines()), len(self.docs))
        self.assertEqual(out.stdout, self.direct[name])
        # And both are the float64 reference's scores (not merely the same as each other).
        ref = {r["document"]: r["logit"] for r in expected(name) if r["query"] == self.query}
        for line in out.stdout.splitlines():
            logit, _, doc = line.split("\t", 2)
            self.assertAlmostEqual(float(logit), ref[doc], delta=1e-4)

    def assert_not_loadable(self, repo_id):
        """Offline, the cache must not offer a model: a partial download is never a model."""
        out = self.score(repo_id, HF_HUB_OFFLINE="1")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("HF_HUB_OFFLINE", out.stderr)


class HubOverHttp(HubTestBase):
    def test_download_scores_like_the_directory_with_the_hub_cache_layout(self):
        out = self.score("test-org/small", HF_TOKEN="hf_good", HF_HUB_CACHE=self.cache)
        self.assert_scores_like_directory(out)
        repo = self.hub.repos["test-org/small"]
        folder = self.repo_dir("test-org/small")
        with open(os.path.join(folder, "refs", "main")) as f:
            self.assertEqual(f.read().strip(), repo.commit)
        snapshot = os.path.join(folder, "snapshots", repo.commit)
        for name, data in repo.files.items():
            link = os.path.join(snapshot, name)
            if name in ("pytorch_model.bin", "onnx/model.onnx", "README.md"):
                self.assertFalse(os.path.lexists(link), name + " is not needed and must not be fetched")
                continue
            etag = hashlib.sha256(data).hexdigest() if repo.is_lfs(name) else git_blob_id(data)
            self.assertEqual(os.readlink(link), "../../blobs/" + etag, name)
            with open(link, "rb") as f:
                self.assertEqual(f.read(), data, name)
        self.assertEqual([n for n in os.listdir(os.path.join(folder, "blobs")) if n.endswith(".incomplete")], [])
        gets = [r[2] for r in self.hub.requests(method="GET")]
        self.assertFalse(any("pytorch_model" in g or "onnx" in g or "README" in g for g in gets), gets)
        # The token went to the hub and never to the file store (which answers 400 if it does).
        self.assertTrue(all(r[3].get("authorization") == "Bearer hf_good" for r in self.hub.requests("hub")))
        self.assertTrue(self.hub.requests("cdn"))

    def test_cache_hit_needs_no_network_and_offline_mode_uses_it(self):
        self.assertEqual(self.score("test-org/small").returncode, 0)  # HF_HOME/hub is the default cache
        self.hub.clear_log()
        unreachable = "http://127.0.0.1:1"
        self.assert_scores_like_directory(self.score("test-org/small", HF_ENDPOINT=unreachable))
        self.assert_scores_like_directory(self.score("test-org/small", HF_HUB_OFFLINE="1", HF_ENDPOINT=unreachable))
        commit = self.hub.repos["test-org/small"].commit
        self.assert_scores_like_directory(self.score("test-org/small", "--revision", commit, HF_HUB_OFFLINE="1"))
        self.assertEqual(self.hub.log, [])

    def test_offline_with_nothing_cached_is_a_clear_error(self):
        out = self.score("test-org/small", HF_HUB_OFFLINE="1")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("HF_HUB_OFFLINE", out.stderr)
        self.assertIn(self.repo_dir("test-org/small"), out.stderr)
        self.assertEqual(self.hub.log, [])

    def test_download_subcommand_prints_the_snapshot(self):
        out = self.rerankd("download", "test-org/tiny")
        self.assertEqual(out.returncode, 0, out.stderr)
        commit = self.hub.repos["test-org/tiny"].commit
        self.assertEqual(out.stdout.strip(), os.path.join(self.repo_dir("test-org/tiny"), "snapshots", commit))
        self.assert_scores_like_directory(self.score(out.stdout.strip()), "tiny")

    def test_gated_model_names_the_token_variable(self):
        out = self.score("test-org/gated")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("gated", out.stderr)
        self.assertIn("HF_TOKEN", out.stderr)
        out = self.score("test-org/gated", HF_TOKEN="hf_wrong")
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("token from HF_TOKEN", out.stderr)
        with open(os.path.join(self.home, "token"), "w") as f:
            f.write("hf_good\n")
        self.assert_scores_like_directory(self.score("test-org/gated"), "tiny")

    def test_missing_model_revision_and_weights(self):
        out = self.score("test-org/nothing")
        self.assertEqual(out.returncode, 2)
        self.assertIn("no model test-org/nothing", out.stderr)
        out = self.score("test-org/tiny", "--revision", "v9")
        self.assertEqual(out.returncode, 2)
        self.assertIn("no revision 'v9'", out.stderr)
        out = self.score("test-org/pytorch-only")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("safetensors", out.stderr)
        out = self.score("./no/such/dir")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("not a model directory", out.stderr)

    def test_renamed_repository_follows_the_relative_redirect(self):
        self.assert_scores_like_directory(self.score("old-org/tiny"), "tiny")

    def test_dropped_connection_is_retried_with_a_range(self):
        shard = "model-00001-of-00002.safetensors"
        self.hub.drop_after = (shard, 1000, 1)
        self.assert_scores_like_directory(self.score("test-org/small"))
        ranges = [r[3].get("range") for r in self.hub.requests("cdn", "GET")]
        self.assertIn("bytes=1000-", ranges)

    def test_killed_download_leaves_nothing_loadable_and_the_next_run_resumes(self):
        shard = "model-00002-of-00002.safetensors"
        self.hub.drop_after = (shard, 700, 100)  # every try of this run is cut short
        out = self.score("test-org/small")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("run again to resume", out.stderr)
        sha = hashlib.sha256(self.hub.repos["test-org/small"].files[shard]).hexdigest()
        partial = os.path.join(self.repo_dir("test-org/small"), "blobs", sha + ".incomplete")
        have = os.path.getsize(partial)
        self.assertEqual(have, 3 * 700)
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir("test-org/small"), "blobs", sha)))
        self.assert_not_loadable("test-org/small")
        self.hub.drop_after = None
        self.hub.clear_log()
        self.assert_scores_like_directory(self.score("test-org/small"))
        resumed = [r[3].get("range") for r in self.hub.requests("cdn", "GET") if sha in r[2]]
        self.assertEqual(resumed, ["bytes=%d-" % have])
        self.assertFalse(os.path.exists(partial))

    def test_corrupted_content_is_refused_and_discarded(self):
        self.hub.corrupt.add("sentencepiece.bpe.model")
        out = self.score("test-org/small")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("does not match its ETag", out.stderr)
        blobs = os.listdir(os.path.join(self.repo_dir("test-org/small"), "blobs"))
        sha = hashlib.sha256(self.hub.repos["test-org/small"].files["sentencepiece.bpe.model"]).hexdigest()
        self.assertFalse([b for b in blobs if b.startswith(sha)], blobs)
        self.assert_not_loadable("test-org/small")

    def test_wrong_size_is_refused(self):
        self.hub.wrong_size.add("model-00001-of-00002.safetensors")
        out = self.score("test-org/small")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("the hub announced", out.stderr)
        self.assert_not_loadable("test-org/small")
        self.hub.wrong_size.clear()
        self.hub.wrong_size.add("config.json")  # a git file: Content-Length one byte too many
        out = self.score("test-org/tiny")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("the hub announced", out.stderr)
        self.assert_not_loadable("test-org/tiny")


class HubOverHttps(HubTestBase):
    tls = True

    def test_download_over_tls_with_the_test_ca(self):
        self.assert_scores_like_directory(self.score("test-org/small", HF_TOKEN="hf_good"))
        self.assertTrue(self.hub.requests("cdn"))

    def test_requests_ca_bundle_is_honoured_too(self):
        out = self.score("test-org/tiny", SSL_CERT_FILE=None, REQUESTS_CA_BUNDLE=self.ca)
        self.assert_scores_like_directory(out, "tiny")

    def test_untrusted_certificate_names_the_ca_variables(self):
        out = self.score("test-org/tiny", SSL_CERT_FILE=None)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("SSL_CERT_FILE", out.stderr)
        self.assertIn("REQUESTS_CA_BUNDLE", out.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir("test-org/tiny"), "snapshots")))

    def test_certificate_for_another_address_is_refused(self):
        # The certificate names localhost and 127.0.0.1 only: a hub at 127.0.0.2 presenting it fails.
        cert = (os.path.join(self.tmp, "server.pem"), os.path.join(self.tmp, "server.key"))
        other = FakeHub({"test-org/tiny": Repo(model_files("tiny"))}, tls=cert, hub_address="127.0.0.2")
        try:
            out = self.score("test-org/tiny", HF_ENDPOINT=other.endpoint)
        finally:
            other.close()
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("mismatch", out.stderr)
        self.assertEqual(other.log, [])


TMPFS_PROBE = None


def tmpfs_unavailable():
    """Why a private tmpfs cannot be mounted here (None when it can): `unshare -rm` needs user
    namespaces, which a container or a hardened kernel may deny."""
    global TMPFS_PROBE
    if TMPFS_PROBE is None:
        with tempfile.TemporaryDirectory() as d:
            try:
                probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "rerankd-probe", d],
                                       capture_output=True, text=True, timeout=30)
                TMPFS_PROBE = "" if probe.returncode == 0 else (probe.stderr.strip() or "exit %d" % probe.returncode)
            except FileNotFoundError as e:
                TMPFS_PROBE = str(e)
    return TMPFS_PROBE or None


class HubDiskFull(HubTestBase):
    """A cache on a real, small file system: a tmpfs of a few hundred KiB mounted in a private mount
    namespace (no root needed where user namespaces are allowed; skipped, saying why, where not)."""

    def setUp(self):
        why = tmpfs_unavailable()
        if why:
            self.skipTest("cannot mount a small tmpfs with `unshare -rm mount -t tmpfs`: " + why)
        super().setUp()
        os.makedirs(self.cache)

    def score_on_tmpfs(self, size, model, **extra):
        """rerankd score with HF_HUB_CACHE on a fresh tmpfs of `size`; returns its exit status, its
        stderr and the files left in the cache when it ended (the tmpfs goes with the namespace)."""
        err = os.path.join(self.home, "stderr")
        script = ('mount -t tmpfs -o size="$1" rerankd-cache "$2" || exit 97; shift 2; "$@" >/dev/null 2>"$ERR"; '
                  'echo "$?"; cd "$HF_HUB_CACHE" && find . -type f -o -type l')
        args = [BIN, "score", "--model", model, "--query", self.query, "--doc", self.docs[0]]
        out = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", size, self.cache, *args],
                             env=self.env(HF_HUB_CACHE=self.cache, ERR=err, **extra), capture_output=True, text=True,
                             timeout=120)
        self.assertNotEqual(out.returncode, 97, out.stderr)
        lines = out.stdout.split()
        with open(err) as f:
            return int(lines[0]), f.read(), lines[1:]

    def test_too_little_space_is_refused_before_the_download(self):
        status, stderr, left = self.score_on_tmpfs("1m", "test-org/small")  # each shard is over 1.5 MiB
        self.assertEqual(status, 1, stderr)
        self.assertIn("the Hugging Face cache %s is too full" % self.cache, stderr)
        m = re.search(r"test-org/small/(model-0000[12]-of-00002.safetensors) needs (\d+) more bytes, (\d+) are free",
                      stderr)
        self.assertTrue(m, stderr)
        self.assertEqual(int(m.group(2)), len(self.hub.repos["test-org/small"].files[m.group(1)]))
        self.assertLess(int(m.group(3)), 1 << 20)
        self.assertIn("HF_HUB_CACHE", stderr)
        self.assertFalse([f for f in left if f.endswith(".incomplete")], left)
        self.assertFalse([f for f in left if f.endswith(".safetensors")], left)  # no shard links
        self.assertFalse([r for r in self.hub.requests("cdn", "GET")], "nothing of the shard may be fetched")

    def test_disk_filling_up_mid_download_names_the_cache_and_the_bytes(self):
        # A mirror that announces no size leaves nothing to check beforehand: the write fails.
        files = model_files("tiny")
        files["tokenizer.json"] = files["tokenizer.json"].rstrip() + b" " * (1 << 20) + b"\n"
        self.hub.repos["test-org/unsized"] = Repo(files)
        self.hub.unsized.add("tokenizer.json")
        try:
            status, stderr, left = self.score_on_tmpfs("768k", "test-org/unsized")
        finally:
            del self.hub.repos["test-org/unsized"]
        self.assertEqual(status, 1, stderr)
        self.assertIn("No space left on device", stderr)
        self.assertIn("the Hugging Face cache %s is full" % self.cache, stderr)
        self.assertRegex(stderr, r"\d+ bytes \(the hub did not announce the size\) of tokenizer.json written")
        self.assertFalse([f for f in left if f.endswith(".incomplete")], left)  # the partial file is gone
        self.assertFalse([f for f in left if f.endswith("tokenizer.json")], left)

class HubFileSizeLimit(HubTestBase):
    def test_file_size_limit_is_named(self):
        # RLIMIT_FSIZE (ulimit -f) with SIGXFSZ ignored: writes past it fail with EFBIG. Any user can
        # set it, so this needs no tmpfs; it stands for the same write path on a real disk.
        weights = len(model_files("tiny")["model.safetensors"])

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (weights // 2, weights // 2))
        args = [BIN, "score", "--model", "test-org/tiny", "--query", self.query, "--doc", self.docs[0]]
        out = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=120, preexec_fn=limit,
                             restore_signals=False)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("ulimit -f", out.stderr)
        self.assertIn("of %d bytes of model.safetensors written" % weights, out.stderr)
        self.assert_not_loadable("test-org/tiny")


class ProxyTestBase(HubTestBase):
    """The same hub behind a loopback proxy (fake_proxy.py) that records what passed through it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.proxy = FakeProxy()
        cls.hub_origin = cls.hub.endpoint.split("://")[1]
        cls.cdn_origin = cls.hub.cdn.split("://")[1]

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.proxy.clear()
        self.proxy.credentials = None
        self.proxy.refuse = None

    def assert_refused(self, out, variable, status, *mentions):
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(variable, out.stderr)
        self.assertIn("HTTP %d" % status, out.stderr)
        for m in mentions:
            self.assertIn(m, out.stderr)
        self.assertEqual(self.hub.log, [])  # nothing got past the proxy


class HubThroughProxyOverHttps(ProxyTestBase):
    tls = True

    def test_download_tunnels_every_request_through_https_proxy(self):
        # HTTP_PROXY is for http:// URLs only: a dead one must not matter to an https:// hub.
        out = self.score("test-org/small", HTTPS_PROXY=self.proxy.url, HTTP_PROXY="http://127.0.0.1:1")
        self.assert_scores_like_directory(out)
        self.assertEqual(set(self.proxy.tunnels), {self.hub_origin, self.cdn_origin})
        self.assertEqual(len(self.proxy.tunnels), len(self.hub.log))  # one tunnel per request, none direct
        self.assertEqual(self.proxy.forwarded, [])

    def test_lower_case_variable_with_credentials_in_the_url(self):
        self.proxy.credentials = ("rerankd", "p@ss:w/rd")
        out = self.score("test-org/tiny", https_proxy=self.proxy.url_with("rerankd", "p@ss:w/rd"))
        self.assert_scores_like_directory(out, "tiny")
        self.assertTrue(self.proxy.tunnels)

    def test_no_proxy_bypasses_by_host(self):
        out = self.score("test-org/tiny", HTTPS_PROXY=self.proxy.url, NO_PROXY="example.com, .localhost")
        self.assert_scores_like_directory(out, "tiny")
        self.assertEqual(set(self.proxy.tunnels), {self.hub_origin})  # the file store on localhost went direct
        self.assertTrue(self.hub.requests("cdn"))

    def test_no_proxy_star_bypasses_everything(self):
        out = self.score("test-org/tiny", HTTPS_PROXY=self.proxy.url, no_proxy="*")
        self.assert_scores_like_directory(out, "tiny")
        self.assertEqual(self.proxy.tunnels, [])

    def test_proxy_wanting_credentials_names_the_variable(self):
        self.proxy.credentials = ("rerankd", "secret")
        out = self.score("test-org/tiny", HTTPS_PROXY=self.proxy.url)
        self.assert_refused(out, "HTTPS_PROXY", 407, "CONNECT", "USER:PASSWORD")
        self.assertEqual(out.returncode, 2)
        out = self.score("test-org/tiny", HTTPS_PROXY=self.proxy.url_with("rerankd", "wrong"))
        self.assert_refused(out, "HTTPS_PROXY", 407, "did not accept")
        self.assertNotIn("wrong", out.stderr)  # the password is never printed

    def test_proxy_refusing_the_tunnel_names_the_variable(self):
        self.proxy.refuse = 403
        out = self.score("test-org/tiny", https_proxy=self.proxy.url)
        self.assert_refused(out, "https_proxy", 403, "NO_PROXY")
        self.proxy.refuse = 502
        out = self.score("test-org/tiny", HTTPS_PROXY=self.proxy.url)
        self.assert_refused(out, "HTTPS_PROXY", 502)
        self.assertFalse(os.path.exists(os.path.join(self.repo_dir("test-org/tiny"), "snapshots")))


class HubThroughProxyOverHttp(ProxyTestBase):
    def test_download_forwards_absolute_urls_with_proxy_credentials(self):
        self.proxy.credentials = ("rerankd", "secret")
        out = self.score("test-org/small", HTTP_PROXY=self.proxy.url_with("rerankd", "secret"),
                         HTTPS_PROXY="http://127.0.0.1:1")
        self.assert_scores_like_directory(out)
        self.assertEqual(self.proxy.tunnels, [])
        self.assertEqual(len(self.proxy.forwarded), len(self.hub.log))
        origins = {u.split("/")[2] for u in self.proxy.forwarded}
        self.assertEqual(origins, {self.hub_origin, self.cdn_origin})
        self.assertTrue(all(u.startswith("http://") for u in self.proxy.forwarded))

    def test_no_proxy_bypasses_plain_http_too(self):
        out = self.score("test-org/tiny", http_proxy=self.proxy.url, NO_PROXY="127.0.0.1,localhost")
        self.assert_scores_like_directory(out, "tiny")
        self.assertEqual(self.proxy.forwarded, [])

    def test_proxy_wanting_credentials_names_the_variable(self):
        self.proxy.credentials = ("rerankd", "secret")
        out = self.score("test-org/tiny", HTTP_PROXY=self.proxy.url)
        self.assert_refused(out, "HTTP_PROXY", 407, "USER:PASSWORD")


if __name__ == "__main__":
    unittest.main()
