//! mock-pypi's own release workflow, checked as a user's would be: `mock-pypi preflight`
//! against the publisher docs/development.md tells maintainers to register.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{ROOT, binary};

#[test]
fn the_release_workflow_would_publish_by_trusted_publishing() {
    let out = Command::new(binary())
        .args(["preflight", "--repo", ROOT, "--repository", "mock-pypi/mock-pypi"])
        .args(["--workflow", Path::new(ROOT).join(".github/workflows/release.yml").to_str().unwrap()])
        .args(["--publisher", "github:repository=mock-pypi/mock-pypi,workflow_filename=release.yml,environment=pypi,project=mock-pypi"])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    // One publishing job, judged for both of its triggers.
    let jobs = report["jobs"].as_array().unwrap();
    let judged: Vec<(&str, &str, &str)> = jobs
        .iter()
        .map(|j| {
            (
                j["job"].as_str().unwrap(),
                j["event"].as_str().unwrap(),
                j["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        judged,
        [
            ("publish", "push", "accepted"),
            ("publish", "workflow_dispatch", "accepted")
        ],
        "{report:#}"
    );
    assert_eq!(jobs[0]["ref"], "refs/tags/v1");
    assert_eq!(jobs[0]["claims"]["environment"], "pypi");
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
}

/// Its publish job, unmodified, under `mock-pypi act` against mock-pypi itself: the input
/// `dist` stands in for the build (whose actions cannot be fetched offline), the fake
/// Sigstore signs, uv publishes by trusted publishing to its default index, which the
/// server impersonates, and the index verifies the attestations.
#[tokio::test(flavor = "multi_thread")]
async fn its_publish_job_runs_under_act_against_mock_pypi() {
    use crate::common::{Server, git_repo, tempdir, venv};
    let uv = venv().join("bin/uv");
    let server = Server::launch(
        &["--impersonate-host", "uv"],
        &[("MOCK_PYPI_UV", uv.to_str().unwrap())],
    );
    let (status, body) = server
        .api(
            reqwest::Method::POST,
            "/publishers",
            Some(serde_json::json!({"provider": "github", "project": "mock-pypi", "repository": "mock-pypi/mock-pypi", "workflow_filename": "release.yml", "environment": "pypi"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let dir = tempdir();
    let (repo, dist) = (dir.path().join("repo"), dir.path().join("dist"));
    let workflow =
        std::fs::read_to_string(Path::new(ROOT).join(".github/workflows/release.yml")).unwrap();
    git_repo(
        &repo,
        "git@git.example:mock-pypi/mock-pypi.git",
        &[(".github/workflows/release.yml", &workflow)],
    );
    let made = Command::new("python3")
        .arg(Path::new(ROOT).join("demo/make_dist.py"))
        .args(["mock-pypi", "0.1.0", dist.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(made.success());
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"inputs": {"dist": dist}}).to_string(),
    )
    .unwrap();
    let data = server.data_dir();
    let path = format!(
        "{}:{}:/usr/bin:/bin",
        binary().parent().unwrap().display(),
        venv().join("bin").display()
    );
    let out = tokio::task::block_in_place(|| {
        Command::new(binary())
            .current_dir(&repo)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .args(["act", "--data-dir", data.to_str().unwrap(), "--impersonate"])
            .args(["workflow_dispatch", "-e", event.to_str().unwrap()])
            .args(["--env", &format!("MOCK_PYPI_DATA_DIR={}", data.display())])
            .output()
            .unwrap()
    });
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("exchange 1 accepted"), "{log}");
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    let files = projects["projects"][0]["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 2, "{projects}");
    for f in &files {
        let report = f["attestations"]
            .as_array()
            .unwrap_or_else(|| panic!("no attestations verified for {f}"));
        assert!(
            report[0]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["ok"] == true),
            "{f}"
        );
    }
}
