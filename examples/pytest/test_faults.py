"""An uploader's error handling, tested against an index that fails on purpose."""

import subprocess
from pathlib import Path
from typing import Dict, Iterable

from conftest import Dists

from mock_pypi import Server


def twine_upload(server: Server, token: str, env: Dict[str, str], files: Iterable[Path]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        ["twine", "upload", "--non-interactive", "--disable-progress-bar", "--repository-url", server.upload_url,
         "-u", "__token__", "-p", token, *map(str, files)],
        env={**env, "REQUESTS_CA_BUNDLE": str(server.ca_file)}, capture_output=True, text=True,
    )


def test_a_stored_but_503_upload_is_retried_into_success(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str]) -> None:
    token = mock_pypi.api_token("demo")
    # The first upload is stored, but the client is told 503 (as when the CDN gives up).
    mock_pypi.add_fault("upload", stored_then_status=503, when={"next": 1})

    result = twine_upload(mock_pypi, token, clean_env, dists("demo"))

    # twine retries; the index answers the identical re-upload with 200, and keeps one copy.
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(f["filename"] for f in mock_pypi.files("demo")) == ["demo-1.0.0-py3-none-any.whl",
                                                                       "demo-1.0.0.tar.gz"]
    [event] = mock_pypi.fault_events()
    assert event["route"] == "upload" and event["action"] == {"stored_then_status": 503}


def test_a_scenario_the_job_cannot_survive(mock_pypi: Server, dists: Dists, clean_env: Dict[str, str]) -> None:
    mock_pypi.add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")
    # The token exchange fails until the fault is cleared: the job must fail and say why.
    mock_pypi.add_fault("mint-token", status=503, style="cdn")
    job = mock_pypi.github_env("octo/demo")

    result = subprocess.run(
        ["uv", "publish", "--trusted-publishing", "always", "--publish-url", mock_pypi.upload_url,
         *map(str, dists("demo"))],
        # uv retries a 503 three times with backoff (about 12 s); no retries keeps the test fast.
        env={**job.apply(clean_env), "UV_HTTP_RETRIES": "0"}, capture_output=True, text=True,
    )

    assert result.returncode != 0
    assert "503" in result.stderr, result.stderr
    assert mock_pypi.files("demo") == []
    assert mock_pypi.faults()["faults"][0]["fired"] >= 1


def test_scenarios_say_what_a_client_should_do(mock_pypi: Server) -> None:
    names = {s["name"]: s for s in mock_pypi.scenarios()}
    assert "token-expires-mid-publish" in names
    armed = mock_pypi.arm_scenario("token-expires-mid-publish")
    assert [f["route"] for f in armed["armed"]] == ["mint-token", "upload"]
    assert armed["armed"][0]["token_lifetime"] > 0
    assert names["token-expires-mid-publish"]["expected"]
    mock_pypi.clear_faults()
    assert mock_pypi.faults()["faults"] == []
