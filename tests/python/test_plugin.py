"""The pytest plugin's promises about bad input, run against the installed wheel with
pytester: options are checked and named, a server that dies is reported with its stderr,
failures show the audit explanation, nothing is left running, an existing server can be
used instead of a new one."""

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from mock_pypi import Server, ServerError

pytest_plugins = ["pytester"]


def run(pytester, source, *args, conftest=None):
    if conftest:
        pytester.makeconftest(conftest)
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def options(**kwargs):
    return (
        "import pytest\n"
        "@pytest.fixture(scope='session')\n"
        f"def mock_pypi_server_options():\n    return {kwargs!r}\n"
    )


def test_a_bad_option_value_is_named(pytester):
    result = run(pytester, "def test_x(mock_pypi):\n    pass\n", conftest=options(token_lifetime=-5))
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*token_lifetime must be a positive integer*-5*"])


def test_an_unknown_option_is_named(pytester):
    result = run(pytester, "def test_x(mock_pypi):\n    pass\n", conftest=options(tokn_lifetime=60))
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*tokn_lifetime*"])


def test_a_server_that_dies_is_reported_with_its_stderr(pytester, tmp_path):
    source = (
        "import os, signal\n"
        "def test_kill(mock_pypi):\n"
        f"    open({str(tmp_path / 'pid')!r}, 'w').write(str(mock_pypi.pid))\n"
        "    os.kill(mock_pypi.pid, signal.SIGKILL)\n"
        "    mock_pypi.publishers()\n"
    )
    result = run(pytester, source)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*ServerError: mock-pypi (pid *) stopped with status -9; its stderr:*"])
    # What the server wrote before it died is part of the message.
    result.stdout.fnmatch_lines(["*mock-pypi 0.* serving HTTP and HTTPS on 127.0.0.1:*"])


def test_failures_show_the_newest_exchange_explained(pytester):
    source = (
        "import json, urllib.request\n"
        "def test_refused(mock_pypi):\n"
        "    mock_pypi.add_publisher('github', 'demo', repository='octo/demo', workflow_filename='release.yml')\n"
        "    token = mock_pypi.oidc_token('github', repository='octo/demo', workflow='other.yml')\n"
        "    req = urllib.request.Request(mock_pypi.url + '/_/oidc/mint-token', data=json.dumps({'token': token}).encode())\n"
        "    try:\n"
        "        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req)\n"
        "    except urllib.error.HTTPError as e:\n"
        "        assert e.code == 200, 'the exchange was refused'\n"
    )
    result = run(pytester, source)
    assert result.ret != 0
    result.stdout.fnmatch_lines([
        "*mock-pypi: the newest token exchange*",
        "exchange 1 refused (invalid-publisher): valid token, but no corresponding publisher*",
        "*[[]FAIL] workflow: token has 'other.yml', publisher expects 'release.yml'*",
    ])


def test_nothing_is_left_running_or_on_disk(pytester, tmp_path):
    record = tmp_path / "server.json"
    source = (
        "import json\n"
        "def test_x(mock_pypi):\n"
        f"    json.dump({{'pid': mock_pypi.pid, 'data_dir': str(mock_pypi.data_dir)}}, open({str(record)!r}, 'w'))\n"
    )
    result = run(pytester, source)
    result.assert_outcomes(passed=1)
    seen = json.loads(record.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pid"], 0)
    assert not Path(seen["data_dir"]).exists()


def test_keep_flag_keeps_the_data_directory(pytester, tmp_path):
    record = tmp_path / "dir"
    source = f"def test_x(mock_pypi):\n    open({str(record)!r}, 'w').write(str(mock_pypi.data_dir))\n"
    result = run(pytester, source, "--mock-pypi-keep")
    result.assert_outcomes(passed=1)
    kept = Path(record.read_text())
    result.stdout.fnmatch_lines(["*mock-pypi*", f"data directory kept: {kept}"])
    assert (kept / "server.json").exists()
    import shutil

    shutil.rmtree(kept.parent)


def test_an_already_running_server_can_be_used(pytester):
    with Server() as outer:
        source = f"def test_x(mock_pypi_session):\n    assert mock_pypi_session.pid == {outer.pid}\n"
        result = run(pytester, source, f"--mock-pypi-data-dir={outer.data_dir}")
        result.assert_outcomes(passed=1)
        # The inner session did not stop it.
        outer.health()


def test_server_start_failure_carries_stderr(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\naudiance = 'typo'\n")
    with pytest.raises(ServerError, match="(?s)exited with status 1.*audiance"):
        Server(config=bad).start()


def test_client_env_unsets_other_ci_systems():
    with Server() as server:
        env = server.gitlab_env("group/project")
        assert env["GITLAB_CI"] == "true"
        applied = env.apply({"GITHUB_ACTIONS": "true", "PATH": "/bin"})
        assert "GITHUB_ACTIONS" not in applied and applied["PATH"] == "/bin"
        with pytest.raises(TypeError, match="unknown identity field 'workflow'"):
            server.gitlab_env("group/project", workflow="x.yml")


def test_factories_give_differently_configured_servers_stopped_after_their_scope(pytester, tmp_path):
    pids = tmp_path / "pids"
    key = Path(__file__).resolve().parents[2] / "fixtures/keys/other-test-key.pem"
    conftest = (
        "from mock_pypi.factories import mock_pypi_server\n"
        "testpypi = mock_pypi_server(scope='module', audience='testpypi')\n"
    )
    source = f"""
import json, urllib.request

def audience(server):
    with urllib.request.urlopen(server.url + "/_/oidc/audience") as r:
        return json.load(r)["audience"]

def test_factory_fixture(testpypi, mock_pypi):
    assert audience(testpypi) == "testpypi" and audience(mock_pypi) == "pypi"
    open({str(pids)!r}, "a").write(f"{{testpypi.pid}}\\n")

def kids(server):
    with urllib.request.urlopen(server.issuer_url + "/github/.well-known/jwks") as r:
        return [k["kid"] for k in json.load(r)["keys"]]

def test_make_mock_pypi(make_mock_pypi, testpypi):
    a = make_mock_pypi(audience="one")
    b = make_mock_pypi(audience="two", token_lifetime=60)
    assert (audience(a), audience(b)) == ("one", "two") and a.pid != b.pid
    # One fake-issuer key for the session (no RSA key per server), each server its own
    # issuer URL: neither trusts the other's tokens.
    assert kids(a) == kids(b) == kids(testpypi) and a.issuer_url != b.issuer_url
    open({str(pids)!r}, "a").write(f"{{a.pid}}\\n{{b.pid}}\\n")

def test_a_given_issuer_key_is_kept(make_mock_pypi):
    own = make_mock_pypi(issuer_key={str(key)!r})
    assert kids(own) != kids(make_mock_pypi())
"""
    result = run(pytester, source, conftest=conftest)
    result.assert_outcomes(passed=3)
    started = [int(p) for p in pids.read_text().split()]
    assert len(set(started)) == 3
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_fault_is_the_deprecated_name_of_bad_token():
    with Server() as server:
        fresh = server.github_env("octo-org/demo", bad_token="expired")
        with pytest.warns(DeprecationWarning, match="bad_token"):
            old = server.github_env("octo-org/demo", fault="expired")
        for env in (fresh, old):
            assert "bad_token=expired" in env["ACTIONS_ID_TOKEN_REQUEST_URL"]
        with pytest.raises(TypeError, match="not both"), pytest.warns(DeprecationWarning):
            server.oidc_token("github", repository="octo-org/demo", bad_token="expired", fault="hs256")


def test_fresh_servers_share_one_issuer_key_per_process_unless_told():
    def kids(server):
        with urllib.request.urlopen(server.issuer_url + "/github/.well-known/jwks") as r:
            return [k["kid"] for k in json.load(r)["keys"]]

    with Server() as a, Server() as b, Server(fresh_issuer_key=True) as own:
        assert kids(a) == kids(b), "one key for the process's fresh servers"
        assert a.issuer_url != b.issuer_url, "each keeps its own issuer URLs"
        assert kids(own) != kids(a), "fresh_issuer_key=True generates its own"
