//! The providers of PyPI's open pull requests, served with `serve --preview`: each
//! publishes with the pinned uv from what `mock-pypi env PROVIDER` prints, after its
//! publisher was added with the CLI; the dashboard names the pull request; without the
//! flag, nothing of them is accepted. The claim rules are in tests/conformance/preview.toml.

use reqwest::Method;

use crate::common::{Server, dists, uv_publish};

fn cli(server: &Server, args: &[&str]) -> (bool, String) {
    let out = server.cli(args);
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
async fn each_preview_provider_publishes_with_uv() {
    let server = Server::start_with(&["--preview", "buildkite,circleci,semaphore"]);
    let home = crate::common::tempdir();
    let jobs: [(&str, Vec<&str>, Vec<&str>); 3] = [
        (
            "kite",
            vec![
                "buildkite",
                "--organization-slug",
                "octo",
                "--pipeline-slug",
                "release",
            ],
            vec![
                "buildkite",
                "--organization-slug",
                "octo",
                "--pipeline-slug",
                "release",
            ],
        ),
        (
            "circle",
            vec![
                "circleci",
                "--org-id",
                "o-1",
                "--project-id",
                "p-1",
                "--pipeline-definition-id",
                "d-1",
            ],
            vec![
                "circleci",
                "--org-id",
                "o-1",
                "--project-id",
                "p-1",
                "--pipeline-definition-id",
                "d-1",
            ],
        ),
        (
            "sema",
            vec![
                "semaphore",
                "--organization",
                "octo",
                "--organization-id",
                "so-1",
                "--project-id",
                "sp-1",
                "--repo-slug",
                "octo/sema",
            ],
            vec![
                "semaphore",
                "--organization",
                "octo",
                "--organization-id",
                "so-1",
                "--project",
                "sema",
                "--project-id",
                "sp-1",
                "--repo-slug",
                "octo/sema",
            ],
        ),
    ];
    for (project, publisher, job) in &jobs {
        let mut add = vec!["publisher", "add"];
        add.extend(publisher.iter().copied());
        add.extend(["--project", project]);
        let (ok, out) = cli(&server, &add);
        assert!(ok, "{out}");
        let mut env = vec!["env"];
        env.extend(job.iter().copied());
        let vars = server.env_vars(&env);
        let d = dists::build(&home.path().join(project), project, "1.0");
        let (ok, out) = uv_publish(&server, home.path(), &vars, &[&d.wheel]);
        assert!(ok, "{project}: {out}\n{}", server.log());
    }
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await;
    let providers: Vec<&str> = log["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["semaphore", "circleci", "buildkite"]);
    // Semaphore's token came from its organisation's own issuer.
    let iss = log["exchanges"][0]["issuer"].as_str().unwrap();
    assert!(iss.ends_with("/issuer/semaphore/octo"), "{iss}");
    // Buildkite pinned its ids on first use, and says so.
    let (_, publishers) = server
        .api(Method::GET, "/publishers?provider=buildkite", None)
        .await;
    assert!(
        publishers["publishers"][0]["pipeline_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{publishers}"
    );
    let page = server
        .get_text(&format!("{}/_mock/dashboard/publishers", server.http()))
        .await;
    for words in [
        "preview: not on PyPI yet (warehouse#20515)",
        "preview: not on PyPI yet (warehouse#19349)",
        "preview: not on PyPI yet (warehouse#19048)",
        "ids pinned",
    ] {
        assert!(page.contains(words), "{words}:\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_flag_previews_are_refused_and_nothing_is_stored() {
    let server = Server::start();
    let (ok, out) = cli(
        &server,
        &[
            "publisher",
            "add",
            "buildkite",
            "--organization-slug",
            "o",
            "--pipeline-slug",
            "p",
            "--project",
            "kite",
        ],
    );
    assert!(!ok);
    assert!(
        out.contains("Buildkite is a preview provider (not on PyPI yet: warehouse#20515); start the server with --preview buildkite"),
        "{out}"
    );
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "kite", "1.0");
    let vars = server.env_vars(&[
        "env",
        "buildkite",
        "--organization-slug",
        "o",
        "--pipeline-slug",
        "p",
    ]);
    let (ok, out) = uv_publish(&server, home.path(), &vars, &[&d.wheel]);
    assert!(!ok);
    assert!(out.contains("unknown trusted publishing issuer"), "{out}");
    let (_, publishers) = server.api(Method::GET, "/publishers", None).await;
    assert!(publishers["publishers"].as_array().unwrap().is_empty());
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert!(projects["projects"].as_array().unwrap().is_empty());
    // A bad --preview name stops the start, naming the ones there are.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args(["serve", "--preview", "bitbucket", "--data-dir"])
        .arg(home.path().join("data"))
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown preview 'bitbucket' (one of: buildkite, circleci, semaphore, reusable-workflows)"),
        "{err}"
    );
}
