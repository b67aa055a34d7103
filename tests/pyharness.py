"""The small harness the Python integration tests share: named cases, checks that
collect failures instead of stopping, and the closing line CI reads."""
import subprocess

failures = []


def check(cond, what):
    """Record what failed, go on."""
    if not cond:
        failures.append(what)
    return cond


def run(*args, ok=True, env=None, text=False):
    """Run a command; with ok, stop the whole test if it fails."""
    p = subprocess.run(list(args), capture_output=True, env=env, text=text)
    if ok and p.returncode != 0:
        err = p.stderr if text else p.stderr.decode(errors="replace")
        raise SystemExit(f"{args}: {err}")
    return p


def run_cases(cases):
    """Run (name, fn) cases; print each result and 'N passed, N failed'. Exit code."""
    passed = failed = 0
    for name, fn in cases:
        before = len(failures)
        fn()
        ok = len(failures) == before
        print(("ok   " if ok else "FAIL ") + name)
        for f in failures[before:]:
            print("     " + f)
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
