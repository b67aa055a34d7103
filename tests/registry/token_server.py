"""A small token issuer for distribution's token auth, on loopback: it answers
GET /token?service=...&scope=repository:NAME:ACTIONS with a JWT (RS256, certificate in
the x5c header) granting what was asked, to the user it knows (HTTP basic), or pull-only
to anonymous callers when allowed. The registry trusts its certificate bundle."""
import base64
import http.server
import json
import subprocess
import threading
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, work, user, password, service="libsoci-test", issuer="libsoci-test-issuer", ttl=300):
        self.key, self.cert = f"{work}/token.key", f"{work}/token.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out",
                        self.cert, "-days", "2", "-subj", "/CN=libsoci token issuer"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.user, self.password, self.service, self.issuer, self.ttl = user, password, service, issuer, ttl
        self.issued = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                auth = self.headers.get("Authorization", "")
                who = None
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != (server.user, server.password):
                        self.send_response(401)
                        self.end_headers()
                        return
                    who = u
                access = []
                for scope in q.get("scope", []):
                    kind, name, actions = scope.split(":")
                    granted = actions.split(",") if who else [a for a in actions.split(",") if a == "pull"]
                    access.append({"type": kind, "name": name, "actions": granted})
                token = server.sign(who or "", access)
                body = json.dumps({"token": token, "access_token": token, "expires_in": server.ttl}).encode()
                server.issued += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sign(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.ttl, "nbf": now - 10,
                  "iat": now, "jti": f"{now}-{self.issued}", "access": access}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(sig)}"

    def registry_auth_config(self):
        return ["auth:", "  token:", f"    realm: {self.realm}", f"    service: {self.service}",
                f"    issuer: {self.issuer}", f"    rootcertbundle: {self.cert}"]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
