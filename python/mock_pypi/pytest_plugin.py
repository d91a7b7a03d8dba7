"""pytest fixtures for mock-pypi (registered through the ``pytest11`` entry point).

* ``mock_pypi_session``: one server for the whole test session.
* ``mock_pypi``: the same server, reset before each test (no projects, publishers,
  tokens or exchanges left from the last one).
* ``mock_pypi_server_options``: override it in a ``conftest.py`` to pass options to
  :class:`mock_pypi.Server` (``{"token_lifetime": 60}``, …).

``--mock-pypi-data-dir DIR`` points the fixtures at a server that is already running with
that data directory instead of starting one; ``--mock-pypi-keep`` keeps the data
directory of the server the plugin starts. When a test that used the fixtures fails, the
report shows the newest token exchange, explained.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from ._server import Server, ServerError

_USED = pytest.StashKey[Server]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mock-pypi")
    group.addoption(
        "--mock-pypi-data-dir",
        metavar="DIR",
        help="use the mock-pypi server already running with this data directory (it reads DIR/server.json) "
        "instead of starting one",
    )
    group.addoption(
        "--mock-pypi-keep",
        action="store_true",
        help="keep the data directory of the mock-pypi server the fixtures start",
    )
    parser.addini("mock_pypi_args", type="args", help="extra `mock-pypi serve` arguments for the fixtures' server")


@pytest.fixture(scope="session")
def mock_pypi_server_options() -> dict[str, Any]:
    """Keyword arguments for :class:`mock_pypi.Server`; override in ``conftest.py``."""
    return {}


@pytest.fixture(scope="session")
def mock_pypi_session(request: pytest.FixtureRequest, mock_pypi_server_options: dict[str, Any]) -> Iterator[Server]:
    """One mock-pypi server for the whole session."""
    config = request.config
    attach = config.getoption("--mock-pypi-data-dir")
    if attach:
        server = Server.attach(attach)
    else:
        options = dict(mock_pypi_server_options)
        extra = list(options.pop("extra_args", ())) + list(config.getini("mock_pypi_args"))
        options.setdefault("keep_data", bool(config.getoption("--mock-pypi-keep")))
        try:
            server = Server(extra_args=extra, **options)
        except TypeError as e:
            raise pytest.UsageError(f"mock_pypi_server_options: {e}") from None
        except ValueError as e:
            raise pytest.UsageError(f"mock_pypi_server_options: {e}") from None
        server.start()
    try:
        yield server
    finally:
        server.stop()
        if config.getoption("--mock-pypi-keep") and not attach:
            print(f"\nmock-pypi data directory kept: {server.data_dir}")


@pytest.fixture
def mock_pypi(request: pytest.FixtureRequest, mock_pypi_session: Server) -> Iterator[Server]:
    """The session's server, reset to a clean state for this test."""
    mock_pypi_session.reset()
    request.node.stash[_USED] = mock_pypi_session
    yield mock_pypi_session
    # A server that died during the test fails the test, with its stderr.
    mock_pypi_session.check_alive()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    server = item.stash.get(_USED, None)
    if server is None or report.when != "call" or not report.failed:
        return
    try:
        server.check_alive()
        text = server.explain_last_exchange()
    except ServerError as e:
        text = str(e)
    except Exception as e:  # the report must never hide the test's own failure
        text = f"(could not read the audit log: {e})"
    report.sections.append(("mock-pypi: the newest token exchange", text))
