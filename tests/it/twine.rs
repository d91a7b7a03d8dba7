//! twine 7.0.0, unmodified: trusted publishing through host impersonation (twine only
//! trust-publishes to its own default upload URL, which the tests read from twine), and
//! token uploads with `--skip-existing` and duplicate refusals.

use std::io::{Read, Write};
use std::path::Path;

use crate::common::{Server, client, dists, run};

fn impersonating_server() -> Server {
    let python = crate::common::venv().join("bin/python");
    Server::launch(
        &["--impersonate-host", "twine"],
        &[
            ("RUST_LOG", "mock_pypi=debug,warn"),
            ("MOCK_PYPI_PYTHON", python.to_str().unwrap()),
        ],
    )
}

fn twine(home: &Path, env: &[(String, String)], args: &[&str], files: &[&Path]) -> (bool, String) {
    let mut cmd = client("twine", home);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["upload", "--non-interactive", "--disable-progress-bar"])
        .args(args)
        .args(files);
    run(&mut cmd)
}

/// A raw CONNECT through the server's proxy; the status line's code.
fn connect(server: &Server, target: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn twine_trusted_publishing_through_impersonation() {
    let server = impersonating_server();
    let home = crate::common::tempdir();
    let upload_host = url::Url::parse(&crate::common::twine_repository("DEFAULT_REPOSITORY"))
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    server
        .add_github_publisher("tw-demo", "octo-org/tw-demo", "release.yml", "")
        .await;
    let dist = dists::build(&home.path().join("dist"), "tw-demo", "1.0.0");
    let env = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/tw-demo",
        "--impersonate",
    ]);
    assert!(env.iter().any(|(k, _)| k == "HTTPS_PROXY"));

    // A plain `twine upload`: no URL, no credentials.
    let (ok, out) = twine(home.path(), &env, &[], &[&dist.wheel, &dist.sdist]);
    assert!(
        ok,
        "twine upload failed:\n{out}\nserver log:\n{}",
        server.log()
    );
    let (_, log) = server
        .api(
            reqwest::Method::GET,
            "/exchanges?project=tw-demo&outcome=accepted",
            None,
        )
        .await;
    assert_eq!(log["exchanges"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(
        crate::common::pip_install_and_import(&server, home.path(), "tw-demo==1.0.0", "tw_demo"),
        "1.0.0"
    );

    // --skip-existing is allowed for twine's own URL: a re-run skips both files.
    let (ok, out) = twine(
        home.path(),
        &env,
        &["--skip-existing"],
        &[&dist.wheel, &dist.sdist],
    );
    assert!(ok, "{out}");
    assert!(out.contains("Skipping"), "{out}");

    // The proxy tunnels the impersonated hosts on 443 only, and nothing else.
    assert_eq!(connect(&server, &format!("{upload_host}:443")), 200);
    assert_eq!(connect(&server, &format!("{upload_host}:80")), 403);
    assert_eq!(connect(&server, "example.invalid:443"), 403);
    assert_eq!(connect(&server, "127.0.0.1:22"), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn twine_with_a_token_and_duplicates() {
    let server = Server::start();
    let home = crate::common::tempdir();
    let out = server.cli(&["api-token", "create", "--project", "tw-token"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dist = dists::build(&home.path().join("dist"), "tw-token", "0.1");
    let env = vec![(
        "REQUESTS_CA_BUNDLE".to_owned(),
        server.ca_file().display().to_string(),
    )];
    let url = format!("{}/legacy/", server.https());
    let args = ["--repository-url", &url, "-u", "__token__", "-p", &token];
    let (ok, out) = twine(home.path(), &env, &args, &[&dist.wheel, &dist.sdist]);
    assert!(ok, "{out}");
    // The identical file again is a no-op 200, as on PyPI.
    let (ok, out) = twine(home.path(), &env, &args, &[&dist.wheel]);
    assert!(ok, "{out}");
    // Other bytes under the same name: PyPI's 400, with the message in the reason
    // phrase, which twine prints under the status line.
    let other_dir = home.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = other_dir.join(dist.wheel.file_name().unwrap());
    let mut bytes = std::fs::read(&dist.wheel).unwrap();
    bytes.extend_from_slice(b"\0\0\0\0");
    std::fs::write(&other, bytes).unwrap();
    let (ok, out) = twine(home.path(), &env, &args, &[&other]);
    assert!(!ok);
    assert!(out.contains("HTTPError: 400 Bad Request"), "{out}");
    assert!(
        out.contains("File already exists ('tw_token-0.1-py3-none-any.whl'"),
        "{out}"
    );
    // twine refuses --skip-existing for any URL but its own (checked here, not by us).
    let mut skip = args.to_vec();
    skip.push("--skip-existing");
    let (ok, out) = twine(home.path(), &env, &skip, &[&other]);
    assert!(!ok);
    assert!(out.contains("skip-existing"), "{out}");
}
