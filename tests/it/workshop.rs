//! The workshop path (fixtures/workshop.toml and the README's five exercises), run as a
//! learner would: uv and the mock-pypi CLI, then the dashboard showing each outcome.

use crate::common::{Server, dists, uv_publish};

#[tokio::test(flavor = "multi_thread")]
async fn the_five_exercises() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/workshop.toml");
    let server = Server::start_with(&["--config", config]);
    let home = crate::common::tempdir();
    let home = home.path();
    let job = |extra: &[&str]| {
        let mut args = vec!["env", "github", "--repository", "octo-org/workshop-demo"];
        args.extend_from_slice(extra);
        server.env_vars(&args)
    };
    let dist = dists::build(&home.join("dist"), "workshop-demo", "0.1.0");

    // 1. The first trusted publish.
    let (ok, out) = uv_publish(
        &server,
        home,
        &job(&["--environment", "pypi"]),
        &[&dist.wheel, &dist.sdist],
    );
    assert!(ok, "exercise 1:\n{out}");
    // 2. The wrong workflow.
    let next = dists::build(&home.join("next"), "workshop-demo", "0.2.0");
    let (ok, out) = uv_publish(
        &server,
        home,
        &job(&["--workflow", "ci.yml", "--environment", "pypi"]),
        &[&next.wheel],
    );
    assert!(
        !ok && out.contains("workflow is 'ci.yml' but the publisher expects 'release.yml'"),
        "exercise 2:\n{out}"
    );
    // 3. The wrong environment.
    let (ok, out) = uv_publish(
        &server,
        home,
        &job(&["--environment", "staging"]),
        &[&next.wheel],
    );
    assert!(
        !ok && out.contains("environment is 'staging' but the publisher expects 'pypi'"),
        "exercise 3:\n{out}"
    );
    // 4. A replayed token.
    let token = server.github_token(&[
        "--repository",
        "octo-org/workshop-demo",
        "--environment",
        "pypi",
    ]);
    assert_eq!(server.mint(&token).await.0, 200);
    let (status, body) = server.mint(&token).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (422, Some("invalid-reuse-token")),
        "exercise 4: {body}"
    );
    // 5. The pending publisher creates its project.
    let fresh = dists::build(&home.join("fresh"), "workshop-new", "0.1.0");
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/workshop-new"]);
    let (ok, out) = uv_publish(&server, home, &env, &[&fresh.wheel]);
    assert!(ok, "exercise 5:\n{out}");

    // The dashboard shows every outcome.
    let page = server
        .get_text(&format!("{}/_mock/dashboard/exchanges", server.http()))
        .await;
    assert_eq!(page.matches(">accepted<").count(), 3, "{page}");
    assert_eq!(page.matches(">invalid-publisher<").count(), 2, "{page}");
    assert_eq!(page.matches(">invalid-reuse-token<").count(), 1, "{page}");
    assert!(page.contains("workshop-new"));
}
