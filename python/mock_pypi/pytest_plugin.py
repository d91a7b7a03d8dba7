"""pytest fixtures for mock-pypi (registered through the ``pytest11`` entry point).

* ``mock_pypi_session``: one server for the whole test session.
* ``mock_pypi``: the same server, reset before each test (no projects, publishers,
  tokens or exchanges left from the last one).
* ``mock_pypi_server_options``: override it in a ``conftest.py`` to pass options to
  :class:`mock_pypi.Server` (``{"token_lifetime": 60}``, …).
* ``make_mock_pypi``: a factory for servers of a test's own, each configured as the
  test asks (``make_mock_pypi(audience="testpypi")``) and stopped after the test;
  :func:`mock_pypi.factories.mock_pypi_server` makes such a server a fixture of its
  own, at any scope.

``--mock-pypi-data-dir DIR`` points the fixtures at a server that is already running with
that data directory instead of starting one; ``--mock-pypi-keep`` keeps the data
directory of the server the plugin starts. When a test that used the fixtures fails, the
report shows the newest token exchange, explained.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Iterator, List

import pytest

from ._server import Server, ServerError

_USED = pytest.StashKey[Server]()
_KEPT = pytest.StashKey[List[str]]()


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


def start_server(config: pytest.Config, options: dict[str, Any]) -> Server:
    """A server started with ``options`` plus the ini file's ``mock_pypi_args`` and
    ``--mock-pypi-keep``; a bad option is a usage error naming it."""
    options = dict(options)
    extra = list(options.pop("extra_args", ())) + list(config.getini("mock_pypi_args"))
    # Every fresh server of the process shares one fake-issuer key (see Server).
    keep = bool(config.getoption("--mock-pypi-keep"))
    options.setdefault("keep_data", keep)
    try:
        server = Server(extra_args=extra, **options)
    except (TypeError, ValueError) as e:
        raise pytest.UsageError(f"mock-pypi server options: {e}") from None
    server.start()
    if options["keep_data"]:
        config.stash.setdefault(_KEPT, []).append(str(server.data_dir))
    return server


@pytest.fixture(scope="session")
def mock_pypi_server_options() -> dict[str, Any]:
    """Keyword arguments for :class:`mock_pypi.Server`; override in ``conftest.py``."""
    return {}


@pytest.fixture(scope="session")
def mock_pypi_session(request: pytest.FixtureRequest, mock_pypi_server_options: dict[str, Any]) -> Iterator[Server]:
    """One mock-pypi server for the whole session."""
    attach = request.config.getoption("--mock-pypi-data-dir")
    server = Server.attach(attach) if attach else start_server(request.config, mock_pypi_server_options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mock_pypi(request: pytest.FixtureRequest, mock_pypi_session: Server) -> Iterator[Server]:
    """The session's server, reset to a clean state for this test."""
    mock_pypi_session.reset()
    request.node.stash[_USED] = mock_pypi_session
    yield mock_pypi_session
    # A server that died during the test fails the test, with its stderr.
    mock_pypi_session.check_alive()


@pytest.fixture
def make_mock_pypi(request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Start servers of this test's own: ``make_mock_pypi(**options)`` takes
    :class:`mock_pypi.Server`'s options and returns the started server; every one is
    stopped when the test ends."""
    started: List[Server] = []

    def make(**options: Any) -> Server:
        server = start_server(request.config, options)
        started.append(server)
        request.node.stash[_USED] = server
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    server = item.stash.get(_USED, None)
    if server is None or report.when != "call" or not report.failed:
        return report
    try:
        server.check_alive()
        text = server.explain_last_exchange()
    except ServerError as e:
        text = str(e)
    except Exception as e:  # the report must never hide the test's own failure
        text = f"(could not read the audit log: {e})"
    report.sections.append(("mock-pypi: the newest token exchange", text))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.section("mock-pypi")
        for path in kept:
            terminalreporter.write_line(f"data directory kept: {path}")
