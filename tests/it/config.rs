//! Configuration: the demo file preloads a working publisher; flags and environment
//! variables are honoured.

use crate::common::Server;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_config_publishes_out_of_the_box() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo.toml");
    let server = Server::start_with(&["--config", demo]);
    let (_, publishers) = server.api(reqwest::Method::GET, "/publishers", None).await;
    let list = publishers["publishers"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{publishers}");
    assert_eq!(list[0]["project"], "demo");
    assert_eq!(list[0]["environment"], "pypi");
    // The walkthrough's identity mints a token; another environment does not.
    let token = server.github_token(&[
        "--repository",
        "octo-org/demo",
        "--workflow",
        "release.yml",
        "--environment",
        "pypi",
    ]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "{body}");
    let token = server.github_token(&["--repository", "octo-org/demo", "--environment", "staging"]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("environment"),
        "{body}"
    );
    // Reset empties the index and restores the configured publisher.
    let (status, _) = server.api(reqwest::Method::POST, "/reset", None).await;
    assert_eq!(status, 200);
    let (_, publishers) = server.api(reqwest::Method::GET, "/publishers", None).await;
    assert_eq!(publishers["publishers"].as_array().unwrap().len(), 1);
    let (_, exchanges) = server.api(reqwest::Method::GET, "/exchanges", None).await;
    assert_eq!(exchanges["exchanges"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_variables_configure_the_server() {
    let server = Server::launch(
        &[],
        &[
            ("MOCK_PYPI_AUDIENCE", "testpypi"),
            ("MOCK_PYPI_ADMIN_TOKEN", "admin-from-env"),
        ],
    );
    let audience: serde_json::Value = server
        .get_json(&format!("{}/_/oidc/audience", server.https()))
        .await;
    assert_eq!(audience["audience"], "testpypi");
    assert_eq!(server.admin_token(), "admin-from-env");
    let (status, _) = server.api(reqwest::Method::GET, "/publishers", None).await;
    assert_eq!(status, 200);
    // The control API refuses a wrong admin token.
    let response = server
        .client()
        .get(format!("{}/_mock/api/publishers", server.http()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[test]
fn a_bad_config_is_a_clear_error() {
    let dir = crate::common::tempdir();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mock-pypi: error: parsing config") && stderr.contains("listen"),
        "{stderr}"
    );
}

/// A machine without CA certificates (a bare container) still runs the index, its
/// health probe and the CLI over plain HTTP; HTTPS key fetches fail with a clear warning.
#[tokio::test(flavor = "multi_thread")]
async fn no_system_ca_certificates_is_not_fatal() {
    let dir = crate::common::tempdir();
    let empty = dir.path().join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    let empty_dir = dir.path().join("no-roots.d");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let no_roots = [
        ("SSL_CERT_FILE", empty.to_str().unwrap()),
        ("SSL_CERT_DIR", empty_dir.to_str().unwrap()),
        ("RUST_LOG", "mock_pypi=info,warn"),
    ];
    let server = Server::launch(&["--trust-production-issuers"], &no_roots);
    assert!(
        server.log().contains("no usable system CA certificates"),
        "{}",
        server.log()
    );
    let health = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args(["health", "--url"])
        .arg(format!("{}/_mock/health", server.http()))
        .env_clear()
        .envs(no_roots)
        .output()
        .unwrap();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args(["publisher", "list", "--data-dir"])
        .arg(server.data_dir())
        .env_clear()
        .envs(no_roots)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
}
