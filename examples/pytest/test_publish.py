"""A trusted-publishing test suite as an uploader's maintainer would write it."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterable

import pytest
from conftest import Dists

from mock_pypi import Server
from mock_pypi.factories import mock_pypi_server

#: A second, differently configured server (as TestPyPI would be), for the tests that ask.
testpypi = mock_pypi_server(audience="testpypi")


def uv_publish(server: Server, env: Dict[str, str], files: Iterable[Path]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        ["uv", "publish", "--trusted-publishing", "always", "--publish-url", server.upload_url, *map(str, files)],
        env=env, capture_output=True, text=True,
    )


def test_uv_trusted_publish_and_install(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str], tmp_path: Path) -> None:
    mock_pypi.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
    job = mock_pypi.github_env("octo/demo", "release.yml")

    result = uv_publish(mock_pypi, job.apply(clean_env), dists("demo"))

    assert result.returncode == 0, result.stderr + "\n" + mock_pypi.explain_last_exchange()
    assert sorted(f["filename"] for f in mock_pypi.files("demo")) == ["demo-1.0.0-py3-none-any.whl", "demo-1.0.0.tar.gz"]
    # uv burns its token after publishing; PyPI's 202 says nothing, the audit does.
    assert [b["outcome"] for b in mock_pypi.burns()] == ["burned"]
    # No attestations were uploaded: PyPI's provenance status says so.
    assert mock_pypi.provenance_status("demo", "1.0.0") == "no-provenance"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--index-url",
                    mock_pypi.simple_url, "--target", str(target), "demo==1.0.0"], env=clean_env, check=True)
    assert (target / "demo" / "__init__.py").read_text() == 'VERSION = "1.0.0"\n'


def test_twine_with_an_api_token(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str]) -> None:
    token = mock_pypi.api_token()
    env = {**clean_env, "REQUESTS_CA_BUNDLE": str(mock_pypi.ca_file)}

    result = subprocess.run(
        ["twine", "upload", "--non-interactive", "--repository-url", mock_pypi.upload_url,
         "-u", "__token__", "-p", token, *map(str, dists("tokened"))],
        env=env, capture_output=True, text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(mock_pypi.files("tokened")) == 2


def test_wrong_workflow_is_refused_with_an_explanation(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str]) -> None:
    mock_pypi.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
    job = mock_pypi.github_env("octo/demo", "nightly.yml")

    result = uv_publish(mock_pypi, job.apply(clean_env), dists("demo"))

    assert result.returncode != 0
    assert "invalid-publisher" in result.stderr
    explanation = mock_pypi.explain_last_exchange()
    assert "[FAIL] workflow: token has 'nightly.yml', publisher expects 'release.yml'" in explanation, explanation
    assert mock_pypi.files("demo") == []


def test_pending_publisher_creates_the_project(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str]) -> None:
    mock_pypi.add_publisher("github", "brand-new", repository="octo/brand-new", workflow_filename="release.yml",
                            pending=True)
    assert mock_pypi.files("brand-new") == []

    result = uv_publish(mock_pypi, mock_pypi.github_env("octo/brand-new").apply(clean_env), dists("brand-new"))

    assert result.returncode == 0, result.stderr + "\n" + mock_pypi.explain_last_exchange()
    assert len(mock_pypi.files("brand-new")) == 2
    assert [p["pending"] for p in mock_pypi.publishers()] == [False]


# The session fixture is one server for every test that asks for it, keeping its state.
seen: Dict[str, object] = {}


def test_session_server_first(mock_pypi_session: Server) -> None:
    seen["pid"] = mock_pypi_session.pid
    seen["token"] = mock_pypi_session.api_token("shared")


def test_session_server_second(mock_pypi_session: Server) -> None:
    assert mock_pypi_session.pid == seen["pid"]
    tokens = mock_pypi_session.api("GET", "/tokens")["tokens"]
    assert any(t["projects"] == ["shared"] for t in tokens)


def test_a_server_of_its_own(dists: Dists, clean_env: Dict[str, str], tmp_path: Path) -> None:
    """Without the fixtures: a server started and stopped by the test itself."""
    with Server(token_lifetime=120) as server:
        server.add_publisher("gitlab", "solo", project_path="group/solo")
        result = uv_publish(server, server.gitlab_env("group/solo").apply(clean_env), dists("solo"))
        assert result.returncode == 0, result.stderr + "\n" + server.explain_last_exchange()
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--index-url",
                        server.simple_url, "--target", str(tmp_path / "site"), "solo==1.0.0"], env=clean_env, check=True)
        pid = server.pid
    assert (tmp_path / "site" / "solo" / "__init__.py").is_file()
    # Leaving the block stopped the server.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_two_indexes_side_by_side(mock_pypi: Server, testpypi: Server, dists: Dists,
                                  clean_env: Dict[str, str]) -> None:
    """Each index has its own publishers and audience (uv asks each for its audience), and
    a token minted for the other audience is refused."""
    for server in (mock_pypi, testpypi):
        server.add_publisher("github", "twin", repository="octo-org/twin", workflow_filename="release.yml")
        job = server.github_env("octo-org/twin", "release.yml")
        result = uv_publish(server, job.apply(clean_env), dists("twin"))
        assert result.returncode == 0, result.stderr + server.explain_last_exchange()
    assert testpypi.exchanges()[0]["detail"]["claims"]["aud"] == "testpypi"
    token = mock_pypi.oidc_token("github", audience="testpypi", repository="octo-org/twin")
    request = urllib.request.Request(f"{mock_pypi.url}/_/oidc/mint-token", method="POST",
                                     data=json.dumps({"token": token}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 422
    assert "[FAIL] aud" in mock_pypi.explain_last_exchange()


def test_a_server_made_in_the_test(make_mock_pypi: Callable[..., Server]) -> None:
    strict = make_mock_pypi(warehouse_exact_errors=True)
    strict.add_publisher("github", "exact", repository="octo-org/exact", workflow_filename="release.yml")
    assert [p["project"] for p in strict.publishers()] == ["exact"]


def test_testpypi_beside_pypi(dists: Dists, clean_env: Dict[str, str]) -> None:
    """One server, two indexes: what goes to TestPyPI stays there."""
    with Server(testpypi=True) as server:
        test = server.testpypi
        assert test.index == "testpypi" and test.upload_url.endswith("/test/legacy/")
        token = test.api_token()
        env = {**clean_env, "REQUESTS_CA_BUNDLE": str(server.ca_file)}
        result = subprocess.run(
            ["twine", "upload", "--non-interactive", "--repository-url", test.upload_url,
             "-u", "__token__", "-p", token, *map(str, dists("both"))],
            env=env, capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(test.files("both")) == 2
        assert server.files("both") == []
        # A TestPyPI token means nothing to PyPI.
        refused = subprocess.run(
            ["twine", "upload", "--non-interactive", "--repository-url", server.upload_url,
             "-u", "__token__", "-p", token, *map(str, dists("both"))],
            env=env, capture_output=True, text=True,
        )
        assert refused.returncode != 0
        assert "Invalid or non-existent authentication information" in refused.stdout + refused.stderr


def test_a_preview_provider_publishes_only_when_served(dists: Dists, clean_env: Dict[str, str]) -> None:
    """Buildkite's pull request (warehouse#20515), before PyPI merges it."""
    with Server(preview=["buildkite"]) as server:
        server.add_publisher("buildkite", "kite", organization_slug="octo", pipeline_slug="release")
        job = server.preview_env("buildkite", organization_slug="octo", pipeline_slug="release")
        result = uv_publish(server, job.apply(clean_env), dists("kite"))
        assert result.returncode == 0, result.stderr + "\n" + server.explain_last_exchange()
        # The first exchange pinned the pipeline's immutable ids (trust on first use).
        pinned = server.publishers()[0]
        assert pinned["organization_id"] and pinned["pipeline_id"], pinned
    with Server() as plain:
        job = plain.preview_env("buildkite", organization_slug="octo", pipeline_slug="release")
        result = uv_publish(plain, job.apply(clean_env), dists("kite"))
        assert result.returncode != 0
        assert "unknown trusted publishing issuer" in result.stderr, result.stderr
