"""A loopback HTTP proxy in front of a registry that injects the faults a real network
and real registries produce, on byte-range requests (span fetches), as scripted:

  "500"        HTTP 500
  "429"        HTTP 429 with Retry-After: 1
  "reset"      headers and half the body, then the connection is cut
  "truncate"   a Content-Length larger than the body sent
  "bad-range"  206 with a Content-Range other than the one asked for
  "slow"       the right answer after a 1.5 s pause
  "corrupt"    the right answer with one byte of its body changed

With strip_range set, it forwards no Range header at all, as some caching proxies do: the
registry answers 200 with the whole blob, which goes to the client as it is. With
first_range_only set, a request for several ranges is forwarded asking for its first
alone, as servers that serve one range per request answer it (206, that range only).

Each range request takes the next fault from the plan; an empty plan passes requests
through. Counts what it served so tests can see retries happen. With delay (seconds per
request, a round trip) and rate (bytes per second per response) it also stands in for a
real network, for benchmarks.
"""
import http.server
import socket
import threading
import time

from registry_fixture import PASSED_HEADERS as KEEP, client_headers, upstream


class FaultProxy:
    def __init__(self, upstream_port, delay=0.0, rate=0):
        self.upstream_port = upstream_port
        self.delay, self.rate = delay, rate
        self.plan = []
        self.strip_range = False
        self.first_range_only = False
        self.whole_answers = 0  # range requests answered with the whole blob (strip_range)
        self.range_requests = 0
        self.multi_range_requests = 0  # of those, the ones asking for several ranges
        self.bytes_served = 0
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0  # most range requests open at once
        self.ranges = []  # (path, first byte, last byte) of every range request answered
        self.paths = []  # the path of every request, in the order they came
        self.timeline = []  # (path, started, answered) of every request answered, monotonic seconds
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.forward(head=True)

            def do_GET(self):
                self.forward(head=False)

            def forward(self, head):
                started = time.monotonic()
                with proxy.lock:
                    proxy.paths.append(self.path)
                if proxy.delay:
                    time.sleep(proxy.delay)
                ranged = "Range" in self.headers
                if ranged:
                    with proxy.lock:
                        proxy.inflight += 1
                        proxy.max_inflight = max(proxy.max_inflight, proxy.inflight)
                try:
                    self.answer(head)
                finally:
                    with proxy.lock:
                        proxy.timeline.append((self.path, started, time.monotonic()))
                        if ranged:
                            proxy.inflight -= 1

            def answer(self, head):
                headers = client_headers(self)
                if proxy.strip_range and headers.pop("Range", None) is not None:
                    with proxy.lock:
                        proxy.whole_answers += 1
                if proxy.first_range_only and "," in headers.get("Range", ""):
                    headers["Range"] = headers["Range"].split(",")[0]
                resp, body = upstream(proxy.upstream_port, self.command, self.path, headers)
                time.sleep(0.05)  # a little latency, so parallel requests overlap visibly
                fault = None
                if "Range" in self.headers:
                    with proxy.lock:
                        proxy.range_requests += 1
                        asked = [r.partition("-") for r in self.headers["Range"].partition("=")[2].split(",")]
                        proxy.ranges.extend((self.path, int(first), int(last)) for first, _, last in asked)
                        proxy.multi_range_requests += len(asked) > 1
                        fault = proxy.plan.pop(0) if proxy.plan else None
                status, out_headers = resp.status, [(k, resp.getheader(k)) for k in KEEP if resp.getheader(k)]
                length = int(resp.getheader("Content-Length") or 0) if head else len(body)
                if fault in ("500", "429"):
                    status, body, length = int(fault), b"injected\n", 9
                    out_headers = [("Retry-After", "1")] if fault == "429" else []
                elif fault == "bad-range":
                    out_headers = [(k, v) for k, v in out_headers if k != "Content-Range"]
                    start, end_total = resp.getheader("Content-Range").split(" ")[1].split("-")
                    end, total = end_total.split("/")
                    out_headers.append(("Content-Range", f"bytes {int(start) + 1}-{int(end) + 1}/{total}"))
                elif fault == "slow":
                    time.sleep(1.5)
                elif fault == "truncate":
                    length = len(body) + 100
                elif fault == "corrupt" and body:
                    body = body[:len(body) // 2] + bytes([body[len(body) // 2] ^ 0xFF]) + body[len(body) // 2 + 1:]
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if head:
                    return
                if fault == "reset":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                with proxy.lock:
                    proxy.bytes_served += len(body)
                    proxy.requests += 1
                if proxy.rate:
                    chunk = max(1, proxy.rate // 50)
                    for i in range(0, len(body), chunk):
                        self.wfile.write(body[i:i + chunk])
                        time.sleep(len(body[i:i + chunk]) / proxy.rate)
                else:
                    self.wfile.write(body)
                if fault == "truncate":
                    self.wfile.flush()
                    self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, faults):
        with self.lock:
            self.plan = list(faults)
            self.range_requests = 0

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
