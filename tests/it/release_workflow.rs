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
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "one publishing job: {report:#}");
    assert_eq!(jobs[0]["job"], "publish");
    assert_eq!(jobs[0]["ref"], "refs/tags/v1");
    assert_eq!(jobs[0]["verdict"], "accepted");
    assert_eq!(jobs[0]["claims"]["environment"], "pypi");
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
}
