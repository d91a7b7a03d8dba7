"""Fixture factories, as pytest-postgresql's ``factories`` are: a server configured
differently from the session's, as a fixture of its own.

    # conftest.py
    from mock_pypi.factories import mock_pypi_server

    testpypi = mock_pypi_server(audience="testpypi")              # per test
    strict = mock_pypi_server(scope="session", warehouse_exact_errors=True)

A test that names the fixture gets the started :class:`mock_pypi.Server`; it is stopped
at the end of the fixture's scope.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Literal

import pytest

from ._server import Server
from .pytest_plugin import start_server


Scope = Literal["function", "class", "module", "package", "session"]


def mock_pypi_server(*, scope: Scope = "function", **options: Any) -> Callable[..., Any]:
    """A fixture starting a server with ``options`` (:class:`mock_pypi.Server`'s), at
    ``scope`` (``function``, ``module``, ``session``, …)."""

    @pytest.fixture(scope=scope)
    def fixture(request: pytest.FixtureRequest) -> Iterator[Server]:
        server = start_server(request.config, options)
        try:
            yield server
        finally:
            server.stop()

    return fixture
