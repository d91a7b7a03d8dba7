//! The server under test: the real `mock-pypi` binary on a free port with a fresh data
//! directory, or the same server built inside the test process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{FIXTURE_KEY, parse_exports};

/// How the server runs: the real binary, or `startup::Server` inside this test process.
enum Running {
    Process(Child),
    InProcess {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

pub struct Server {
    running: Running,
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

    /// `mock-pypi serve` on a data directory the test chose (a small file system, say).
    pub fn start_on(data_dir: &Path, extra: &[&str]) -> Self {
        Self::launch_on(
            tempdir(),
            data_dir,
            extra,
            &[("RUST_LOG", "mock_pypi=debug,warn")],
        )
    }

    /// A second process on this server's data directory (its files, CA, secrets) and
    /// database: a replica. Its own log lives in its own temporary directory.
    pub fn replica(&self) -> Self {
        self.replica_with(&[("RUST_LOG", "mock_pypi=debug,warn")])
    }

    pub fn replica_with(&self, envs: &[(&str, &str)]) -> Self {
        Self::launch_on(tempdir(), &self.data_dir(), &[], envs)
    }

    /// `mock-pypi workshop` listening on `listen` (a loopback address of the test's
    /// choosing), with the fixture issuer key.
    pub fn workshop(listen: &str, extra: &[&str]) -> Self {
        let dir = tempdir();
        let data_dir = dir.path().join("data");
        let command = server_command("workshop", listen, &data_dir);
        Self::launch_command(
            dir,
            &data_dir,
            command,
            extra,
            &[("RUST_LOG", "mock_pypi=debug,warn")],
        )
    }

    fn launch_on(
        dir: tempfile::TempDir,
        data_dir: &Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let command = serve_command(data_dir);
        Self::launch_command(dir, data_dir, command, extra, envs)
    }

    fn launch_command(
        dir: tempfile::TempDir,
        data_dir: &Path,
        mut command: Command,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let data_dir = data_dir.to_path_buf();
        let child = command
            .args(extra)
            .env("PATH", "/usr/bin:/bin")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting mock-pypi");
        let info = wait_for_server(&data_dir, child.id())
            .unwrap_or_else(|| panic!("server did not start; log:\n{}", read_log(dir.path())));
        let port = port_of(&info);
        Self {
            running: Running::Process(child),
            data: data_dir,
            dir,
            info,
            port,
        }
    }

    /// In this test process, built from the same arguments as `mock-pypi serve` (the
    /// API-level suites: no process to start, nothing but HTTP between test and server).
    /// Its log goes to this process's tracing: to stderr when `TEST_LOG` is set (a
    /// filter such as `mock_pypi=debug`, or `1` for `mock_pypi=info`), else nowhere.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[&str]) -> Self {
        use clap::Parser;
        test_log();
        use mock_pypi::cli::{Cli, Command};
        let dir = tempdir();
        let data_dir = dir.path().join("data");
        let mut args: Vec<String> = [
            "mock-pypi",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer-key",
            FIXTURE_KEY,
        ]
        .map(String::from)
        .to_vec();
        args.push("--data-dir".into());
        args.push(data_dir.display().to_string());
        if let Some(url) = super::pg::postgres_database(&data_dir) {
            args.push("--database-url".into());
            args.push(url);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let Command::Serve(serve) = Cli::try_parse_from(&args).expect("serve arguments").command
        else {
            unreachable!("parsed as serve")
        };
        let settings = mock_pypi::config::Settings::resolve(&serve).expect("settings");
        let server = mock_pypi::startup::Server::build(settings)
            .await
            .expect("building the server");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let text = std::fs::read_to_string(data_dir.join("server.json")).expect("server.json");
        let info: Value = serde_json::from_str(&text).expect("server.json is JSON");
        let port = port_of(&info);
        Self {
            running: Running::InProcess { stop: Some(stop) },
            data: data_dir,
            dir,
            info,
            port,
        }
    }

    /// The server's process (this test process for an in-process server); the bench
    /// watches its CPU time.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        match &self.running {
            Running::Process(child) => child.id(),
            Running::InProcess { .. } => std::process::id(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }
    /// The loopback address the server listens on (127.0.0.1 unless the test chose
    /// another, as the workshop's LAN-style room does).
    fn host(&self) -> &str {
        self.info["http_url"]
            .as_str()
            .and_then(|u| u.strip_prefix("http://"))
            .and_then(|a| a.rsplit_once(':'))
            .map(|(h, _)| h)
            .filter(|h| h.starts_with("127."))
            .unwrap_or("127.0.0.1")
    }
    pub fn http(&self) -> String {
        format!("http://{}:{}", self.host(), self.port)
    }
    pub fn https(&self) -> String {
        format!("https://{}:{}", self.host(), self.port)
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
        match self.running {
            Running::Process(_) => read_log(self.dir.path()),
            Running::InProcess { .. } => {
                "(an in-process server: its log is this process's tracing)".into()
            }
        }
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

    /// A pending GitHub publisher for `project` (the project must not exist yet).
    pub async fn add_pending_github_publisher(&self, project: &str, repository: &str) -> Value {
        let body = serde_json::json!({"provider": "github", "project": project, "pending": true,
            "repository": repository, "workflow_filename": "release.yml"});
        let (status, publisher) = self
            .api(reqwest::Method::POST, "/publishers", Some(body))
            .await;
        assert_eq!(status, 201, "{publisher}");
        publisher
    }

    /// Run a mock-pypi subcommand against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(crate::binary())
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
        match &mut self.running {
            Running::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::InProcess { stop } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        }
    }
}

/// `mock-pypi serve` on a free loopback port with the fixture issuer key, in a clean
/// environment. With `MOCK_PYPI_TEST_DATABASE_URL` (a PostgreSQL cluster's admin URL)
/// each data directory gets its own database there instead of SQLite.
pub fn serve_command(data_dir: &Path) -> Command {
    server_command("serve", "127.0.0.1:0", data_dir)
}

/// `mock-pypi SUBCOMMAND --listen LISTEN` with the fixture key, on this data directory
/// (and its PostgreSQL database when the suite runs on PostgreSQL).
pub fn server_command(subcommand: &str, listen: &str, data_dir: &Path) -> Command {
    // The bench can drive another build (`MOCK_PYPI_BENCH_BINARY`) to compare in one run.
    let binary = std::env::var_os("MOCK_PYPI_BENCH_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::binary);
    let mut cmd = Command::new(binary);
    cmd.args([
        subcommand,
        "--listen",
        listen,
        "--issuer-key",
        FIXTURE_KEY,
        "--data-dir",
    ])
    .arg(data_dir)
    .env_clear();
    if let Some(url) = super::pg::postgres_database(data_dir) {
        cmd.env("MOCK_PYPI_DATABASE_URL", url);
    }
    cmd
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

/// A port nothing listens on right now, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A temporary directory under cargo's target/tmp: the project's own disk area, as a
/// user's data directory would be (the system /tmp may be far slower at creating files).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(crate::target_tmpdir()).expect("temp dir")
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// The port of a running server, from its `server.json`.
fn port_of(info: &Value) -> u16 {
    info["http_url"]
        .as_str()
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// `TEST_LOG` turns on tracing for in-process servers (once per test process).
fn test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let Some(filter) = std::env::var_os("TEST_LOG") else {
        return;
    };
    ONCE.call_once(|| {
        let filter = filter.to_string_lossy();
        let filter = if filter == "1" {
            "mock_pypi=info"
        } else {
            &filter
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}
