#!/usr/bin/env python3
"""Debian's fsck.erofs over every EROFS image the fuzz harness makes from its corpus and
committed crashers (replay_erofs with SOCI_EROFS_DUMP_DIR): a bounded replay of what the
fuzzer checks with our own checker, judged by the EROFS project's own tool. Each image is
checked against a sparse data device of the size it was made for.

Usage: test_erofs_fsck.py REPLAY_EROFS INPUT_DIR...
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    replay, inputs = sys.argv[1], [d for d in sys.argv[2:] if os.path.isdir(d)]
    if shutil.which("fsck.erofs") is None:
        print("SKIP: fsck.erofs missing (ci/deps.sh installs erofs-utils)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, SOCI_EROFS_DUMP_DIR=work)
        p = subprocess.run([replay, *inputs], env=env, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"replay_erofs failed: {p.stdout}{p.stderr}")
            return 1
        images = sorted(f for f in os.listdir(work) if f.endswith(".erofs"))
        failed = 0
        for name in images:
            size = int(name[:-len(".erofs")].split("-")[1])
            device = os.path.join(work, name + ".dev")
            with open(device, "wb") as f:
                f.truncate(size)
            r = subprocess.run(["fsck.erofs", f"--device={device}", os.path.join(work, name)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                failed += 1
                print(f"FAIL {name}: {(r.stdout + r.stderr)[-300:]}")
        print(f"{len(images) - failed} of {len(images)} images pass fsck.erofs")
        return 1 if failed or not images else 0


if __name__ == "__main__":
    sys.exit(main())
