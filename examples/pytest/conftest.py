"""What an uploader's test suite needs besides the mock-pypi fixtures: distributions to
publish, and a clean environment for the clients it runs."""

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Callable, Dict, List

import pytest

#: ``dists(name, version="1.0.0")``: the wheel and sdist of a project, built.
Dists = Callable[..., List[Path]]


def build_dists(out: Path, name: str, version: str) -> list[Path]:
    """A minimal pure-Python wheel and sdist, written directly (no build backend)."""
    module = name.replace("-", "_")
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n',
        f"{module}-{version}.dist-info/METADATA": metadata,
        f"{module}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: example\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text)}"
        for path, text in files.items()
    ]
    files[f"{module}-{version}.dist-info/RECORD"] = "\n".join(record + [f"{module}-{version}.dist-info/RECORD,,"]) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    sdist = out / f"{module}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        for path, text in {"PKG-INFO": metadata, f"{module}/__init__.py": files[f"{module}/__init__.py"]}.items():
            info = tarfile.TarInfo(f"{module}-{version}/{path}")
            info.size = len(text.encode())
            t.addfile(info, io.BytesIO(text.encode()))
    return [wheel, sdist]


@pytest.fixture
def dists(tmp_path: Path) -> Dists:
    """Build distributions of a project: ``dists("demo", "1.0.0")``."""
    return lambda name, version="1.0.0": build_dists(tmp_path / "dist" / name, name, version)


@pytest.fixture
def clean_env(tmp_path: Path) -> Dict[str, str]:
    """Only what a client needs from the outside: PATH and a HOME of its own."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
