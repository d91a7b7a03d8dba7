//! Long-lived API tokens (control API and CLI): scoped to one project or to all,
//! revocable; and uv's token-mode behaviours: `--check-url` skips what exists, and the
//! token uv burns after a trusted publish no longer uploads.

use crate::common::{Server, dists, uv_token_publish};
use reqwest::Method;
use serde_json::{Value, json};

async fn project_names(server: &Server) -> Vec<String> {
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["normalized_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_are_scoped_and_revocable() {
    let server = Server::start();
    let home = crate::common::tempdir();

    // Every-project token from the CLI: it may create a project, as a user's token may.
    let out = server.cli(&["api-token", "create", "--description", "ci"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(all.starts_with("pypi-"));
    let fresh = dists::build(&home.path().join("fresh"), "fresh-api", "1.0");
    let (ok, out) = uv_token_publish(
        &server,
        home.path(),
        &all,
        &[],
        &[&fresh.wheel, &fresh.sdist],
    );
    assert!(ok, "{out}");
    assert_eq!(
        crate::common::pip_install_and_import(&server, home.path(), "fresh-api", "fresh_api"),
        "1.0"
    );

    // A project-scoped token from the API uploads its project only; a refused upload
    // does not create the project it names.
    let (status, created) = server
        .api(
            Method::POST,
            "/tokens",
            Some(json!({"project": "Alpha_Pkg", "description": "alpha only"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["projects"], json!(["alpha-pkg"]));
    let scoped = created["token"].as_str().unwrap().to_owned();
    let alpha = dists::build(&home.path().join("alpha"), "alpha-pkg", "0.1");
    let (ok, out) = uv_token_publish(&server, home.path(), &scoped, &[], &[&alpha.wheel]);
    assert!(ok, "{out}");
    let beta = dists::build(&home.path().join("beta"), "beta-pkg", "0.1");
    let (ok, out) = uv_token_publish(&server, home.path(), &scoped, &[], &[&beta.wheel]);
    assert!(!ok);
    assert!(
        out.contains("project-scoped token is not valid for project 'beta-pkg'"),
        "{out}"
    );
    assert!(
        !project_names(&server)
            .await
            .contains(&"beta-pkg".to_owned())
    );

    // Listing never shows a secret; revoking stops the token at once.
    let (_, list) = server.api(Method::GET, "/tokens", None).await;
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{list}");
    assert!(
        tokens
            .iter()
            .all(|t| t.get("token").is_none() && t.get("token_hash").is_none())
    );
    let id = created["id"].as_str().unwrap();
    let revoked = server.cli(&["api-token", "revoke", id]);
    assert!(revoked.status.success());
    let again = dists::build(&home.path().join("alpha2"), "alpha-pkg", "0.2");
    let (ok, out) = uv_token_publish(&server, home.path(), &scoped, &[], &[&again.wheel]);
    assert!(!ok);
    assert!(out.contains("token was revoked"), "{out}");
    let (status, _) = server.api(Method::DELETE, "/tokens/nope", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn uv_check_url_skips_existing_files_and_a_burned_token_is_refused() {
    let server = Server::start();
    let home = crate::common::tempdir();
    server
        .add_github_publisher("rerun", "octo-org/rerun", "release.yml", "")
        .await;
    let dist = dists::build(&home.path().join("dist"), "rerun", "1.0");
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/rerun"]);
    let check_url = [
        "--check-url".to_owned(),
        format!("{}/simple/", server.http()),
    ];
    let publish = |env: &[(String, String)]| {
        crate::common::uv_publish_with(
            &server,
            home.path(),
            env,
            &check_url,
            &[&dist.wheel, &dist.sdist],
        )
    };
    let (ok, first) = publish(&env);
    assert!(ok, "{first}");
    // uv masks the minted token for the runner's log: that is the token it burned.
    let minted = first
        .lines()
        .find_map(|l| l.strip_prefix("::add-mask::"))
        .expect("uv prints ::add-mask::<token> on GitHub Actions")
        .trim()
        .to_owned();
    // Re-running the same publish skips both files instead of failing.
    let (ok, second) = publish(&env);
    assert!(ok, "{second}");
    let (_, projects) = server.api(Method::GET, "/projects", None).await;
    assert_eq!(
        projects["projects"][0]["files"].as_array().unwrap().len(),
        2
    );
    let accepted: Vec<Value> = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await
        .1["exchanges"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!accepted.is_empty());

    // The burned token uploads nothing any more.
    let next = dists::build(&home.path().join("next"), "rerun", "1.1");
    let (ok, out) = uv_token_publish(&server, home.path(), &minted, &[], &[&next.wheel]);
    assert!(!ok);
    assert!(
        out.contains("Invalid or non-existent authentication information"),
        "{out}"
    );
}
