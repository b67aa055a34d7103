"""A real registry (Debian's docker-registry, distribution 2.8) on loopback for the tests:
plain HTTP or TLS with a CA the test makes, open or behind htpasswd basic auth."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import http.client

# Response headers the test proxies pass on from the registry.
PASSED_HEADERS = ("Content-Type", "Content-Range", "Docker-Content-Digest", "WWW-Authenticate", "Location",
                  "Docker-Distribution-Api-Version")


def upstream(port, method, path, headers):
    """One request to the registry on 127.0.0.1:port; the response and its whole body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def client_headers(handler, names=("Range", "Accept", "Authorization")):
    """The request headers a proxy forwards (repeated ones joined, as HTTP allows)."""
    return {k: ", ".join(handler.headers.get_all(k)) for k in names if handler.headers.get_all(k)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, work, htpasswd=None, tls=None, auth_config=None, log_level="error"):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(dir=work, prefix="registry-")
        cfg = [
            "version: 0.1",
            "log:",
            f"  level: {log_level}",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.dir}/data",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
        ]
        if tls:
            cfg += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if htpasswd:
            cfg += ["auth:", "  htpasswd:", "    realm: test-realm", f"    path: {htpasswd}"]
        if auth_config:
            cfg += auth_config
        with open(f"{self.dir}/config.yml", "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.start()

    def start(self):
        """Serve (again, after stop: same port, same storage)."""
        self.log = open(f"{self.dir}/log", "a")
        self.proc = subprocess.Popen(["docker-registry", "serve", f"{self.dir}/config.yml"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not start: {open(self.dir + '/log').read()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def make_htpasswd(work, user, password):
    path = f"{work}/htpasswd"
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True).stdout
    with open(path, "w") as f:
        f.write(out)
    return path


def available():
    return shutil.which("docker-registry") is not None and shutil.which("htpasswd") is not None


def make_tls(work):
    """A CA and a certificate for 127.0.0.1 signed by it; returns (ca, cert, key)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ca, ca_key = f"{work}/ca.pem", f"{work}/ca.key"
    cert, key, csr, ext = f"{work}/srv.pem", f"{work}/srv.key", f"{work}/srv.csr", f"{work}/srv.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
            "-subj", "/CN=libsoci test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", ext)
    return ca, cert, key
