//! The common trusted-publishing failures, as each client shows them: no publisher for
//! the job, the wrong environment, an expired OIDC token, and a package for another
//! project. The output must name the problem (the README's troubleshooting section
//! quotes these).

use std::path::Path;

use crate::common::{Server, client, dists, run};

#[derive(Clone, Copy, Debug)]
enum Failure {
    NoPublisher,
    WrongEnvironment,
    ExpiredToken,
    WrongProject,
}

/// What the job looks like for each failure, against the publisher for `fail-demo`
/// (octo-org/fail-demo, release.yml, environment pypi).
fn job_args(failure: Failure) -> Vec<&'static str> {
    let mut args = vec!["env", "github", "--impersonate"];
    match failure {
        Failure::NoPublisher => args.extend([
            "--repository",
            "octo-org/unregistered",
            "--environment",
            "pypi",
        ]),
        Failure::WrongEnvironment => args.extend([
            "--repository",
            "octo-org/fail-demo",
            "--environment",
            "staging",
        ]),
        Failure::ExpiredToken => args.extend([
            "--repository",
            "octo-org/fail-demo",
            "--environment",
            "pypi",
            "--bad-token",
            "expired",
        ]),
        Failure::WrongProject => args.extend([
            "--repository",
            "octo-org/fail-demo",
            "--environment",
            "pypi",
        ]),
    }
    args
}

/// The text every client's output must carry for this failure.
fn needle(failure: Failure) -> &'static str {
    match failure {
        Failure::NoPublisher => "Publisher with matching claims was not found",
        Failure::WrongEnvironment => "environment is 'staging' but the publisher expects 'pypi'",
        Failure::ExpiredToken => "expired",
        Failure::WrongProject => "not valid for project 'other-project'",
    }
}

fn publish(
    program: &str,
    server: &Server,
    home: &Path,
    env: &[(String, String)],
    files: &[&Path],
) -> (bool, String) {
    let mut cmd = client(program, home);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match program {
        "uv" => {
            cmd.args(["publish", "--trusted-publishing", "always", "--publish-url"])
                .arg(format!("{}/legacy/", server.https()));
        }
        "twine" => {
            cmd.args(["upload", "--non-interactive", "--disable-progress-bar"]);
        }
        "pdm" => {
            let project = home.join(format!(
                "pdm-{}",
                files[0].file_name().unwrap().to_string_lossy()
            ));
            std::fs::create_dir_all(project.join("dist")).unwrap();
            std::fs::copy(
                files[0],
                project.join("dist").join(files[0].file_name().unwrap()),
            )
            .unwrap();
            let name = if files[0].to_string_lossy().contains("other_project") {
                "other-project"
            } else {
                "fail-demo"
            };
            std::fs::write(
                project.join("pyproject.toml"),
                format!("[project]\nname = \"{name}\"\nversion = \"1.0\"\n"),
            )
            .unwrap();
            cmd.env("PDM_CHECK_UPDATE", "false")
                .env("PDM_USE_VENV", "false")
                .current_dir(&project)
                .args(["publish", "--no-build", "-r"])
                .arg(format!("{}/legacy/", server.https()))
                .arg("--ca-certs")
                .arg(server.ca_file());
            return run(&mut cmd);
        }
        "python" => {
            // The publish action's exchange (tests/clients/publish_action_exchange.py).
            cmd.env(
                "INPUT_REPOSITORY_URL",
                format!("{}/legacy/", server.https()),
            )
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/clients/publish_action_exchange.py"),
            );
            return run(&mut cmd);
        }
        _ => unreachable!(),
    }
    cmd.args(files);
    run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_client_explains_each_common_failure() {
    let python = crate::common::venv().join("bin/python");
    let server = Server::launch(
        &["--impersonate-host", "twine"],
        &[
            ("RUST_LOG", "mock_pypi=debug,warn"),
            ("MOCK_PYPI_PYTHON", python.to_str().unwrap()),
        ],
    );
    server
        .add_github_publisher("fail-demo", "octo-org/fail-demo", "release.yml", "pypi")
        .await;
    server
        .add_github_publisher("other-project", "octo-org/other-project", "release.yml", "")
        .await;
    let home = crate::common::tempdir();
    let home = home.path();
    let ours = dists::build(&home.join("ours"), "fail-demo", "1.0");
    let theirs = dists::build(&home.join("theirs"), "other-project", "1.0");
    let mut problems = Vec::new();
    for program in ["uv", "twine", "python", "pdm"] {
        for failure in [
            Failure::NoPublisher,
            Failure::WrongEnvironment,
            Failure::ExpiredToken,
            Failure::WrongProject,
        ] {
            if program == "python" && matches!(failure, Failure::WrongProject) {
                continue; // the exchange alone uploads nothing
            }
            let env = server.env_vars(&job_args(failure));
            let file = if matches!(failure, Failure::WrongProject) {
                &theirs.wheel
            } else {
                &ours.wheel
            };
            let (ok, out) = publish(program, &server, home, &env, &[file]);
            // Clients wrap long lines (twine at 80 columns): compare words, not layout.
            let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
            // pdm hides the index's answer to the exchange; the audit log has it.
            let expected = match (program, failure) {
                ("pdm", Failure::WrongProject) => needle(failure),
                ("pdm", _) => "Failed to get PyPI token via OIDC",
                _ => needle(failure),
            };
            if program == "pdm" && !matches!(failure, Failure::WrongProject) {
                let (_, log) = server
                    .api(reqwest::Method::GET, "/exchanges?limit=1", None)
                    .await;
                let description = log["exchanges"][0]["description"].as_str().unwrap_or("");
                if !description.contains(needle(failure)) {
                    problems.push(format!(
                        "pdm / {failure:?}: the audit log says {description:?}"
                    ));
                }
            }
            if ok || !flat.contains(expected) {
                problems.push(format!(
                    "{program} / {failure:?} (ok = {ok}), expected {:?}:\n{out}",
                    needle(failure)
                ));
            }
        }
    }
    // Nothing was stored by any of it.
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    let files: usize = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["files"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(files, 0, "{projects}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
