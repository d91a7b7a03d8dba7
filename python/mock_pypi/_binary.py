"""Finding the ``mock-pypi`` executable that was installed with this package."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

EXE = "mock-pypi" + (".exe" if sys.platform == "win32" else "")


def _candidates() -> list[Path]:
    dirs: list[Path] = []
    # The scripts directory of the environment this package lives in (pip, uv, venvs).
    scripts = sysconfig.get_path("scripts")
    if scripts:
        dirs.append(Path(scripts))
    # `pip install --user`.
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        user_scripts = sysconfig.get_path("scripts", scheme=user_scheme)
        if user_scripts:
            dirs.append(Path(user_scripts))
    # `pip install --target DIR`: DIR/bin next to DIR/mock_pypi.
    package_root = Path(__file__).resolve().parent.parent
    dirs.append(package_root / "bin")
    # A venv whose site-packages is lib/pythonX.Y/site-packages.
    dirs.append(package_root.parent.parent.parent / "bin")
    return [d / EXE for d in dirs]


def find_binary() -> str:
    """The path of the bundled ``mock-pypi`` binary.

    ``MOCK_PYPI_BIN`` overrides it (a binary built from source, say); otherwise the
    scripts directory the wheel installed it into is searched, then ``PATH``.
    """
    override = os.environ.get("MOCK_PYPI_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise FileNotFoundError(f"MOCK_PYPI_BIN={override!r} is not an executable file")
        return override
    for candidate in _candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(EXE)
    if found:
        return found
    raise FileNotFoundError(
        "the mock-pypi binary was not found next to the mock_pypi package or on PATH; "
        "install the mock-pypi wheel, or set MOCK_PYPI_BIN to a binary built with cargo"
    )
