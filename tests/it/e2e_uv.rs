//! Trusted publishing end to end with real, pinned clients: uv publishes through the
//! fake GitHub issuer using only what `mock-pypi env github` prints; pip and uv
//! install the result back.

use std::process::Command;

use crate::common::{Server, client, dists, run, uv_publish};

#[tokio::test(flavor = "multi_thread")]
async fn uv_trusted_publish_then_pip_and_uv_install() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("tp-demo", "octo-org/tp-demo", "release.yml", "pypi")
        .await;
    let dist = dists::build(&home.path().join("dist"), "tp-demo", "1.0.0");
    let env = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/tp-demo",
        "--workflow",
        "release.yml",
        "--environment",
        "pypi",
    ]);

    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel, &dist.sdist]);
    assert!(
        ok,
        "uv publish failed:\n{out}\nserver log:\n{}",
        server.log()
    );

    // Both files are listed with their hashes; the wheel advertises PEP 658 metadata.
    let page: serde_json::Value = server
        .get_json(&format!("{}/simple/tp-demo/", server.http()))
        .await;
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{page}");
    assert!(
        files
            .iter()
            .any(|f| f["filename"] == "tp_demo-1.0.0-py3-none-any.whl"
                && f["core-metadata"]["sha256"].is_string())
    );
    assert!(
        files
            .iter()
            .any(|f| f["filename"] == "tp_demo-1.0.0.tar.gz" && f["core-metadata"] == false)
    );

    // The exchange was recorded as accepted, and uv burned the token afterwards.
    let (_, exchanges) = server
        .api(reqwest::Method::GET, "/exchanges?project=tp-demo", None)
        .await;
    let accepted: Vec<_> = exchanges["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "{exchanges}");
    let id = accepted[0]["id"].as_i64().unwrap();
    let (_, detail) = server
        .api(reqwest::Method::GET, &format!("/exchanges/{id}"), None)
        .await;
    assert_eq!(
        detail["burns"][0]["outcome"], "burned",
        "uv did not burn its token: {detail}"
    );

    // pip installs from the simple index and the package imports.
    assert_eq!(
        crate::common::pip_install_and_import(&server, home.path(), "tp-demo==1.0.0", "tp_demo"),
        "1.0.0"
    );
    let python = crate::common::venv().join("bin/python");

    // uv pip installs the sdist too (built locally from the index), then imports.
    let venv_dir = home.path().join("uv-venv");
    let (ok, out) = run(client("uv", home.path())
        .args(["venv", "--python"])
        .arg(&python)
        .arg(&venv_dir));
    assert!(ok, "uv venv failed:\n{out}");
    let mut uv_pip = client("uv", home.path());
    uv_pip
        .args(["pip", "install", "--no-cache", "--python"])
        .arg(venv_dir.join("bin/python"))
        .arg("--index-url")
        .arg(format!("{}/simple/", server.http()))
        .arg("tp-demo==1.0.0");
    let (ok, out) = run(&mut uv_pip);
    assert!(ok, "uv pip install failed:\n{out}");
    let import = Command::new(venv_dir.join("bin/python"))
        .env_clear()
        .args(["-c", "import tp_demo; print(tp_demo.VERSION)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&import.stdout).trim(), "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn uv_shows_why_a_wrong_workflow_is_refused() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("tp-refused", "octo-org/tp-refused", "release.yml", "")
        .await;
    let dist = dists::build(&home.path().join("dist"), "tp-refused", "0.1");
    let env = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/tp-refused",
        "--workflow",
        "ci.yml",
    ]);

    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel]);
    assert!(!ok, "uv publish should have failed:\n{out}");
    assert!(out.contains("invalid-publisher"), "{out}");
    assert!(
        out.contains("workflow is 'ci.yml' but the publisher expects 'release.yml'"),
        "{out}"
    );
    // Nothing was stored.
    let status = server
        .client()
        .get(format!("{}/simple/tp-refused/", server.http()))
        .send()
        .await
        .unwrap()
        .status();
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        projects["projects"][0]["files"].as_array().map(Vec::len),
        Some(0),
        "{projects}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oidc_token_is_exchanged_only_once() {
    let server = Server::start();
    server
        .add_github_publisher("once", "octo-org/once", "release.yml", "")
        .await;
    let token = server.github_token(&["--repository", "octo-org/once"]);
    let (status, first) = server.mint(&token).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["token"].as_str().unwrap().starts_with("pypi-"));
    let (status, second) = server.mint(&token).await;
    assert_eq!(status, 422);
    assert_eq!(
        second["errors"][0]["code"], "invalid-reuse-token",
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_one_project_cannot_upload_another() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("mine", "octo-org/mine", "release.yml", "")
        .await;
    server
        .add_github_publisher("theirs", "octo-org/theirs", "release.yml", "")
        .await;
    let token = server.github_token(&["--repository", "octo-org/mine"]);
    let (_, minted) = server.mint(&token).await;
    let api_token = minted["token"].as_str().unwrap().to_owned();
    let dist = dists::build(&home.path().join("dist"), "theirs", "1.0");

    let (ok, out) =
        crate::common::uv_token_publish(&server, home.path(), &api_token, &[], &[&dist.wheel]);
    assert!(!ok, "{out}");
    assert!(out.contains("403"), "{out}");
    assert!(
        out.contains("OIDC scoped token is not valid for project 'theirs'"),
        "{out}"
    );
}
