"""A link between clients and a loopback registry that costs what it is set to cost: each
request waits `rtt` seconds before it is answered (a round trip), and each response body
flows at `rate` bytes per second per connection. Connections are kept alive on both
sides, so the proxy itself adds as little as it can; calibrate() measures what a 1-byte
range request really takes through it. Counts requests and body bytes served."""
import http.client
import http.server
import socket
import threading
import time

PASSED = ("Content-Type", "Content-Range", "Docker-Content-Digest", "WWW-Authenticate", "Location",
          "Docker-Distribution-Api-Version", "Accept-Ranges", "ETag")
FORWARDED = ("Range", "Accept", "Authorization")


class ShapingProxy:
    def __init__(self, upstream_port, rtt=0.0, rate=0):
        self.upstream_port, self.rtt, self.rate = upstream_port, rtt, rate
        self.lock = threading.Lock()
        self.requests = self.range_requests = self.bytes_served = 0
        local = threading.local()
        proxy = self

        def upstream():
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            return local.conn

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # Headers and body go in separate writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                self.forward()

            def do_HEAD(self):
                self.forward()

            def forward(self):
                start = time.monotonic()
                # Repeated headers (podman sends several Accept) joined, as HTTP allows.
                headers = {k: ", ".join(self.headers.get_all(k)) for k in FORWARDED if self.headers.get(k)}
                for attempt in range(2):  # a kept-alive upstream connection may have closed
                    try:
                        conn = upstream()
                        conn.request(self.command, self.path, headers=headers)
                        resp = conn.getresponse()
                        body = resp.read()
                        break
                    except (http.client.HTTPException, OSError):
                        local.conn = None
                        if attempt:
                            raise
                wait = proxy.rtt - (time.monotonic() - start)
                if wait > 0:
                    time.sleep(wait)
                self.send_response(resp.status)
                for k in PASSED:
                    if resp.getheader(k):
                        self.send_header(k, resp.getheader(k))
                length = int(resp.getheader("Content-Length") or 0) if self.command == "HEAD" else len(body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                with proxy.lock:
                    proxy.requests += 1
                    proxy.range_requests += "Range" in self.headers
                if self.command == "HEAD":
                    return
                sent, t0 = 0, time.monotonic()
                while sent < len(body):
                    chunk = body[sent:sent + (1 << 16)]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if proxy.rate:
                        ahead = sent / proxy.rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
                with proxy.lock:
                    proxy.bytes_served += len(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset_counts(self):
        with self.lock:
            self.requests = self.range_requests = self.bytes_served = 0

    def counts(self):
        with self.lock:
            return self.requests, self.bytes_served

    def calibrate(self, path, n=30):
        """Seconds a 1-byte range request of path takes through the proxy, over one kept-
        alive connection as libcurl uses it: (min, median, max) of n."""
        return calibrate(self.port, path, n)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def calibrate(port, path, n=30):
    """(min, median, max) seconds of n 1-byte range requests of path to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(n):
        t = time.monotonic()
        conn.request("GET", path, headers={"Range": "bytes=0-0"})
        r = conn.getresponse()
        r.read()
        times.append(time.monotonic() - t)
    conn.close()
    times.sort()
    return times[0], times[len(times) // 2], times[-1]


class Direct:
    """No link at all: clients go straight to the registry, as ShapingProxy's stand-in (so
    the proxy's own CPU is not on the machine). It counts nothing: counts() is (None, None)."""

    def __init__(self, upstream_port):
        self.port = upstream_port
        self.host = f"127.0.0.1:{upstream_port}"

    def reset_counts(self):
        pass

    def counts(self):
        return None, None

    def calibrate(self, path, n=30):
        return calibrate(self.port, path, n)

    def stop(self):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
