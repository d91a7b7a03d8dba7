//! Shared test harness: the real `mock-pypi` binary on a free port with a fresh data
//! directory, clean environments for real Python clients, and real distributions.
#![allow(dead_code)]

pub mod dists;
pub mod uploads;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const FIXTURE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/keys/issuer-test-key.pem"
);
pub const OTHER_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/keys/other-test-key.pem"
);

pub struct Server {
    child: Child,
    data: PathBuf,
    pub dir: tempfile::TempDir,
    pub info: Value,
    pub port: u16,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start `mock-pypi serve` on 127.0.0.1:0 with the fixture issuer key.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::launch(extra, &[("RUST_LOG", "mock_pypi=debug,warn")])
    }

    pub fn launch(extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempdir();
        let data_dir = dir.path().join("data");
        Self::launch_on(dir, &data_dir, extra, envs)
    }

    /// A second process on this server's data directory (its files, CA, secrets) and
    /// database: a replica. Its own log lives in its own temporary directory.
    pub fn replica(&self) -> Self {
        self.replica_with(&[("RUST_LOG", "mock_pypi=debug,warn")])
    }

    pub fn replica_with(&self, envs: &[(&str, &str)]) -> Self {
        Self::launch_on(tempdir(), &self.data_dir(), &[], envs)
    }

    fn launch_on(
        dir: tempfile::TempDir,
        data_dir: &Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let data_dir = data_dir.to_path_buf();
        let child = serve_command(&data_dir)
            .args(extra)
            .env("PATH", "/usr/bin:/bin")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting mock-pypi");
        let info = wait_for_server(&data_dir, child.id())
            .unwrap_or_else(|| panic!("server did not start; log:\n{}", read_log(dir.path())));
        let port = info["http_url"]
            .as_str()
            .and_then(|u| u.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            data: data_dir,
            dir,
            info,
            port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn https(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.info["ca_file"].as_str().expect("ca_file"))
    }
    pub fn admin_token(&self) -> String {
        self.info["admin_token"]
            .as_str()
            .expect("admin token")
            .to_owned()
    }
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// A reqwest client that trusts the generated test CA.
    pub fn client(&self) -> reqwest::Client {
        mock_pypi::tls::install_crypto_provider();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(self.ca_file()).expect("ca"))
            .expect("ca pem");
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_certs_only([])
            .build()
            .expect("client")
    }

    /// GET an absolute URL and decode its JSON. Asks for PEP 691 JSON, which the
    /// simple API honours and every other JSON endpoint ignores.
    pub async fn get_json(&self, url: &str) -> Value {
        self.client()
            .get(url)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON body")
    }

    /// GET an absolute URL and return its body as text.
    pub async fn get_text(&self, url: &str) -> String {
        self.client()
            .get(url)
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text body")
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client()
            .request(method, format!("{}/_mock/api{path}", self.http()))
            .bearer_auth(self.admin_token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control API");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn add_github_publisher(
        &self,
        project: &str,
        repository: &str,
        workflow: &str,
        environment: &str,
    ) -> Value {
        let body = serde_json::json!({"provider": "github", "project": project, "repository": repository,
            "workflow_filename": workflow, "environment": environment});
        let (status, publisher) = self
            .api(reqwest::Method::POST, "/publishers", Some(body))
            .await;
        assert_eq!(status, 201, "{publisher}");
        publisher
    }

    /// Run a mock-pypi subcommand against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
            .args(args)
            .args(["--data-dir".as_ref(), self.data_dir().as_os_str()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .expect("running mock-pypi")
    }

    /// The `export NAME='value'` lines `mock-pypi env …` prints, parsed.
    pub fn env_vars(&self, args: &[&str]) -> Vec<(String, String)> {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_exports(&String::from_utf8_lossy(&out.stdout))
    }

    /// A fresh OIDC token from the fake issuer for a GitHub identity.
    pub fn github_token(&self, extra: &[&str]) -> String {
        let mut args = vec!["token", "github"];
        args.extend_from_slice(extra);
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A token from the fake issuer's mint-anything endpoint (`spec` as `POST /mint` takes it).
    pub async fn issue(&self, spec: Value) -> String {
        let issuer = self.info["issuer_url"].as_str().expect("issuer_url");
        let response = self
            .client()
            .post(format!("{issuer}/mint"))
            .bearer_auth(self.info["request_token"].as_str().expect("request_token"))
            .json(&spec)
            .send()
            .await
            .expect("issuer mint");
        let status = response.status();
        let body: Value = response.json().await.expect("issuer JSON");
        assert!(status.is_success(), "issuer refused {spec}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn mint(&self, token: &str) -> (u16, Value) {
        let response = self
            .client()
            .post(format!("{}/_/oidc/mint-token", self.https()))
            .json(&serde_json::json!({"token": token}))
            .send()
            .await
            .expect("mint-token");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mock-pypi serve` on a free loopback port with the fixture issuer key, in a clean
/// environment. With `MOCK_PYPI_TEST_DATABASE_URL` (a PostgreSQL cluster's admin URL)
/// each data directory gets its own database there instead of SQLite.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-pypi"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--issuer-key",
        FIXTURE_KEY,
        "--data-dir",
    ])
    .arg(data_dir)
    .env_clear();
    if let Some(url) = postgres_database(data_dir) {
        cmd.env("MOCK_PYPI_DATABASE_URL", url);
    }
    cmd
}

/// The PostgreSQL test run's database for a data directory (created on first use; the
/// same directory always maps to the same database, so restarts find their data).
pub fn postgres_database(data_dir: &Path) -> Option<String> {
    let admin = std::env::var("MOCK_PYPI_TEST_DATABASE_URL").ok()?;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name = format!("mp_{}", hex::encode(&digest[..10]));
    let base = admin
        .rsplit_once('/')
        .expect("an admin URL ending in /DATABASE")
        .0
        .to_owned();
    let create = format!("CREATE DATABASE {name}");
    // The tests run inside a runtime; the one-off connection gets its own thread.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::postgres::PgConnection::connect(&admin)
                    .await
                    .expect("connecting to MOCK_PYPI_TEST_DATABASE_URL");
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&mut conn)
                    .await
                    && !e.to_string().contains("already exists")
                {
                    panic!("creating a test database: {e}");
                }
            })
    })
    .join()
    .expect("creating the test database");
    Some(format!("{base}/{name}"))
}

/// The `server.json` of the server with this PID, once it is serving (20 s at most).
pub fn wait_for_server(data_dir: &Path, pid: u32) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(data_dir.join("server.json")).unwrap_or_default();
        if let Ok(info) = serde_json::from_str::<Value>(&text)
            && info["pid"].as_u64() == Some(u64::from(pid))
        {
            return Some(info);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// A temporary directory under cargo's target/tmp: the project's own disk area, as a
/// user's data directory would be (the system /tmp may be far slower at creating files).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').replace(r"'\''", "'")))
        .collect()
}

/// The venv with the pinned clients (tests/requirements.txt), made by tests/run.sh.
pub fn venv() -> PathBuf {
    let path = std::env::var_os("MOCK_PYPI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
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
    let out = cmd.output().expect("running a client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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
