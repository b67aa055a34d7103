"""Blob storage behind redirects, as registries backed by object stores work: a front
proxy answers blob GETs with a 307 to a "storage" server on another loopback address
(127.0.0.2), which serves the bytes. Storage records whether a client sent it an
Authorization header (it must not: the registry's credentials are not storage's), and
can be told to refuse one request as an expired signature (403)."""
import base64
import http.server
import threading

from registry_fixture import PASSED_HEADERS as KEEP, client_headers, upstream


def _serve(handler, address):
    server = http.server.ThreadingHTTPServer(address, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class RedirectingRegistry:
    def __init__(self, upstream_port, user, password):
        self.auth_seen = 0
        self.storage_requests = 0
        self.storage_ranges = 0
        self.redirects = 0
        self.range_redirects = 0
        self.expire_cached = False  # refuse, once, a range that came from a remembered URL
        self.lock = threading.Lock()
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        outer = self

        def fetch(method, path, headers):
            return upstream(upstream_port, method, path, headers)

        class Storage(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.storage_requests += 1
                    outer.storage_ranges += "Range" in self.headers
                    outer.auth_seen += "Authorization" in self.headers
                    # Every redirected range reaches storage once; any more came straight
                    # from a client's remembered URL.
                    cached = "Range" in self.headers and outer.storage_ranges > outer.range_redirects
                    expire = cached and outer.expire_cached
                    if expire:
                        outer.expire_cached = False
                        outer.storage_ranges -= 1
                if expire:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {"Authorization": basic}
                if "Range" in self.headers:
                    headers["Range"] = self.headers["Range"]
                resp, body = fetch("GET", self.path.split("?")[0], headers)
                self.send_response(resp.status)
                for k in ("Content-Type", "Content-Range"):
                    if resp.getheader(k):
                        self.send_header(k, resp.getheader(k))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.storage = _serve(Storage, ("127.0.0.2", 0))
        storage_port = self.storage.server_address[1]

        class Front(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.forward(True)

            def do_GET(self):
                self.forward(False)

            def forward(self, head):
                if not head and "/blobs/sha256:" in self.path and "Authorization" in self.headers:
                    with outer.lock:
                        outer.redirects += 1
                        outer.range_redirects += "Range" in self.headers
                    self.send_response(307)
                    self.send_header("Location", f"http://127.0.0.2:{storage_port}{self.path}?X-Signature=test")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                resp, body = fetch(self.command, self.path, client_headers(self))
                self.send_response(resp.status)
                for k in KEEP:
                    if resp.getheader(k):
                        self.send_header(k, resp.getheader(k))
                self.send_header("Content-Length", resp.getheader("Content-Length") if head else str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        self.front = _serve(Front, ("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.front.server_address[1]}"

    def stop(self):
        for s in (self.front, self.storage):
            s.shutdown()
            s.server_close()
