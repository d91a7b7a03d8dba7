"""System calls per small upload, counted by strace on the running server: thread
hand-offs show up as futex calls, files and directories as openat/mkdir/rename.

Run (as a user who may ptrace the server, e.g. root):
  python3 benches/upload_syscalls.py --binary target/release/mock-pypi [--uploads 500]
Add a second --binary to compare two builds in one run.
"""

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def wheel(name: str, version: str) -> tuple[str, bytes]:
    """A tiny valid wheel (METADATA, WHEEL, RECORD), about a kilobyte."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b'=').decode()},{len(b)}\n"
        for p, b in files.items()
    ) + f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files.items():
            z.writestr(p, b)
    return f"{module}-{version}-py3-none-any.whl", out.getvalue()


def body(name: str, version: str) -> tuple[bytes, str]:
    filename, content = wheel(name, version)
    boundary = "benchboundary"
    fields = {
        ":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
        "name": name, "version": version, "filetype": "bdist_wheel", "pyversion": "py3",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def measure(binary: str, uploads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "RUST_LOG": "warn"},
        )
        try:
            info = None
            for _ in range(2000):
                try:
                    info = json.loads((data / "server.json").read_text())
                    if info.get("pid") == server.pid:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.005)
            assert info, "the server did not start"
            host, port = info["http_url"].removeprefix("http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port))
            admin = {"Authorization": f"Bearer {info['admin_token']}", "Content-Type": "application/json"}
            conn.request("POST", "/_mock/api/tokens", json.dumps({}), admin)
            token = json.loads(conn.getresponse().read())["token"]
            auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
            bodies = [body(f"bench-{i}", "1.0") for i in range(uploads + 20)]
            def send(payload: tuple[bytes, str]) -> None:
                conn.request("POST", "/legacy/", payload[0], {"Authorization": auth, "Content-Type": payload[1]})
                response = conn.getresponse()
                response.read()
                assert response.status == 200, response.status
            for b in bodies[:20]:  # warm up: pools, caches, first project pages
                send(b)
            counts = Path(tmp) / "strace.txt"
            tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(counts), "-p", str(server.pid)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # attached to every thread
            t = time.perf_counter()
            for b in bodies[20:]:
                send(b)
            elapsed = time.perf_counter() - t
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            calls: dict[str, float] = {}
            for line in counts.read_text().splitlines():
                cols = line.split()
                # % time, seconds, usecs/call, calls, [errors,] syscall
                if len(cols) >= 5 and cols[-1].isidentifier() and cols[3].isdigit():
                    calls[cols[-1]] = int(cols[3]) / uploads
            calls["(uploads/s under strace)"] = uploads / elapsed
            return calls
        finally:
            server.terminate()
            server.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append", required=True)
    parser.add_argument("--uploads", type=int, default=500)
    args = parser.parse_args()
    for binary in args.binary:
        calls = measure(os.path.abspath(binary), args.uploads)
        total = sum(v for k, v in calls.items() if not k.startswith("(") and k != "total")
        keys = ["futex", "openat", "mkdir", "rename", "write", "pwrite64", "fdatasync", "fsync", "epoll_wait", "sendto", "recvfrom"]
        shown = ", ".join(f"{k} {calls.get(k, 0):.1f}" for k in keys if calls.get(k))
        print(f"{binary}: {total:.1f} system calls per upload ({shown}); "
              f"{calls['(uploads/s under strace)']:.0f} uploads/s under strace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
