//! A real GitLab pipeline under gitlab-ci-local (npm, pinned 4.64.1; installed by
//! tests/run.sh with rsync), shell jobs on the host, through `mock-pypi gitlab-ci-local`:
//! a job with `id_tokens: PYPI_ID_TOKEN` publishes with uv by trusted publishing; a job
//! without `id_tokens:` gets no token, as on GitLab.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;

use crate::common::{ROOT, Server, binary, git_repo, tempdir, venv};

const PIPELINE: &str = "stages: [build, publish]\nbuild:\n  stage: build\n  script:\n    - python3 make_dist.py demo-gl 1.0.0 \"$SHARED\"\npublish:\n  stage: publish\n  environment: pypi\n  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi\n  script:\n    - uv publish --trusted-publishing always --publish-url \"$UPLOAD_URL\" \"$SHARED\"/*\n";

fn gitlab_ci_local() -> PathBuf {
    let path = std::env::var_os("MOCK_PYPI_TEST_GITLAB_CI_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(ROOT).join("target/gitlab-ci-local/node_modules/.bin/gitlab-ci-local")
        });
    assert!(
        path.exists(),
        "gitlab-ci-local is installed by tests/run.sh (npm install gitlab-ci-local@4.64.1): {} is missing",
        path.display()
    );
    path
}

fn run(server: &Server, pipeline: &str) -> (bool, String) {
    let dir = tempdir();
    let repo = dir.path().join("repo");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let make_dist = std::fs::read_to_string(Path::new(ROOT).join("demo/make_dist.py")).unwrap();
    git_repo(
        &repo,
        "git@gitlab.example:octo-group/demo.git",
        &[(".gitlab-ci.yml", pipeline), ("make_dist.py", &make_dist)],
    );
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        binary().parent().unwrap().display(),
        venv().join("bin").display()
    );
    let out = Command::new(binary())
        .current_dir(&repo)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", dir.path())
        .args([
            "gitlab-ci-local",
            "--data-dir",
            server.data_dir().to_str().unwrap(),
        ])
        .args(["--gitlab-ci-local", gitlab_ci_local().to_str().unwrap()])
        .args(["--variable", &format!("SHARED={}", shared.display())])
        .args([
            "--variable",
            &format!("UPLOAD_URL={}/legacy/", server.https()),
        ])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitlab-ci.yml")).unwrap(),
        pipeline,
        "the user's file is untouched"
    );
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_with_id_tokens_publishes_with_uv() {
    let server = Server::start();
    let (status, body) = server
        .api(Method::POST, "/publishers", Some(serde_json::json!({"provider": "gitlab", "project": "demo-gl", "project_path": "octo-group/demo", "environment": "pypi"})))
        .await;
    assert_eq!(status, 201, "{body}");
    let (ok, log) = tokio::task::block_in_place(|| run(&server, PIPELINE));
    assert!(ok, "{log}");
    assert!(log.contains("build: no id_tokens, no token"), "{log}");
    let (_, body) = server.api(Method::GET, "/exchanges?limit=1", None).await;
    let exchange = &body["exchanges"][0];
    assert_eq!(exchange["outcome"], "accepted", "{log}");
    let claims = &exchange["detail"]["claims"];
    assert_eq!(claims["project_path"], "octo-group/demo");
    assert_eq!(claims["environment"], "pypi");
    let uri = claims["ci_config_ref_uri"].as_str().unwrap();
    assert!(
        uri.contains("/octo-group/demo//.gitlab-ci.yml@refs/heads/"),
        "{claims}"
    );
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert!(
        projects
            .to_string()
            .contains("demo_gl-1.0.0-py3-none-any.whl"),
        "{projects}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_without_id_tokens_gets_no_token() {
    let server = Server::start();
    let pipeline = PIPELINE.replace("  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: pypi\n", "");
    let (ok, log) = tokio::task::block_in_place(|| run(&server, &pipeline));
    assert!(!ok, "{log}");
    assert!(log.contains("publish: no id_tokens, no token"), "{log}");
    let (_, body) = server.api(Method::GET, "/exchanges", None).await;
    assert_eq!(
        body["exchanges"].as_array().unwrap().len(),
        0,
        "no exchange was attempted: {log}"
    );
}
