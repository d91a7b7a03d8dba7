"""The GitHub Action's script (action/start.sh), run the way the runner runs it: with
files for GITHUB_OUTPUT, GITHUB_ENV and GITHUB_PATH. Later steps then publish with uv
by trusted publishing using only what the action exported."""

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_dists(out, name, version):
    """The example suite's distribution builder (examples/pytest/conftest.py)."""
    spec = importlib.util.spec_from_file_location("example_conftest", REPO / "examples/pytest/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_dists(out, name, version)


def read_pairs(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_action_starts_a_server_later_steps_can_publish_to(tmp_path):
    wheel = os.environ["MOCK_PYPI_TEST_WHEEL"]
    runner = {name: tmp_path / name for name in ("output", "env", "path")}
    for f in runner.values():
        f.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_OUTPUT": str(runner["output"]),
        "GITHUB_ENV": str(runner["env"]),
        "GITHUB_PATH": str(runner["path"]),
        "MOCK_PYPI_ACTION_WHEEL": wheel,
        "MOCK_PYPI_ACTION_ARGS": "--token-lifetime 600",
    }
    started = time.monotonic()
    result = subprocess.run([str(REPO / "action/start.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = read_pairs(runner["output"])
    exported = read_pairs(runner["env"])
    bin_dir = runner["path"].read_text().strip()
    pid = int(outputs["pid"])
    try:
        assert outputs["upload-url"].startswith("https://127.0.0.1:") and outputs["upload-url"].endswith("/legacy/")
        assert Path(outputs["ca-file"]).is_file()
        assert exported["MOCK_PYPI_DATA_DIR"] == outputs["data-dir"]
        assert f"::add-mask::{outputs['admin-token']}" in result.stdout
        print(f"action ready in {time.monotonic() - started:.1f} s")

        # A later step: the CLI finds the server through the exported variables.
        step = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), **exported}
        subprocess.run(
            ["mock-pypi", "publisher", "add", "github", "--project", "demo", "--repository", "octo/demo"],
            env=step, check=True, capture_output=True,
        )
        job = subprocess.run(["mock-pypi", "env", "github", "--repository", "octo/demo"],
                             env=step, check=True, capture_output=True, text=True).stdout
        client = dict(step, UV_CACHE_DIR=str(tmp_path / "uv-cache"))
        for line in job.splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                client[name] = value.strip("'")
        files = build_dists(tmp_path / "dist", "demo", "1.0.0")
        published = subprocess.run(
            ["uv", "publish", "--trusted-publishing", "always", "--publish-url", outputs["upload-url"], *map(str, files)],
            env=client, capture_output=True, text=True,
        )
        assert published.returncode == 0, published.stderr
    finally:
        os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the server (pid {pid}) did not stop on SIGTERM")
