"""A fresh server per test, as the Python API gives it: how long `Server()` takes from
the call to ready (a new data directory each time), where that goes, and `reset()`.

Run: PYTHONPATH=python python3 benches/server_start.py [--binary target/release/mock-pypi]
     [--starts 20] [--resets 300]
"""

import argparse
import statistics
import sys
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mock_pypi import Server


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def line(label: str, values: list[float]) -> str:
    return (
        f"{label:<44} median {statistics.median(values):6.1f} ms  p90 {pct(values, 90):6.1f} ms"
        f"  max {max(values):6.1f} ms  ({len(values)} runs)"
    )


def starts(binary: str, n: int, **options: Any) -> list[float]:
    """Milliseconds from Server() to ready, each with a new data directory."""
    total = []
    for _ in range(n):
        t = time.perf_counter()
        server = Server(binary=binary, **options).start()
        total.append((time.perf_counter() - t) * 1000)
        server.stop()
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/mock-pypi")
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--resets", type=int, default=300)
    args = parser.parse_args()
    binary = str(Path(args.binary).resolve())

    # Each server generates its keys (the issuer's RSA-2048, the test CA, Sigstore's),
    # its database and its tokens.
    print(line("Server(): new data directory", starts(binary, args.starts)))
    # The pytest fixtures' way: one issuer key for the session, everything else new.
    with tempfile.TemporaryDirectory() as keys:
        with Server(binary=binary, keep_data=True) as first:
            key = Path(keys) / "issuer-key.pem"
            shutil.copy(first.data_dir / "issuer-key.pem", key)
        shutil.rmtree(first.data_dir.parent, ignore_errors=True)
        print(line("Server(issuer_key=...): the fixtures' way", starts(binary, args.starts, issuer_key=key)))
    with Server(binary=binary) as server:
        times = []
        for _ in range(args.resets):
            t = time.perf_counter()
            server.reset()
            times.append((time.perf_counter() - t) * 1000)
        print(line("reset()", times) + f"  p99 {pct(times, 99):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
