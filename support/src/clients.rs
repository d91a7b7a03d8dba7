//! Real Python clients (pinned in tests/requirements.txt) run with clean environments.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Server;

/// The venv with the pinned clients (tests/requirements.txt), made by tests/run.sh.
pub fn venv() -> PathBuf {
    let path = std::env::var_os("MOCK_PYPI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::ROOT).join("target/test-venv"));
    assert!(
        path.join("bin/uv").exists(),
        "the real-client tests need the pinned clients: run tests/run.sh (it installs tests/requirements.txt into {})",
        path.display()
    );
    path
}

/// A client command with a clean environment: only PATH, HOME and the caches are set;
/// the caller adds exactly what the scenario needs.
pub fn client(program: &str, home: &Path) -> Command {
    let venv = venv();
    let mut cmd = Command::new(venv.join("bin").join(program));
    cmd.env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", venv.join("bin").display()),
        )
        .env("HOME", home)
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .current_dir(home);
    cmd
}

pub fn run(cmd: &mut Command) -> (bool, String) {
    run_for(cmd, Duration::from_secs(300))
}

/// [`run`], killing the client (by its PID) if it is still running after `limit`: a
/// client that hangs is a finding, never a test that hangs. The output then ends with
/// [`HUNG`].
pub fn run_for(cmd: &mut Command, limit: Duration) -> (bool, String) {
    // Its own process group, so that what it started goes with it.
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running a client");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let (ok, hung) = loop {
        match child.try_wait().expect("waiting for a client") {
            Some(status) => break (status.success(), false),
            None if start.elapsed() >= limit => {
                let _ = Command::new("kill")
                    .args(["-KILL", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break (false, true);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.join().unwrap_or_default()),
        String::from_utf8_lossy(&err.join().unwrap_or_default())
    );
    if hung {
        text += &format!("\n{HUNG} {} s\n", limit.as_secs());
    }
    (ok, text)
}

/// How [`run_for`] marks a client it had to kill.
pub const HUNG: &str = "[mock-pypi test: killed the client after";

/// `uv publish --trusted-publishing always` to the server's HTTPS upload URL, with only
/// the given CI variables.
pub fn uv_publish(
    server: &Server,
    home: &Path,
    env: &[(String, String)],
    files: &[&Path],
) -> (bool, String) {
    uv_publish_with(server, home, env, &[], files)
}

/// [`uv_publish`] with extra `uv publish` arguments.
pub fn uv_publish_with(
    server: &Server,
    home: &Path,
    env: &[(String, String)],
    extra: &[String],
    files: &[&Path],
) -> (bool, String) {
    let mut cmd = client("uv", home);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["publish", "--trusted-publishing", "always", "--publish-url"])
        .arg(format!("{}/legacy/", server.https()))
        .args(extra)
        .args(files);
    run(&mut cmd)
}

/// `uv publish` with an upload token (no trusted publishing), trusting the test CA.
pub fn uv_token_publish(
    server: &Server,
    home: &Path,
    token: &str,
    extra: &[String],
    files: &[&Path],
) -> (bool, String) {
    let mut cmd = client("uv", home);
    cmd.env("SSL_CERT_FILE", server.ca_file())
        .args([
            "publish",
            "--trusted-publishing",
            "never",
            "--token",
            token,
            "--publish-url",
        ])
        .arg(format!("{}/legacy/", server.https()))
        .args(extra)
        .args(files);
    run(&mut cmd)
}

/// pip-install `requirement` from the server's simple index into a fresh target and
/// return what `import <module>; print(<module>.VERSION)` prints.
pub fn pip_install_and_import(
    server: &Server,
    home: &Path,
    requirement: &str,
    module: &str,
) -> String {
    let target = home.join(format!("pip-target-{module}"));
    let mut pip = client("pip", home);
    pip.args(["install", "--no-cache-dir", "--index-url"])
        .arg(format!("{}/simple/", server.http()))
        .arg("--target")
        .arg(&target)
        .arg(requirement);
    let (ok, out) = run(&mut pip);
    assert!(ok, "pip install {requirement} failed:\n{out}");
    let import = Command::new(venv().join("bin/python"))
        .env_clear()
        .env("PYTHONPATH", &target)
        .args(["-c", &format!("import {module}; print({module}.VERSION)")])
        .output()
        .expect("python");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    String::from_utf8_lossy(&import.stdout).trim().to_owned()
}

/// `uv pip install` `requirement` into a fresh venv from the server's simple index and
/// return what `import <module>; print(<module>.VERSION)` prints.
pub fn uv_install_and_import(
    server: &Server,
    home: &Path,
    requirement: &str,
    module: &str,
) -> String {
    let venv_dir = home.join(format!("uv-venv-{module}"));
    let (ok, out) = run(client("uv", home)
        .args(["venv", "--quiet", "--python"])
        .arg(venv().join("bin/python"))
        .arg(&venv_dir));
    assert!(ok, "uv venv failed:\n{out}");
    let (ok, out) = run(client("uv", home)
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv_dir.join("bin/python"))
        .arg("--index-url")
        .arg(format!("{}/simple/", server.http()))
        .arg(requirement));
    assert!(ok, "uv pip install {requirement} failed:\n{out}");
    let import = Command::new(venv_dir.join("bin/python"))
        .env_clear()
        .args(["-c", &format!("import {module}; print({module}.VERSION)")])
        .output()
        .expect("python");
    String::from_utf8_lossy(&import.stdout).trim().to_owned()
}

/// One of the pinned twine's repository URLs, as twine itself defines it
/// (`DEFAULT_REPOSITORY`, `TEST_REPOSITORY`): no registry host is written in the tests.
pub fn twine_repository(constant: &str) -> String {
    crate::stdout_of(
        std::process::Command::new(venv().join("bin/python"))
            .env_clear()
            .args([
                "-c",
                &format!("from twine import utils; print(utils.{constant})"),
            ]),
    )
    .trim()
    .to_owned()
}
