//! GitHub's and GitLab's tokens as they are in late 2026, through the real CLI, the
//! runner protocol and the pinned uv: customised and immutable subjects, check runs,
//! enterprises and the issuers PyPI does not trust, a fork's merge-request pipeline,
//! GitLab's subject components and job timeouts; bad templates refused, nothing stored.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Server, dists, uv_publish};

fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn token(server: &Server, args: &[&str]) -> Value {
    let out = server.cli(&[&["token"], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    payload(String::from_utf8_lossy(&out.stdout).trim())
}

#[tokio::test(flavor = "multi_thread")]
async fn github_claims_of_today_from_the_cli_and_the_runner_protocol() {
    let server = Server::start();
    let c = token(
        &server,
        &[
            "github",
            "--repository",
            "octo-org/fresh",
            "--repository-created",
            "2026-09-01",
            "--environment",
            "prod:eu",
            "--enterprise",
            "octo-corp",
            "--check-run-id",
            "4242",
        ],
    );
    let sub = c["sub"].as_str().unwrap();
    assert!(
        sub.starts_with("repo:octo-org@") && sub.ends_with(":environment:prod%3Aeu"),
        "{sub}"
    );
    assert_eq!(c["environment"], "prod:eu");
    assert_eq!(c["check_run_id"], "4242");
    assert_eq!(c["enterprise"], "octo-corp");
    assert!(c["enterprise_id"].is_string());

    let custom = token(
        &server,
        &[
            "github",
            "--repository",
            "octo-org/fresh",
            "--sub-claim-keys",
            "repo,context,job_workflow_ref",
        ],
    );
    assert_eq!(
        custom["sub"],
        "repo:octo-org/fresh:ref:refs/heads/main:job_workflow_ref:octo-org/fresh/.github/workflows/release.yml@refs/heads/main"
    );

    // uv fetches the token through the runner protocol: the template travels in the URL,
    // and PyPI's rules accept the customised subject.
    server
        .add_github_publisher("fresh", "octo-org/fresh", "release.yml", "")
        .await;
    let env = server.env_vars(&[
        "env",
        "github",
        "--repository",
        "octo-org/fresh",
        "--sub-claim-keys",
        "repository_owner_id,repository_id",
        "--repository-created",
        "2026-10-01",
    ]);
    let home = crate::common::tempdir();
    let d = dists::build(&home.path().join("d"), "fresh", "1.0");
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&d.wheel]);
    assert!(ok, "{out}\n{}", server.log());
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await;
    let sub = log["exchanges"][0]["detail"]["claims"]["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sub.starts_with("repository_owner_id:") && sub.contains(":repository_id:"),
        "{sub}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issuers_pypi_does_not_trust_are_refused_by_name() {
    let server = Server::start();
    server
        .add_github_publisher("ghe", "octo-org/ghe", "release.yml", "")
        .await;
    for (form, iss) in [
        (
            "ghe.com:octo",
            "https://token.actions.octo.ghe.com".to_owned(),
        ),
        (
            "enterprise",
            format!(
                "{}/octo-corp",
                mock_pypi::provider::Provider::GitHub.production_issuer()
            ),
        ),
    ] {
        let out = server.cli(&[
            "token",
            "github",
            "--repository",
            "octo-org/ghe",
            "--enterprise",
            "octo-corp",
            "--issuer-form",
            form,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jwt = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(payload(&jwt)["iss"], iss);
        let (status, body) = server.mint(&jwt).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["code"], "invalid-payload");
        let description = body["errors"][0]["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("unknown trusted publishing issuer: '{iss}'")),
            "{description}"
        );
    }
    let (_, accepted) = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await;
    assert!(
        accepted["exchanges"].as_array().unwrap().is_empty(),
        "{accepted}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forks_merge_request_pipeline_cannot_publish_the_parents_project() {
    let server = Server::start();
    let (status, body) = server
        .api(
            Method::POST,
            "/publishers",
            Some(json!({"provider": "gitlab", "project": "parent", "project_path": "octo-group/parent",
                        "workflow_filepath": ".gitlab-ci.yml"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let home = crate::common::tempdir();
    let d = dists::build(&home.path().join("d"), "parent", "1.0");
    let fork = [
        "env",
        "gitlab",
        "--project",
        "octo-group/parent",
        "--fork-mr",
        "mallory/parent",
    ];
    let (ok, out) = uv_publish(&server, home.path(), &server.env_vars(&fork), &[&d.wheel]);
    assert!(!ok, "a fork's pipeline published:\n{out}");
    assert!(out.contains("invalid-publisher"), "{out}");
    let (_, log) = server.api(Method::GET, "/exchanges", None).await;
    let claims = &log["exchanges"][0]["detail"]["claims"];
    assert_eq!(claims["project_path"], "mallory/parent", "{claims}");
    assert_eq!(claims["job_project_path"], "octo-group/parent", "{claims}");
    assert_eq!(claims["source_project_path"], "mallory/parent", "{claims}");
    assert!(
        crate::common::uploads::files_of(&server, "parent")
            .await
            .is_empty()
    );

    // The same job from the project itself publishes; its token lives the job's timeout.
    let own = [
        "env",
        "gitlab",
        "--project",
        "octo-group/parent",
        "--sub-components",
        "project_path,ref",
        "--job-timeout",
        "3600",
    ];
    let env = server.env_vars(&own);
    let jwt = &env.iter().find(|(k, _)| k == "PYPI_ID_TOKEN").unwrap().1;
    let c = payload(jwt);
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(c["sub"], "project_path:octo-group/parent:ref:main");
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&d.wheel]);
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_subject_templates_are_refused_and_mint_nothing() {
    let server = Server::start();
    for args in [
        &[
            "github",
            "--repository",
            "o/r",
            "--sub-claim-keys",
            "repo,colour",
        ][..],
        &[
            "github",
            "--repository",
            "o/r",
            "--sub-claim-keys",
            "repo,repo",
        ],
        &[
            "github",
            "--repository",
            "o/r",
            "--repository-created",
            "yesterday",
        ],
        &["github", "--repository", "o/r", "--issuer-form", "ghe.com:"],
        &[
            "gitlab",
            "--project",
            "g/p",
            "--sub-components",
            "ref,project_path",
        ],
        &["gitlab", "--project", "g/p", "--fork-mr", "mallory"],
    ] {
        let out = server.cli(&[&["env"], args].concat());
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            [
                "sub_claim_keys",
                "sub-claim-keys",
                "not a date",
                "issuer_form",
                "sub_components",
                "fork_project_path"
            ]
            .iter()
            .any(|w| err.contains(w)),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed exports");
    }
    // The issuer's own endpoint refuses the same with 400, naming the field.
    let issuer = server.info["issuer_url"].as_str().unwrap().to_owned();
    let r = server
        .client()
        .post(format!("{issuer}/mint"))
        .bearer_auth(server.info["request_token"].as_str().unwrap())
        .json(&json!({"audience": "pypi", "identity": {"repository": "o/r", "sub_claim_keys": "repo,colour"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("'colour' is not a claim"));
}
