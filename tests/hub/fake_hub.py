"""A loopback stand-in for the Hugging Face hub and its file store, for tests without internet.

It speaks the resolve protocol as the hub does: HEAD/GET /{org}/{name}/resolve/{revision}/{file}
answers small (git) files directly with their git blob id as ETag, and redirects files in Git LFS
to a second server (the "CDN", another origin) with X-Linked-Etag (the sha256) and X-Linked-Size;
X-Repo-Commit names the commit; errors carry X-Error-Code as the hub's do. The CDN serves byte
ranges. Faults are switched on per test: a connection dropped mid-file, corrupted content, a
wrong announced size, a gated repository. Every request is logged for the tests to inspect.
"""
import hashlib
import http.server
import os
import re
import ssl
import subprocess
import threading
import urllib.parse

LFS_SUFFIXES = (".safetensors", ".model", ".bin", ".onnx")


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, files, gated=False):
        self.files = dict(files)  # path -> bytes
        self.gated = gated
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name])
        self.commit = digest.hexdigest()

    def is_lfs(self, name):
        return name.endswith(LFS_SUFFIXES)


def make_certificates(folder):
    """A test CA and a server certificate for localhost and 127.0.0.1, made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-sha256",
        "-subj", "/CN=rerankd test CA")
    run("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(folder, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-sha256", "-extfile", "server.ext")
    return os.path.join(folder, "ca.pem"), os.path.join(folder, "server.pem"), os.path.join(folder, "server.key")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeHub:
    """The hub on 127.0.0.1 and its CDN on localhost (a different origin), plain or TLS."""

    def __init__(self, repos, tls=None, hub_address="127.0.0.1"):
        self.repos = repos            # repo id -> Repo
        self.renamed = {}             # old repo id -> new repo id (a relative redirect)
        self.token = "hf_good"        # the one token that opens gated repositories
        self.log = []                 # (server, method, path, headers dict)
        self.drop_after = None        # (file name, bytes, times): cut the CDN's answer short
        self.corrupt = set()          # file names whose served bytes are altered (same size)
        self.wrong_size = set()       # file names whose announced size is one byte too many
        self.unsized = set()          # git file names whose HEAD gives no Content-Length (no size known)
        self.lock = threading.Lock()
        scheme = "https" if tls else "http"
        self.hub_server = _Server((hub_address, 0), self._handler("hub"))
        self.cdn_server = _Server(("localhost", 0), self._handler("cdn"))
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            for server in (self.hub_server, self.cdn_server):
                server.socket = context.wrap_socket(server.socket, server_side=True)
        self.endpoint = "%s://%s:%d" % (scheme, hub_address, self.hub_server.server_address[1])
        self.cdn = "%s://localhost:%d" % (scheme, self.cdn_server.server_address[1])
        for server in (self.hub_server, self.cdn_server):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self):
        for server in (self.hub_server, self.cdn_server):
            server.shutdown()
            server.server_close()

    def requests(self, server=None, method=None):
        with self.lock:
            return [r for r in self.log if (server is None or r[0] == server) and (method is None or r[1] == method)]

    def clear_log(self):
        with self.lock:
            self.log.clear()

    def _find_blob(self, sha):
        for repo in self.repos.values():
            for name, data in repo.files.items():
                if hashlib.sha256(data).hexdigest() == sha:
                    return name, data
        return None, None

    def _handler(self, role):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                with hub.lock:
                    hub.log.append((role, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))

            def _error(self, status, code=None, message=None):
                self.send_response(status)
                if code:
                    self.send_header("X-Error-Code", code)
                if message:
                    self.send_header("X-Error-Message", message)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self):
                self._record()
                (self._hub if role == "hub" else self._cdn)(head=True)

            def do_GET(self):
                self._record()
                (self._hub if role == "hub" else self._cdn)(head=False)

            def _hub(self, head):
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", urllib.parse.urlsplit(self.path).path)
                if not m:
                    return self._error(404)
                repo_id, revision, name = m.group(1), urllib.parse.unquote(m.group(2)), urllib.parse.unquote(m.group(3))
                if repo_id in hub.renamed:
                    self.send_response(307)
                    self.send_header("Location", "/%s/resolve/%s/%s" % (hub.renamed[repo_id], m.group(2), m.group(3)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                repo = hub.repos.get(repo_id)
                auth = self.headers.get("Authorization")
                if repo is None:  # as the hub: 401 to anonymous callers, so private repos do not show
                    return self._error(401 if auth is None else 404, "RepoNotFound", "Repository not found")
                if repo.gated and auth != "Bearer " + hub.token:
                    return self._error(401 if auth is None else 403, "GatedRepo", "Access to this model is restricted")
                if revision not in ("main", repo.commit):
                    return self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", name + " does not exist")
                data = repo.files[name]
                size = len(data) + (1 if name in hub.wrong_size else 0)
                if repo.is_lfs(name):
                    sha = hashlib.sha256(data).hexdigest()
                    self.send_response(302)
                    self.send_header("Location", "%s/blobs/%s?expires=soon" % (hub.cdn, sha))
                    self.send_header("X-Linked-Etag", '"%s"' % sha)
                    self.send_header("X-Linked-Size", str(size))
                    self.send_header("ETag", '"%s"' % git_blob_id(b"pointer " + data[:64]))
                    self.send_header("X-Repo-Commit", repo.commit)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", '"%s"' % git_blob_id(data))
                self.send_header("X-Repo-Commit", repo.commit)
                if not (head and name in hub.unsized):
                    self.send_header("Content-Length", str(size if head else len(data)))
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def _cdn(self, head):
                if self.headers.get("Authorization") is not None:
                    return self._error(400, message="the file store must never see the hub token")
                m = re.fullmatch(r"/blobs/([0-9a-f]{64})", urllib.parse.urlsplit(self.path).path)
                name, data = hub._find_blob(m.group(1)) if m else (None, None)
                if data is None:
                    return self._error(404)
                if name in hub.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start = 0
                r = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if r:
                    start = int(r.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", "bytes */%d" % len(data))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if head:
                    return
                body = data[start:]
                with hub.lock:
                    drop = hub.drop_after
                    if drop and drop[0] == name and drop[2] > 0:
                        hub.drop_after = (drop[0], drop[1], drop[2] - 1)
                        body = body[:drop[1]]
                    else:
                        drop = None
                self.wfile.write(body)
                if drop:
                    self.wfile.flush()
                    self.close_connection = True

        return Handler
