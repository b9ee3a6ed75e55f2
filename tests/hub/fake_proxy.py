"""A loopback HTTP proxy for the hub tests: CONNECT tunnels (for https:// targets) and absolute-form
forwarding (for http:// ones), as squid or a corporate proxy does, with optional Basic credentials
and a switch that refuses every request with a chosen status. It records each tunnel's target and
each forwarded URL, so a test can tell which requests went through it and which went direct."""
import base64
import socket
import socketserver
import threading
import urllib.parse


def _read_head(sock):
    """The request line and headers, up to the blank line; None when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > 65536:
            return None, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def _pump(source, sink):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _relay(client, upstream):
    """Bytes both ways until each side has closed its half."""
    other = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    other.start()
    _pump(client, upstream)
    other.join()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeProxy:
    def __init__(self, credentials=None):
        self.credentials = credentials  # (user, password) the proxy demands, or None
        self.refuse = None              # a status (403, 502, ...) to answer every request with
        self.tunnels = []               # "host:port" of each CONNECT it opened
        self.forwarded = []             # absolute URL of each plain request it forwarded
        self.refused = []               # (method, target) it refused
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url_with(self, user, password):
        return "http://%s:%s@127.0.0.1:%d" % (urllib.parse.quote(user, safe=""), urllib.parse.quote(password, safe=""),
                                              self.server.server_address[1])

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self.lock:
            self.tunnels.clear()
            self.forwarded.clear()
            self.refused.clear()

    def _handler(self):
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def _answer(self, status, reason, extra=""):
                body = b"refused by the test proxy\n"
                self.request.sendall(("HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n"
                                      % (status, reason, extra, len(body))).encode() + body)

            def handle(self):
                head, rest = _read_head(self.request)
                if head is None:
                    return
                lines = head.split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
                auth = next((v.strip() for k, v in headers if k.strip().lower() == "proxy-authorization"), None)
                if proxy.credentials is not None:
                    want = "Basic " + base64.b64encode(("%s:%s" % proxy.credentials).encode()).decode()
                    if auth != want:
                        with proxy.lock:
                            proxy.refused.append((method, target))
                        return self._answer(407, "Proxy Authentication Required",
                                            'Proxy-Authenticate: Basic realm="rerankd test"\r\n')
                if proxy.refuse is not None:
                    with proxy.lock:
                        proxy.refused.append((method, target))
                    return self._answer(proxy.refuse, "Refused")
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    try:
                        upstream = socket.create_connection((host.strip("[]"), int(port)))
                    except OSError:
                        return self._answer(502, "Bad Gateway")
                    with proxy.lock:
                        proxy.tunnels.append(target)
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if rest:
                        upstream.sendall(rest)
                    with upstream:
                        _relay(self.request, upstream)
                    return
                url = urllib.parse.urlsplit(target)
                if url.scheme != "http":  # an origin-form request is a client that forgot it talks to a proxy
                    return self._answer(400, "Bad Request")
                with proxy.lock:
                    proxy.forwarded.append(target)
                kept = [(k, v) for k, v in headers if k.strip().lower() not in ("proxy-authorization", "proxy-connection")]
                path = url.path + ("?" + url.query if url.query else "")
                request = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s:%s\r\n" % kv for kv in kept) + "\r\n"
                try:
                    upstream = socket.create_connection((url.hostname, url.port or 80))
                except OSError:
                    return self._answer(502, "Bad Gateway")
                with upstream:
                    upstream.sendall(request.encode("latin-1") + rest)
                    _relay(self.request, upstream)

        return Handler
