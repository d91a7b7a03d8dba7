"""A classroom driven from Python: a two-seat workshop, one attendee doing the first
exercise exactly as its task says (the starter dist maker, ``mock-pypi env`` as the
seat, uv), the room's state read back through the API, a seat's token kept to its seat,
and a seat reset."""

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mock_pypi import ApiError, Server
from mock_pypi._binary import find_binary


def attendee(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command in the attendee's shell: only what ``join`` and ``env`` exported."""
    base = {"PATH": os.environ["PATH"], "HOME": str(cwd), "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(cwd / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(list(args), env={**base, **env}, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_classroom_from_python(tmp_path: Path) -> None:
    # The package test installs the pinned uv beside pytest: without it this must fail, not skip.
    assert shutil.which("uv") is not None, "uv is not installed"
    with Server(workshop_seats=2) as room:
        ids = [e["id"] for e in room.workshop()["exercises"]]
        assert ids[0] == "first-publish" and len(ids) == 8
        home = tmp_path / "seat1"
        home.mkdir()
        seat = room.join(1, home)
        assert seat["MOCK_PYPI_DATA_DIR"] == str(home / ".mock-pypi-seat")
        dist = attendee(seat, sys.executable, str(home / "exercises/make_dist.py"), "attendee-01-demo", "0.1.0",
                        "dist", cwd=home)
        assert dist.returncode == 0, dist.stderr
        job = attendee(seat, find_binary(), "env", "github", "--repository", "attendee-01/demo", "--workflow",
                       "release.yml", "--environment", "pypi", cwd=home)
        assert job.returncode == 0, job.stderr
        exports = {}
        for line in job.stdout.splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                exports[name] = value.strip("'")
        published = attendee({**seat, **exports}, "uv", "publish", "--trusted-publishing", "always",
                             *sorted(str(p) for p in (home / "dist").iterdir()), cwd=home)
        assert published.returncode == 0, published.stderr

        state = room.workshop()["seats"]
        assert state[0]["exercises"]["first-publish"] == "done"
        assert set(state[0]["exercises"].values()) == {"done", "pending"}
        assert set(state[1]["exercises"].values()) == {"pending"}
        mine = room.seat(1)
        assert mine["exchanges"][0]["outcome"] == "accepted"
        assert [s["done"] for s in mine["exercises"][0]["steps"]] == [True, True]

        # The seat's token opens its own seat only.
        token = (home / ".mock-pypi-seat/server.json").read_text()
        seat_token = __import__("json").loads(token)["request_token"]
        request = urllib.request.Request(f"{room.url}/_mock/api/workshop/seats/2",
                                         headers={"Authorization": f"Bearer {seat_token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request)
        assert refused.value.code == 403

        room.reset_seat(1)
        again = room.workshop()["seats"][0]
        assert set(again["exercises"].values()) == {"pending"} and again["joined"] is False
        with pytest.raises(ApiError) as missing:
            room.seat(3)
        assert missing.value.status == 404


def test_exercises_without_a_room_are_refused(tmp_path: Path) -> None:
    exercises = tmp_path / "exercises.toml"
    exercises.write_text("")
    with pytest.raises(ValueError, match="only a workshop"):
        Server(exercises=exercises)
