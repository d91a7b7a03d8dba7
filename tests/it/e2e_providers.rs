//! The other providers and pending publishers end to end with the real, pinned uv:
//! GitLab-style trusted publishing from what `mock-pypi env gitlab` prints, a Google
//! token through the same variable, and a pending publisher creating its project on
//! the first publish; pip installs each result back.

use crate::common::{Server, dists, pip_install_and_import, uv_publish};
use reqwest::Method;
use serde_json::{Value, json};

fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn add_publisher(server: &Server, body: Value) -> Value {
    let (status, publisher) = server.api(Method::POST, "/publishers", Some(body)).await;
    assert_eq!(status, 201, "{publisher}");
    publisher
}

async fn accepted_exchanges(server: &Server, project: &str) -> Vec<Value> {
    let (_, log) = server
        .api(
            Method::GET,
            &format!("/exchanges?project={project}&outcome=accepted"),
            None,
        )
        .await;
    log["exchanges"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn uv_publishes_through_gitlab_style_trusted_publishing() {
    let server = Server::start();
    let home = crate::common::tempdir();
    add_publisher(
        &server,
        json!({"provider": "gitlab", "project": "gl-demo", "project_path": "octo-group/gl-demo",
               "workflow_filepath": ".gitlab-ci.yml", "environment": "pypi"}),
    )
    .await;
    let dist = dists::build(&home.path().join("dist"), "gl-demo", "2.0.0");
    let env = server.env_vars(&[
        "env",
        "gitlab",
        "--project",
        "octo-group/gl-demo",
        "--ci-file",
        ".gitlab-ci.yml",
        "--environment",
        "pypi",
    ]);
    assert_eq!(var(&env, "GITLAB_CI"), Some("true"));
    // The variable follows the index's audience, as GitLab jobs name it.
    let jwt = var(&env, "PYPI_ID_TOKEN").expect("PYPI_ID_TOKEN");
    assert_eq!(jwt.split('.').count(), 3);

    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel, &dist.sdist]);
    assert!(
        ok,
        "uv publish failed:\n{out}\nserver log:\n{}",
        server.log()
    );

    let accepted = accepted_exchanges(&server, "gl-demo").await;
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["provider"], "gitlab");
    let claims = &accepted[0]["detail"]["claims"];
    assert_eq!(claims["project_path"], "octo-group/gl-demo");
    assert!(
        claims["ci_config_ref_uri"]
            .as_str()
            .unwrap()
            .ends_with("/octo-group/gl-demo//.gitlab-ci.yml@refs/heads/main"),
        "{claims}"
    );
    assert_eq!(
        pip_install_and_import(&server, home.path(), "gl-demo==2.0.0", "gl_demo"),
        "2.0.0"
    );

    // The same job in another environment is refused, and uv shows why.
    let staging = server.env_vars(&[
        "env",
        "gitlab",
        "--project",
        "octo-group/gl-demo",
        "--environment",
        "staging",
    ]);
    let again = dists::build(&home.path().join("dist2"), "gl-demo", "2.0.1");
    let (ok, out) = uv_publish(&server, home.path(), &staging, &[&again.wheel]);
    assert!(!ok, "{out}");
    assert!(out.contains("invalid-publisher"), "{out}");
    assert!(
        out.contains("environment is 'staging' but the publisher expects 'pypi'"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_google_token_reaches_uv_through_the_gitlab_variable() {
    let server = Server::start();
    let home = crate::common::tempdir();
    add_publisher(
        &server,
        json!({"provider": "google", "project": "gcp-demo", "email": "release@demo.iam.example"}),
    )
    .await;
    let dist = dists::build(&home.path().join("dist"), "gcp-demo", "0.3.0");
    let env = server.env_vars(&["env", "google", "--email", "release@demo.iam.example"]);
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel]);
    assert!(
        ok,
        "uv publish failed:\n{out}\nserver log:\n{}",
        server.log()
    );
    let accepted = accepted_exchanges(&server, "gcp-demo").await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["provider"], "google");
    assert_eq!(
        pip_install_and_import(&server, home.path(), "gcp-demo", "gcp_demo"),
        "0.3.0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_publisher_creates_the_project_on_first_publish() {
    let server = Server::start();
    let home = crate::common::tempdir();
    let missing = server
        .client()
        .get(format!("{}/simple/fresh-pkg/", server.http()))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(missing, 404, "the project must not exist yet");
    let pending = add_publisher(
        &server,
        json!({"provider": "github", "project": "Fresh_Pkg", "pending": true,
               "repository": "octo-org/fresh", "workflow_filename": "release.yml"}),
    )
    .await;
    assert_eq!(pending["pending"], true);

    let dist = dists::build(&home.path().join("dist"), "fresh-pkg", "0.1.0");
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/fresh"]);
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel, &dist.sdist]);
    assert!(
        ok,
        "uv publish failed:\n{out}\nserver log:\n{}",
        server.log()
    );

    // The publisher is now a normal one for the new project, which pip installs from.
    let (_, publishers) = server.api(Method::GET, "/publishers", None).await;
    let p = &publishers["publishers"][0];
    assert_eq!(p["pending"], false, "{publishers}");
    assert_eq!(p["project"], "fresh-pkg");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(projects["projects"][0]["name"], "Fresh_Pkg", "{projects}");
    assert_eq!(
        pip_install_and_import(&server, home.path(), "fresh-pkg==0.1.0", "fresh_pkg"),
        "0.1.0"
    );

    // A second pending publisher for an existing project is refused up front.
    let (status, body) = server
        .api(
            Method::POST,
            "/publishers",
            Some(
                json!({"provider": "github", "project": "fresh-pkg", "pending": true,
                        "repository": "octo-org/other", "workflow_filename": "release.yml"}),
            ),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}
