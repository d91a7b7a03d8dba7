"""A trusted-publishing test suite as an uploader's maintainer would write it."""

import os
import subprocess
import sys

import pytest


def uv_publish(server, env, files):
    return subprocess.run(
        ["uv", "publish", "--trusted-publishing", "always", "--publish-url", server.upload_url, *map(str, files)],
        env=env, capture_output=True, text=True,
    )


def test_uv_trusted_publish_and_install(mock_pypi, dists, clean_env, tmp_path):
    mock_pypi.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
    job = mock_pypi.github_env("octo/demo", "release.yml")

    result = uv_publish(mock_pypi, job.apply(clean_env), dists("demo"))

    assert result.returncode == 0, result.stderr + "\n" + mock_pypi.explain_last_exchange()
    assert sorted(f["filename"] for f in mock_pypi.files("demo")) == ["demo-1.0.0-py3-none-any.whl", "demo-1.0.0.tar.gz"]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--index-url",
                    mock_pypi.simple_url, "--target", str(target), "demo==1.0.0"], env=clean_env, check=True)
    assert (target / "demo" / "__init__.py").read_text() == 'VERSION = "1.0.0"\n'


def test_twine_with_an_api_token(mock_pypi, dists, clean_env):
    token = mock_pypi.api_token()
    env = {**clean_env, "REQUESTS_CA_BUNDLE": str(mock_pypi.ca_file)}

    result = subprocess.run(
        ["twine", "upload", "--non-interactive", "--repository-url", mock_pypi.upload_url,
         "-u", "__token__", "-p", token, *map(str, dists("tokened"))],
        env=env, capture_output=True, text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(mock_pypi.files("tokened")) == 2


def test_wrong_workflow_is_refused_with_an_explanation(mock_pypi, dists, clean_env):
    mock_pypi.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
    job = mock_pypi.github_env("octo/demo", "nightly.yml")

    result = uv_publish(mock_pypi, job.apply(clean_env), dists("demo"))

    assert result.returncode != 0
    assert "invalid-publisher" in result.stderr
    explanation = mock_pypi.explain_last_exchange()
    assert "[FAIL] workflow: token has 'nightly.yml', publisher expects 'release.yml'" in explanation, explanation
    assert mock_pypi.files("demo") == []


def test_pending_publisher_creates_the_project(mock_pypi, dists, clean_env):
    mock_pypi.add_publisher("github", "brand-new", repository="octo/brand-new", workflow_filename="release.yml",
                            pending=True)
    assert mock_pypi.files("brand-new") == []

    result = uv_publish(mock_pypi, mock_pypi.github_env("octo/brand-new").apply(clean_env), dists("brand-new"))

    assert result.returncode == 0, result.stderr + "\n" + mock_pypi.explain_last_exchange()
    assert len(mock_pypi.files("brand-new")) == 2
    assert [p["pending"] for p in mock_pypi.publishers()] == [False]


# The session fixture is one server for every test that asks for it, keeping its state.
seen = {}


def test_session_server_first(mock_pypi_session):
    seen["pid"] = mock_pypi_session.pid
    seen["token"] = mock_pypi_session.api_token("shared")


def test_session_server_second(mock_pypi_session):
    assert mock_pypi_session.pid == seen["pid"]
    tokens = mock_pypi_session.api("GET", "/tokens")["tokens"]
    assert any(t["projects"] == ["shared"] for t in tokens)


def test_a_server_of_its_own(dists, clean_env, tmp_path):
    """Without the fixtures: a server started and stopped by the test itself."""
    from mock_pypi import Server

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
