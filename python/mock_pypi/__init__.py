"""mock-pypi for Python: a local stand-in for PyPI's Trusted Publishing path.

    from mock_pypi import Server

    with Server() as server:
        server.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
        env = server.github_env("octo/demo", "release.yml")
        subprocess.run(["uv", "publish", "--trusted-publishing", "always",
                        "--publish-url", server.upload_url, "dist/*"], env=env.apply(), check=True)

The pytest plugin (``mock_pypi.pytest_plugin``, registered automatically) provides the
fixtures ``mock_pypi``, ``mock_pypi_session`` and ``make_mock_pypi``;
``mock_pypi.factories`` makes differently configured servers fixtures of their own.
Results are typed (``mock_pypi.Publisher``, ``Exchange``, ``Fault``, ``Scenario``, …).
"""

from ._binary import find_binary
from ._server import ApiError, ClientEnv, Server, ServerError, explain
from ._types import (
    ArmedScenario, Burn, Exchange, ExchangeDetail, Fault, FaultEvent, FaultRoute, Faults, Project,
    PreviewProvider, ProvenanceSource, ProvenanceStatus, Provider, Publisher, ReleaseProvenance, Scenario, Step,
)

try:
    from importlib.metadata import version as _version

    __version__ = _version("mock-pypi")
except Exception:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ApiError", "ArmedScenario", "Burn", "ClientEnv", "Exchange", "ExchangeDetail", "Fault", "FaultEvent", "FaultRoute",
    "Faults", "PreviewProvider", "Project", "ProvenanceSource", "ProvenanceStatus", "Provider", "ReleaseProvenance", "Publisher", "Scenario", "Server", "ServerError", "Step", "explain",
    "find_binary", "__version__",
]
