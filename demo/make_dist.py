"""Write a minimal pure-Python wheel and sdist for the compose demo (no build backend,
so the demo needs nothing from the internet): make_dist.py NAME VERSION OUTDIR [PAYLOAD_BYTES]
(the wheel then carries that many random bytes more, for uploads that take a while)."""

import base64
import hashlib
import io
import os
import sys
import tarfile
import zipfile


def main(name: str, version: str, out: str, payload: str = "0") -> None:
    module = name.replace("-", "_")
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: mock-pypi compose demo\n"
    source = f'VERSION = "{version}"\n'
    os.makedirs(out, exist_ok=True)
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": source,
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: mock-pypi-demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    contents: dict[str, bytes] = {path: text.encode() for path, text in files.items()}
    if int(payload) > 0:
        contents[f"{module}/payload.bin"] = os.urandom(int(payload))
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(out, f"{module}-{version}-py3-none-any.whl"), "w") as wheel:
        for path, data in contents.items():
            wheel.writestr(path, data)
    base = f"{module}-{version}"
    with tarfile.open(os.path.join(out, f"{base}.tar.gz"), "w:gz") as sdist:
        for path, text in {
            "PKG-INFO": metadata,
            f"{module}/__init__.py": source,
            "pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n',
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{path}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main(*sys.argv[1:5])
