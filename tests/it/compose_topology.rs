//! The Docker sandbox without a Docker engine, for fast feedback everywhere: the compose
//! file is checked against the compose specification, the demo image's client pins
//! against the suite's, and the compose topology (issuer service, index, PostgreSQL in
//! the PostgreSQL pass, the demo's publish and install) runs as native processes with
//! the compose file's own commands, environments and health checks. The images
//! themselves are built and run on a real engine by tests/container.sh.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::free_port;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The compose file as JSON (PyYAML from the pinned test venv reads it).
fn compose() -> Value {
    let out = Command::new(crate::common::venv().join("bin/python"))
        .env_clear()
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(repo("docker-compose.yml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("compose as JSON")
}

#[test]
fn compose_file_follows_the_compose_specification() {
    let schema = crate::common::venv().join("compose-spec/compose_spec.json");
    assert!(
        schema.exists(),
        "run tests/run.sh: it fetches the compose specification's schema"
    );
    let out = Command::new(crate::common::venv().join("bin/python"))
        .env_clear()
        .args([
            "-c",
            "import json, sys, yaml, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             doc = yaml.safe_load(open(sys.argv[2]))\n\
             errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)\n\
             [print(list(e.path), e.message) for e in errors]\n\
             sys.exit(1 if errors else 0)",
        ])
        .arg(&schema)
        .arg(repo("docker-compose.yml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "docker-compose.yml breaks the compose specification:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let c = compose();
    let services = c["services"].as_object().unwrap();
    for name in ["index", "issuer", "postgres", "demo"] {
        assert!(services.contains_key(name), "no {name} service");
    }
    assert_eq!(
        c["services"]["postgres"]["profiles"],
        serde_json::json!(["postgres", "scale"])
    );
    assert!(
        c["services"]["index"]["profiles"].is_null(),
        "SQLite is the default"
    );
    assert!(
        c["services"]["index"]["networks"]["default"]["aliases"]
            .as_array()
            .is_some_and(|a| a.len() >= 2),
        "impersonated host names need aliases"
    );
    for name in ["index", "issuer"] {
        assert!(
            c["services"][name]["healthcheck"]["test"].is_array(),
            "{name}"
        );
    }
    assert!(c["volumes"].as_object().unwrap().contains_key("index-data"));
}

#[test]
fn the_demo_image_pins_the_suites_clients() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let has = |l: &str| lines.contains(&l);
    // The demo stage pins the clients the test suite pins, and runs the script below.
    let pins = std::fs::read_to_string(repo("tests/requirements.txt")).unwrap();
    let pin = |name: &str| {
        pins.lines()
            .find(|l| l.starts_with(&format!("{name}==")))
            .unwrap()
            .to_owned()
    };
    let install = format!(
        "RUN pip install --no-cache-dir {} {} \\",
        pin("uv"),
        pin("pip")
    );
    assert!(has(&install), "the demo image must pin {install}");
    assert!(has(r#"CMD ["/demo/publish-and-install.sh"]"#));
    assert!(has("USER demo"));
}

/// `${NAME:-default}` and `${NAME}` as compose expands them.
fn expand(text: &str, vars: &HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        out.push_str(vars.get(name).map(String::as_str).unwrap_or(default));
        rest = &rest[end + 1..];
    }
    out + rest
}

/// How compose's names map to this machine.
struct Native {
    replace: Vec<(String, String)>,
    vars: HashMap<&'static str, String>,
}

impl Native {
    fn text(&self, service: &str, text: &str) -> String {
        let mut s = expand(text, &self.vars);
        for (from, to) in &self.replace {
            s = s.replace(from, to);
        }
        // Each service's /data volume is its own directory.
        s.replace("/data", &format!("{}/{service}", self.vars["ROOT"]))
    }

    fn args(&self, service: &str, value: &Value) -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|a| self.text(service, a.as_str().unwrap()))
            .collect()
    }

    fn env(&self, service: &str, value: &Value) -> Vec<(String, String)> {
        value
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), self.text(service, v.as_str().unwrap())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run the service's own health check (`["CMD", "mock-pypi", …]`) until it passes.
fn wait_healthy(native: &Native, service: &str, c: &Value) {
    let test = native.args(service, &c["services"][service]["healthcheck"]["test"]);
    assert_eq!(test[..2], ["CMD", "mock-pypi"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
            .args(&test[2..])
            .env_clear()
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{service} never became healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_topology_runs_natively() {
    let c = compose();
    let root = crate::common::tempdir();
    let (issuer_port, index_port) = (free_port(), free_port());
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("ROOT", root.path().display().to_string());
    // The PostgreSQL pass plays the `postgres` profile: MOCK_PYPI_DATABASE_URL as the
    // compose file's header says to set it, pointing at the test cluster.
    if let Some(url) = crate::common::postgres_database(&root.path().join("index")) {
        vars.insert("MOCK_PYPI_DATABASE_URL", url);
    }
    let native = Native {
        replace: vec![
            ("0.0.0.0:8001".into(), format!("127.0.0.1:{issuer_port}")),
            ("issuer:8001".into(), format!("127.0.0.1:{issuer_port}")),
            // Health checks run inside each container, on its own loopback.
            ("127.0.0.1:8001".into(), format!("127.0.0.1:{issuer_port}")),
            ("127.0.0.1:8000".into(), format!("127.0.0.1:{index_port}")),
            ("0.0.0.0:8000".into(), format!("127.0.0.1:{index_port}")),
            ("index:8000".into(), format!("127.0.0.1:{index_port}")),
            (
                "/index-data".into(),
                root.path().join("index").display().to_string(),
            ),
            (
                "/issuer-data".into(),
                root.path().join("issuer").display().to_string(),
            ),
        ],
        vars,
    };
    let mut processes = Processes(Vec::new());
    for service in ["issuer", "index"] {
        let s = &c["services"][service];
        let log = std::fs::File::create(root.path().join(format!("{service}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
            .args(native.args(service, &s["command"]))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(native.env(service, &s["environment"]))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        processes.0.push(child);
        wait_healthy(&native, service, &c);
    }

    // The demo: the image's CMD with the compose environment.
    let demo = &c["services"]["demo"];
    let home = root.path().join("demo-home");
    std::fs::create_dir_all(&home).unwrap();
    let script = repo("demo/publish-and-install.sh");
    let out = Command::new(&script)
        .env_clear()
        .envs(native.env("demo", &demo["environment"]))
        .env(
            "PATH",
            format!(
                "{}:{}:/usr/bin:/bin",
                crate::common::venv().join("bin").display(),
                bin_dir().display()
            ),
        )
        .env("HOME", &home)
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = |name: &str| {
        std::fs::read_to_string(root.path().join(format!("{name}.log"))).unwrap_or_default()
    };
    assert!(
        out.status.success(),
        "the demo failed:\n{text}\nindex log:\n{}\nissuer log:\n{}",
        logs("index"),
        logs("issuer")
    );
    assert!(text.contains("installed compose-demo 1.0.0"), "{text}");

    // The token came from the separate issuer service, and the index recorded why it
    // trusted it.
    let admin = native
        .env("index", &c["services"]["index"]["environment"])
        .into_iter()
        .find(|(k, _)| k == "MOCK_PYPI_ADMIN_TOKEN")
        .unwrap()
        .1;
    mock_pypi::tls::install_crypto_provider();
    let log: Value = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{index_port}/_mock/api/exchanges?outcome=accepted"
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log["exchanges"][0]["issuer"],
        format!("http://127.0.0.1:{issuer_port}/github"),
        "{log}"
    );
}
