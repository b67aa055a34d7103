"""What the integration tests read of a cache directory's disk store: its span files
(DIR/soci-cache-v1/spans/<layer hex>/<span digest hex>, named by the digest of their
bytes), and whether one's bytes still match its name."""
import hashlib
import os


def stored_spans(cache):
    """The path of every span file in cache's store."""
    root = f"{cache}/soci-cache-v1/spans"
    return [os.path.join(d, f) for d, _, names in os.walk(root) for f in names]


def intact(path):
    """Whether a stored span's bytes match the digest it is named by."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest() == os.path.basename(path)
