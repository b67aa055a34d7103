"""The OCI referrers API, stubbed in front of a registry that lacks it (distribution 2.8
answers 404): GET /v2/<repo>/referrers/<digest> returns the image index the registry
keeps under the fallback tag sha256-<hex>, and that tag itself is hidden, so a client
can only find v1 SOCI indexes through the API.

With api off it answers the API 404, as the registry would, and passes the tag through.
The fallback tag takes its answers from tag_faults first (HTTP statuses, one a request),
and counts its requests in tag_calls."""
import http.server
import re
import threading

from registry_fixture import PASSED_HEADERS as KEEP, client_headers, upstream


class ReferrersStub:
    def __init__(self, upstream_port):
        self.api_calls = 0
        self.api = True
        self.tag_faults = []
        self.tag_calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, headers, body, head=False):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def upstream(self, method, path):
                return upstream(upstream_port, method, path, client_headers(self))

            def handle_any(self, head):
                m = re.match(r"^/v2/(.+)/referrers/sha256:([0-9a-f]{64})", self.path)
                if m and not outer.api:
                    self.reply(404, [("Content-Type", "application/json")], b'{"errors":[]}', head)
                    return
                if m:
                    outer.api_calls += 1
                    resp, body = self.upstream("GET", f"/v2/{m.group(1)}/manifests/sha256-{m.group(2)}")
                    if resp.status != 200:
                        body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
                    self.reply(200, [("Content-Type", "application/vnd.oci.image.index.v1+json")], body, head)
                    return
                if re.search(r"/manifests/sha256-[0-9a-f]{64}$", self.path):
                    outer.tag_calls += 1
                    fault = outer.tag_faults.pop(0) if outer.tag_faults else None
                    if fault or outer.api:
                        self.reply(fault or 404, [("Content-Type", "application/json")], b'{"errors":[]}', head)
                        return
                resp, body = self.upstream(self.command, self.path)
                headers = [(k, resp.getheader(k)) for k in KEEP if resp.getheader(k)]
                if head:
                    self.send_response(resp.status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
                    self.end_headers()
                    return
                self.reply(resp.status, headers, body)

            def do_GET(self):
                self.handle_any(False)

            def do_HEAD(self):
                self.handle_any(True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
