"""A mock-pypi server for tests: the bundled binary on a free loopback port, with a
temporary data directory, driven through its control API (stdlib only)."""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Union, cast

from ._binary import find_binary
from ._types import (
    ArmedScenario, Burn, Exchange, PreviewProvider, ProvenanceStatus, ReleaseProvenance, Fault, FaultEvent, FaultRoute, Faults, Project, Provider, Publisher,
    Scenario,
)

PathLike = Union[str, "os.PathLike[str]"]

PROVIDERS: tuple[Provider, ...] = ("github", "gitlab", "google", "activestate", "buildkite", "circleci", "semaphore")
#: What ``Server(preview=...)`` takes: PyPI's open pull requests.
PREVIEWS: tuple[str, ...] = ("buildkite", "circleci", "semaphore", "reusable-workflows")

#: Keyword arguments each ``*_env`` helper turns into `mock-pypi env` flags.
_ENV_FLAGS: dict[str, dict[str, str]] = {
    "github": {
        "ref": "--ref",
        "sha": "--sha",
        "event_name": "--event-name",
        "repository_owner_id": "--repository-owner-id",
        "job_workflow_ref": "--job-workflow-ref",
        "sub_format": "--sub-format",
    },
    "gitlab": {"ref_path": "--ref-path", "sha": "--sha"},
    "google": {},
    "activestate": {"actor": "--actor", "actor_id": "--actor-id"},
    "buildkite": {},
    "circleci": {},
    "semaphore": {},
}


_KEY_LOCK = threading.Lock()
_KEY_DIR: list[str] = []


def _process_key() -> Path:
    """Where this process's fake-issuer key lives (a TEST KEY, removed at exit)."""
    if not _KEY_DIR:
        directory = tempfile.mkdtemp(prefix="mock-pypi-key-")
        atexit.register(shutil.rmtree, directory, True)
        _KEY_DIR.append(directory)
    return Path(_KEY_DIR[0]) / "issuer-key.pem"


class ServerError(RuntimeError):
    """The server could not start, or stopped while in use. The message carries the
    end of its stderr."""


class ApiError(RuntimeError):
    """The control API refused a request; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class ClientEnv(dict[str, str]):
    """The variables a CI job's client sees (what ``mock-pypi env …`` exports).

    ``unset`` names the variables the job must *not* have (other CI systems' markers).
    :meth:`apply` builds a whole environment for ``subprocess``: the base (by default
    ``os.environ``) without those, plus these.
    """

    unset: tuple[str, ...]

    def __init__(self, values: Mapping[str, str], unset: Iterable[str] = ()) -> None:
        super().__init__(values)
        self.unset = tuple(unset)

    def apply(self, base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        for name in self.unset:
            env.pop(name, None)
        env.update(self)
        return env


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer (seconds), not {value!r}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # The server is on loopback: a proxy from the environment must never see these calls.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """A running mock-pypi: ``with Server() as server: ...``.

    Starts the bundled binary (``mock-pypi serve``) on a free port of 127.0.0.1 with a
    temporary data directory, waits until it serves, and stops it by PID on exit
    (the temporary directory is removed unless ``keep_data``). Every option has the
    meaning of the ``serve`` flag of the same name, except ``fresh_issuer_key``: a
    server on a temporary data directory signs with the one fake-issuer key this Python
    process generates on first use (an RSA key per server was most of a fresh server's
    start), unless ``issuer_key`` or ``fresh_issuer_key=True`` says otherwise. Each
    server keeps its own issuer URLs, so none trusts another's tokens.
    """

    def __init__(
        self,
        *,
        config: Optional[PathLike] = None,
        audience: Optional[str] = None,
        token_lifetime: Optional[int] = None,
        database_url: Optional[str] = None,
        impersonate_hosts: Sequence[str] = (),
        warehouse_exact_errors: bool = False,
        testpypi: bool = False,
        preview: Sequence[str] = (),
        admin_token: Optional[str] = None,
        issuer_key: Optional[PathLike] = None,
        fresh_issuer_key: bool = False,
        data_dir: Optional[PathLike] = None,
        keep_data: bool = False,
        extra_args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        binary: Optional[PathLike] = None,
        startup_timeout: float = 20.0,
        workshop_seats: Optional[int] = None,
        exercises: Optional[PathLike] = None,
    ) -> None:
        args: list[str] = []
        # A classroom (``mock-pypi workshop``): seats, exercises that check themselves.
        self._subcommand = "serve"
        if workshop_seats is not None:
            self._subcommand = "workshop"
            args += ["--seats", str(_positive_int("workshop_seats", workshop_seats))]
        if exercises is not None:
            if workshop_seats is None:
                raise ValueError("exercises: only a workshop has them (pass workshop_seats)")
            if not Path(exercises).is_file():
                raise ValueError(f"exercises: no such file {str(exercises)!r}")
            args += ["--exercises", str(Path(exercises).resolve())]
        if config is not None:
            if not Path(config).is_file():
                raise ValueError(f"config: no such file {str(config)!r}")
            args += ["--config", str(Path(config).resolve())]
        if audience is not None:
            args += ["--audience", _text("audience", audience)]
        if token_lifetime is not None:
            args += ["--token-lifetime", str(_positive_int("token_lifetime", token_lifetime))]
        if database_url is not None:
            url = _text("database_url", database_url)
            if not url.startswith(("sqlite:", "postgres:", "postgresql:")):
                raise ValueError(f"database_url must be sqlite://… or postgres://…, not {url!r}")
            args += ["--database-url", url]
        if isinstance(impersonate_hosts, str):
            raise ValueError("impersonate_hosts must be a list of host names, not a string")
        for host in impersonate_hosts:
            args += ["--impersonate-host", _text("impersonate_hosts", host)]
        if warehouse_exact_errors:
            args.append("--warehouse-exact-errors")
        if testpypi:
            args.append("--testpypi")
        if isinstance(preview, str):
            raise ValueError("preview must be a list of names, not a string")
        unknown = [p for p in preview if p not in PREVIEWS]
        if unknown:
            raise ValueError(f"unknown preview(s) {', '.join(unknown)} (known: {', '.join(PREVIEWS)})")
        if preview:
            args += ["--preview", ",".join(preview)]
        if admin_token is not None:
            args += ["--admin-token", _text("admin_token", admin_token)]
        if issuer_key is not None:
            if not Path(issuer_key).is_file():
                raise ValueError(f"issuer_key: no such file {str(issuer_key)!r}")
            args += ["--issuer-key", str(Path(issuer_key).resolve())]
        if isinstance(extra_args, str):
            raise ValueError("extra_args must be a list of arguments, not a string")
        args += [str(a) for a in extra_args]
        if not isinstance(startup_timeout, (int, float)) or startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be a positive number, not {startup_timeout!r}")
        self._args = args
        # A fresh temporary server signs with this process's one fake-issuer key unless
        # told otherwise: an RSA key per server was most of a fresh server's start. Each
        # server still has its own issuer URLs, so none trusts another's tokens.
        self._shared_key = (
            issuer_key is None and not fresh_issuer_key and data_dir is None and "--issuer-key" not in args
        )
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._keep = keep_data
        self._env = dict(env or {})
        self._binary = str(binary) if binary is not None else None
        self._timeout = float(startup_timeout)
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._tmp: Optional[str] = None
        self._log_path: Optional[Path] = None
        self._info: dict[str, Any] = {}
        self._data_dir: Optional[Path] = None
        self._opener = _no_proxy_opener()
        # "testpypi" in the view `server.testpypi` returns: same process, other index.
        self._index = "pypi"

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def attach(cls, data_dir: PathLike, *, binary: Optional[PathLike] = None) -> "Server":
        """A server that is already running with this data directory (its
        ``server.json``); :meth:`stop` leaves it running."""
        server = cls(binary=binary)
        server._data_dir = Path(data_dir).resolve()
        path = server._data_dir / "server.json"
        try:
            server._info = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ServerError(f"cannot read {path}: is `mock-pypi serve` running with this data directory? ({e})") from None
        server.health()
        return server

    def start(self) -> "Server":
        if self._process is not None or self._info:
            raise RuntimeError("this Server is already started")
        binary = self._binary or find_binary()
        self._tmp = tempfile.mkdtemp(prefix="mock-pypi-")
        data_dir = (self._given_data_dir or Path(self._tmp) / "data").resolve()
        log_path = Path(self._tmp) / "server.log"
        self._data_dir, self._log_path = data_dir, log_path
        # A clean slate: the caller's MOCK_PYPI_* variables must not reconfigure the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_PYPI_")}
        env.setdefault("RUST_LOG", "mock_pypi=info,warn")
        env.update(self._env)
        if self._shared_key:
            key = _process_key()
            if not key.is_file():
                # The first server generates the key there; the others wait and read it.
                with _KEY_LOCK:
                    if not key.is_file():
                        return self._launch(binary, env, data_dir, log_path, ["--issuer-key", str(key)])
            return self._launch(binary, env, data_dir, log_path, ["--issuer-key", str(key)])
        return self._launch(binary, env, data_dir, log_path, [])

    def _launch(
        self, binary: str, env: dict[str, str], data_dir: Path, log_path: Path, key_args: list[str]
    ) -> "Server":
        command = [binary, self._subcommand, "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *key_args,
                   *self._args]
        with open(log_path, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self._timeout
        info_path = data_dir / "server.json"
        while True:
            if self._process.poll() is not None:
                message = f"mock-pypi serve exited with status {self._process.returncode} before it was ready"
                error = ServerError(self._with_stderr(message))
                self._process = None
                self._cleanup_files()
                raise error
            try:
                info = json.loads(info_path.read_text())
                if info.get("pid") == self._process.pid:
                    self._info = info
                    return self
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(self._with_stderr(f"mock-pypi serve was not ready after {self._timeout:g} s"))
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop the server this object started (SIGTERM, then SIGKILL after 5 s) and
        remove its temporary directory unless ``keep_data``. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        if self._tmp and not self._keep:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Server":
        return self.start() if not self._info else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stderr(self) -> str:
        """What the server has written so far (its stderr log and its stdout banner)."""
        if self._log_path is None:
            return ""
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _with_stderr(self, message: str, lines: int = 40) -> str:
        tail = "\n".join(self.stderr.splitlines()[-lines:])
        return f"{message}; its stderr:\n{tail}" if tail else message

    def check_alive(self, grace: float = 0.0) -> None:
        """Raise :class:`ServerError` (with its stderr) if the server this object
        started has stopped (waiting up to ``grace`` seconds for it to be gone)."""
        if self._process is not None and grace > 0:
            try:
                self._process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self._process is not None and self._process.poll() is not None:
            code = self._process.returncode
            raise ServerError(self._with_stderr(f"mock-pypi (pid {self._process.pid}) stopped with status {code}"))

    # -- where it is -----------------------------------------------------------------

    def _get(self, key: str) -> Any:
        if not self._info:
            raise RuntimeError("the server is not started: use `with Server() as server:` or server.start()")
        if self._index == "testpypi" and key in ("http_url", "upload_url", "simple_url", "audience"):
            return self._info["testpypi"][key]
        if self._index == "testpypi" and key == "https_url":
            return str(self._info["testpypi"]["upload_url"]).removesuffix("/legacy/")
        return self._info.get(key)

    @property
    def trusted_publishing_url(self) -> str:
        """The upload URL trusted publishing works with. Clients ask for the audience
        and the token at the upload host's root, so TestPyPI needs its own host name:
        ``Server(testpypi=True, impersonate_hosts=["twine"])`` and a job env with
        ``impersonate=True``. For PyPI this is :attr:`upload_url`."""
        if self._index != "testpypi":
            return self.upload_url
        host = self._info["testpypi"].get("host")
        if not host:
            raise RuntimeError(
                "trusted publishing to TestPyPI needs its host name: start the server with "
                "impersonate_hosts=['twine'] (TestPyPI's upload URL under /test/ works with tokens)"
            )
        return f"https://{host}/legacy/"

    @property
    def index(self) -> str:
        """Which index this object talks to: ``pypi``, or ``testpypi`` for :attr:`testpypi`."""
        return self._index

    @property
    def testpypi(self) -> "Server":
        """TestPyPI beside PyPI (``Server(testpypi=True)``): the same process, its own
        projects, files, publishers, tokens, audience (``testpypi``) and control API.
        Every method works on it as on the server itself; ``stop()`` stops both."""
        if not self._get("testpypi"):
            raise RuntimeError("this server serves no TestPyPI: start it with Server(testpypi=True)")
        view = copy.copy(self)
        view._index = "testpypi"
        return view

    @property
    def url(self) -> str:
        """Plain-HTTP base URL (``http://127.0.0.1:PORT``): control API, simple index."""
        return str(self._get("http_url"))

    @property
    def https_url(self) -> str:
        return str(self._get("https_url"))

    @property
    def upload_url(self) -> str:
        """The HTTPS upload URL (``…/legacy/``) clients publish to."""
        return str(self._get("upload_url"))

    @property
    def simple_url(self) -> str:
        return str(self._get("simple_url"))

    @property
    def ca_file(self) -> Path:
        """The test CA that signs the server's certificate (trust it, and only in tests)."""
        return Path(self._get("ca_file"))

    @property
    def ca_bundle(self) -> Path:
        """The system's roots plus the test CA, for clients that also reach other hosts."""
        bundle = self._get("ca_bundle")
        return Path(bundle) if bundle else self.ca_file

    @property
    def admin_token(self) -> str:
        return str(self._get("admin_token"))

    @property
    def data_dir(self) -> Path:
        self._get("pid")
        assert self._data_dir is not None
        return self._data_dir

    @property
    def issuer_url(self) -> str:
        return str(self._get("issuer_url"))

    @property
    def request_token(self) -> str:
        return str(self._get("request_token"))

    @property
    def pid(self) -> int:
        return int(self._get("pid"))

    # -- the control API -------------------------------------------------------------

    def _call(self, method: str, url: str, body: Any = None, bearer: Optional[str] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {bearer or self.admin_token}")
        try:
            with self._opener.open(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
                message = parsed.get("error") or parsed.get("message") or raw.decode(errors="replace")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise ApiError(e.code, str(message)) from None
        except (urllib.error.URLError, ConnectionError) as e:
            self.check_alive(grace=1.0)
            raise ServerError(f"{method} {url}: {e}") from None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Any control-API call: ``server.api("GET", "/issuers")``."""
        return self._call(method, f"{self.url}/_mock/api{path}", body)

    def health(self) -> None:
        try:
            with self._opener.open(f"{self.url}/_mock/health", timeout=10) as response:
                response.read()
        except (urllib.error.URLError, ConnectionError) as e:
            self.check_alive(grace=1.0)
            raise ServerError(f"{self.url} is not answering: {e}") from None

    def add_publisher(self, provider: Provider, project: str, *, pending: bool = False, **fields: Any) -> Publisher:
        """Register a trusted publisher with Warehouse's field names, e.g.
        ``add_publisher("github", "demo", repository="octo/demo", workflow_filename="release.yml")``."""
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
        body = {**fields, "provider": provider, "project": project, "pending": pending}
        return cast(Publisher, self.api("POST", "/publishers", body))

    def remove_publisher(self, publisher_id: int) -> None:
        self.api("DELETE", f"/publishers/{int(publisher_id)}")

    def publishers(self, provider: Optional[Provider] = None) -> List[Publisher]:
        query = f"?provider={urllib.parse.quote(provider)}" if provider else ""
        return cast(List[Publisher], self.api("GET", f"/publishers{query}")["publishers"])

    def api_token(
        self, project: Optional[str] = None, *, description: Optional[str] = None, lifetime: Optional[int] = None
    ) -> str:
        """A long-lived API token (``pypi-…``) for one project, or every project."""
        body: dict[str, Any] = {"project": project}
        if description is not None:
            body["description"] = description
        if lifetime is not None:
            body["lifetime_seconds"] = _positive_int("lifetime", lifetime)
        return str(self.api("POST", "/tokens", body)["token"])

    def exchanges(self, **filters: Any) -> List[Exchange]:
        """The audit log, newest first. Filters: project, publisher, outcome, since,
        until, limit."""
        known = {"project", "publisher", "outcome", "since", "until", "limit"}
        unknown = set(filters) - known
        if unknown:
            raise TypeError(f"unknown exchange filter(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return cast(List[Exchange], self.api("GET", f"/exchanges{'?' + query if query else ''}")["exchanges"])

    def exchange(self, exchange_id: int) -> Exchange:
        """One exchange with its token's later activity (uploads, burn)."""
        return cast(Exchange, self.api("GET", f"/exchanges/{int(exchange_id)}"))

    def burns(self, token_id: Optional[str] = None) -> List[Burn]:
        """Every burn-token call, newest first, with its outcome and explanation;
        only those naming ``token_id`` when given."""
        query = f"?token={urllib.parse.quote(token_id)}" if token_id else ""
        return cast(List[Burn], self.api("GET", f"/burns{query}")["burns"])

    def provenance(self, project: str) -> List[ReleaseProvenance]:
        """Every release's provenance status (PyPI's rules), oldest first, with the
        publishers and workflows behind it and what changed since the release before."""
        name = urllib.parse.quote(project, safe="")
        return cast(List[ReleaseProvenance], self.api("GET", f"/projects/{name}/provenance")["releases"])

    def provenance_status(self, project: str, version: str) -> ProvenanceStatus:
        """PyPI's provenance status of one release: ``no-provenance``, ``full-provenance``,
        ``partial-provenance``, ``inconsistent-provenance``, ``lost-provenance`` or
        ``changed-provenance``."""
        name = urllib.parse.quote(project, safe="")
        release = urllib.parse.quote(version, safe="")
        answer = self.api("GET", f"/projects/{name}/releases/{release}/provenance")
        return cast(ProvenanceStatus, answer["status"])

    def projects(self) -> List[Project]:
        return cast(List[Project], self.api("GET", "/projects")["projects"])

    def files(self, project: str) -> List[dict[str, Any]]:
        """The files stored for a project ([] if it does not exist)."""
        wanted = _normalize(project)
        for p in self.projects():
            if p.get("normalized_name") == wanted:
                return list(p.get("files", []))
        return []

    def reset(self) -> None:
        """Forget everything users created; configured fixtures are applied again."""
        self.api("POST", "/reset")

    # -- faults on demand ------------------------------------------------------------

    def add_fault(self, route: FaultRoute, **definition: Any) -> Fault:
        """Arm a fault on ``route`` (``definition`` as the control API takes it, e.g.
        ``status=503, when={"next": 1}``); the armed fault with its id. A bad definition
        raises :class:`ApiError` naming the field."""
        return cast(Fault, self.api("POST", "/faults", {"route": route, **definition}))

    def faults(self) -> Faults:
        """Armed faults with their counters, and requests per route since the last clear."""
        return cast(Faults, self.api("GET", "/faults"))

    def remove_fault(self, fault_id: int) -> None:
        self.api("DELETE", f"/faults/{int(fault_id)}")

    def clear_faults(self) -> None:
        """Disarm every fault and zero the request counters."""
        self.api("DELETE", "/faults")

    def fault_events(self, limit: int = 100) -> List[FaultEvent]:
        """Faults that fired, newest first, with the request each one hit."""
        return cast(List[FaultEvent], self.api("GET", f"/faults/events?limit={_positive_int('limit', limit)}")["events"])

    def scenarios(self) -> List[Scenario]:
        """The named failure scenarios (what each does, what a client should do)."""
        return cast(List[Scenario], self.api("GET", "/scenarios")["scenarios"])

    def arm_scenario(self, name: str) -> ArmedScenario:
        """Arm a named scenario's faults; the scenario (its ``env_flags`` go to
        :meth:`github_env` as ``extra_flags``) and the faults it armed."""
        return cast(ArmedScenario, self.api("POST", f"/scenarios/{_text('name', name)}/arm"))

    # -- CI jobs and tokens ----------------------------------------------------------

    def _job_env(self, provider: Provider, args: List[str], identity: Mapping[str, Any], bad_token: Optional[str],
                 impersonate: bool, audience: Optional[str]) -> ClientEnv:
        flags = _ENV_FLAGS[provider]
        for key, value in identity.items():
            if key not in flags:
                known = ", ".join(sorted(flags)) or "none"
                raise TypeError(f"{provider}_env() got an unknown identity field {key!r} (known: {known})")
            if value is not None:
                args += [flags[key], str(value)]
        if bad_token:
            args += ["--bad-token", bad_token]
        if impersonate:
            args.append("--impersonate")
        if audience:
            args += ["--audience", audience]
        output = self.cli("env", provider, *args)
        values: dict[str, str] = {}
        unset: list[str] = []
        for line in output.splitlines():
            if line.startswith("unset "):
                unset += line.split()[1:]
            elif line.startswith("export "):
                name, _, quoted = line[len("export "):].partition("=")
                values[name] = _unquote(quoted)
        return ClientEnv(values, unset)

    def github_env(self, repository: str, workflow: str = "release.yml", environment: Optional[str] = None, *,
                   bad_token: Optional[str] = None, fault: Optional[str] = None, impersonate: bool = False,
                   audience: Optional[str] = None,
                   extra_flags: Sequence[str] = (), **identity: Any) -> ClientEnv:
        """A GitHub Actions job with ``id-token: write`` in ``repository``, running
        ``workflow`` (identity: ref, sha, event_name, repository_owner_id, job_workflow_ref,
        sub_format). ``extra_flags`` go to ``mock-pypi env github`` as they are (a
        scenario's ``env_flags``, e.g. ``--without-id-token``). ``bad_token`` makes the
        job's token deliberately bad (``expired``, ``wrong-audience``, …, as
        ``mock-pypi env --bad-token``); ``fault`` is its deprecated old name."""
        args = ["--repository", repository, "--workflow", workflow]
        if environment:
            args += ["--environment", environment]
        if isinstance(extra_flags, str):
            raise ValueError("extra_flags must be a list of flags, not a string")
        args += [str(f) for f in extra_flags]
        return self._job_env("github", args, identity, _bad_token(bad_token, fault), impersonate, audience)

    def gitlab_env(self, project: str, ci_file: str = ".gitlab-ci.yml", environment: Optional[str] = None, *,
                   bad_token: Optional[str] = None, fault: Optional[str] = None, impersonate: bool = False,
                   audience: Optional[str] = None,
                   **identity: Any) -> ClientEnv:
        """A GitLab CI job of ``project`` (NAMESPACE/PROJECT) (identity: ref_path, sha)."""
        args = ["--project", project, "--ci-file", ci_file]
        if environment:
            args += ["--environment", environment]
        return self._job_env("gitlab", args, identity, _bad_token(bad_token, fault), impersonate, audience)

    def google_env(self, email: str, sub: Optional[str] = None, *, bad_token: Optional[str] = None,
                   fault: Optional[str] = None,
                   impersonate: bool = False, audience: Optional[str] = None) -> ClientEnv:
        """A Google service account's token, handed over the way uv reads GitLab's."""
        args = ["--email", email] + (["--sub", sub] if sub else [])
        return self._job_env("google", args, {}, _bad_token(bad_token, fault), impersonate, audience)

    def activestate_env(self, organization: str, project: str, *, bad_token: Optional[str] = None,
                        fault: Optional[str] = None,
                        impersonate: bool = False, audience: Optional[str] = None, **identity: Any) -> ClientEnv:
        """An ActiveState Platform build (identity: actor, actor_id)."""
        args = ["--organization", organization, "--project", project]
        return self._job_env("activestate", args, identity, _bad_token(bad_token, fault), impersonate, audience)

    def preview_env(self, provider: PreviewProvider, *, bad_token: Optional[str] = None,
                    audience: Optional[str] = None, **flags: Any) -> ClientEnv:
        """A preview provider's job (``Server(preview=[provider])``; not on PyPI yet):
        keyword arguments are its ``mock-pypi env PROVIDER`` flags, e.g.
        ``preview_env("buildkite", organization_slug="octo", pipeline_slug="release")``
        (``True`` for a bare flag, a list for a repeatable one)."""
        if provider not in ("buildkite", "circleci", "semaphore"):
            raise ValueError(f"provider must be buildkite, circleci or semaphore, not {provider!r}")
        args: list[str] = []
        for key, value in flags.items():
            flag = "--" + key.replace("_", "-")
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if v is True:
                    args.append(flag)
                elif v not in (None, False):
                    args += [flag, str(v)]
        return self._job_env(provider, args, {}, bad_token, False, audience)

    def oidc_token(self, provider: Provider, *, audience: Optional[str] = None, bad_token: Optional[str] = None,
                   fault: Optional[str] = None,
                   claims: Optional[Mapping[str, Any]] = None, remove: Sequence[str] = (),
                   lifetime: Optional[int] = None, **identity: Any) -> str:
        """An OIDC token from the fake issuer (identity fields as the issuer's ``/mint``
        takes them, e.g. ``repository=…, workflow=…`` for GitHub)."""
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
        body: dict[str, Any] = {
            "provider": provider,
            "audience": audience or self._get("audience") or "pypi",
            "identity": identity,
            "claims": dict(claims or {}),
            "remove": list(remove),
            "bad_token": _bad_token(bad_token, fault),
        }
        if lifetime is not None:
            body["lifetime"] = _positive_int("lifetime", lifetime)
        answer = self._call("POST", f"{self.issuer_url}/mint", body, bearer=self.request_token)
        return str(answer["token"])

    def cli(self, *args: str) -> str:
        """Run a ``mock-pypi`` subcommand against this server; its stdout."""
        binary = self._binary or find_binary()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_PYPI_")}
        index = ["--index", "testpypi"] if self._index == "testpypi" and args[:1] != ("act",) else []
        result = subprocess.run(
            [binary, *args, *index, "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
        )
        if result.returncode != 0:
            self.check_alive()
            raise ServerError(f"mock-pypi {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    # -- workshop --------------------------------------------------------------------

    def workshop(self) -> dict[str, Any]:
        """The room (``Server(workshop_seats=N)``): ``{"exercises": [{"id", "title"}…],
        "seats": [{"seat", "owner", "joined", "exercises": {ID: "done|refused|pending"},
        "reasons": {ID: why}}…]}``."""
        return cast(dict[str, Any], self.api("GET", "/workshop"))

    def seat(self, seat: int) -> dict[str, Any]:
        """One seat: its exercises with their steps, publishers and latest exchanges."""
        return cast(dict[str, Any], self.api("GET", f"/workshop/seats/{_positive_int('seat', seat)}"))

    def reset_seat(self, seat: int) -> None:
        """Start a seat again (its projects, publishers, faults and token renewed)."""
        self.api("POST", f"/workshop/seats/{_positive_int('seat', seat)}/reset")

    def join(self, seat: int, directory: PathLike) -> ClientEnv:
        """Take ``seat`` as an attendee would (``mock-pypi join``): the seat's settings
        go to ``directory/.mock-pypi-seat``, the starter files to
        ``directory/exercises``; the variables ``join`` prints, to give a client (or a
        ``mock-pypi`` command) that acts as the seat."""
        binary = self._binary or find_binary()
        root = Path(directory)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_PYPI_")}
        result = subprocess.run(
            [binary, "join", self.url, "--seat", str(_positive_int("seat", seat)),
             "--dir", str(root / ".mock-pypi-seat"), "--exercises-dir", str(root / "exercises")],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
        )
        if result.returncode != 0:
            self.check_alive()
            raise ServerError(f"mock-pypi join failed: {result.stderr.strip()}")
        values: dict[str, str] = {}
        for line in result.stdout.splitlines():
            if line.startswith("export "):
                name, _, quoted = line[len("export "):].partition("=")
                values[name] = _unquote(quoted)
        return ClientEnv(values)

    # -- explanations ----------------------------------------------------------------

    def explain_last_exchange(self, project: Optional[str] = None) -> str:
        """The newest token exchange (for ``project``, if given), explained step by
        step: what was checked, which publisher was considered, which claim differed."""
        rows = self.exchanges(project=project, limit=1)
        if not rows:
            return "no token exchange was recorded" + (f" for project {project!r}" if project else "")
        return explain(self.exchange(rows[0]["id"]))


def _bad_token(bad_token: Optional[str], fault: Optional[str]) -> Optional[str]:
    """``bad_token``, or the deprecated ``fault`` it replaced (with a warning)."""
    if fault is None:
        return bad_token
    warnings.warn(
        "fault= is deprecated: use bad_token= (a bad token is not one of the index's faults; "
        "those are add_fault)", DeprecationWarning, stacklevel=3,
    )
    if bad_token is not None and bad_token != fault:
        raise TypeError("give bad_token= or fault=, not both")
    return fault


def explain(exchange: Mapping[str, Any]) -> str:
    """An audit-log entry as readable text."""
    outcome = exchange["outcome"]
    verdict = "accepted" if outcome == "accepted" else f"refused ({outcome})"
    lines = [f"exchange {exchange['id']} {verdict}: {exchange['description']}"]
    detail = exchange.get("detail") or {}
    for step in detail.get("steps") or []:
        mark = "ok " if step.get("ok") else "FAIL"
        lines.append(f"  [{mark}] {step.get('step')}: {step.get('detail')}")
    for candidate in detail.get("candidates") or []:
        chosen = " (chosen)" if candidate.get("selected") else ""
        lines.append(
            f"  publisher {candidate.get('publisher_id')} for {candidate.get('project')!r}: "
            f"{candidate.get('summary')}{chosen}"
        )
        for verdict in candidate.get("verdicts") or []:
            mark = "ok " if verdict.get("ok") else "FAIL"
            actual = verdict.get("actual")
            shown = "(absent)" if actual is None else repr(actual)
            lines.append(
                f"    [{mark}] {verdict.get('claim')}: token has {shown}, publisher expects "
                f"{verdict.get('expected')!r} ({verdict.get('rule')})"
            )
    for upload in exchange.get("uploads") or []:
        lines.append(f"  uploaded {upload.get('filename')} to {upload.get('project')!r}")
    return "\n".join(lines)


def _unquote(text: str) -> str:
    """A POSIX single-quoted word as ``mock-pypi env`` writes it."""
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("'\\''", "'")
    return text


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
