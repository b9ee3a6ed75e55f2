#!/usr/bin/python3
"""`--model ORG/NAME` against a loopback fake hub (fake_hub.py), over HTTP and HTTPS with a test CA:
the downloaded snapshot scores exactly like the same files given as a directory, the cache has
huggingface_hub's layout, the cache is used without the network, and every failure (gated, missing,
dropped, corrupted, wrong size, offline, untrusted certificate) is a clear error that leaves
nothing loadable behind."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from fake_hub import FakeHub, Repo, git_blob_id, make_certificates  # noqa: E402
from harness import BIN, DATA, expected  # noqa: E402

SCRUBBED = ("HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
            "HF_HUB_OFFLINE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "RERANKD_MODEL", "XDG_CACHE_HOME")


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

if __name__ == "__main__":
    unittest.main()
