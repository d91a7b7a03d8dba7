//! The fake issuer failing on purpose, and the index surviving it: key rotation during
//! a publish, a JWKS endpoint that hangs or breaks, and a broken key set that must
//! never replace a good cached one.

use std::time::{Duration, Instant};

use crate::common::{Server, dists, uv_publish};
use reqwest::Method;
use serde_json::{Value, json};

async fn control(server: &Server, path: &str, body: Value) -> Value {
    let issuer = server.info["issuer_url"].as_str().unwrap();
    let response = server
        .client()
        .post(format!("{issuer}/_control/{path}"))
        .bearer_auth(server.info["request_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

fn github_spec(repository: &str) -> Value {
    json!({"provider": "github", "audience": "pypi", "identity": {"repository": repository}})
}

async fn github_issuer_id(server: &Server) -> i64 {
    let (_, issuers) = server.api(Method::GET, "/issuers", None).await;
    issuers["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "github")
        .and_then(|i| i["id"].as_i64())
        .expect("the embedded GitHub issuer is trusted")
}

fn kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_during_a_publish() {
    let server = Server::start_with(&["--jwks-cooldown", "1"]);
    let home = crate::common::tempdir();
    server
        .add_github_publisher("rotating", "octo-org/rotating", "release.yml", "")
        .await;
    // The index learns the old key; two more old-key tokens are kept for later.
    let first = server.issue(github_spec("octo-org/rotating")).await;
    let (status, body) = server.mint(&first).await;
    assert_eq!(status, 200, "{body}");
    let old_kid = kid(&first);
    let during_overlap = server.issue(github_spec("octo-org/rotating")).await;
    let after_overlap = server.issue(github_spec("octo-org/rotating")).await;

    let overlap = 4;
    let rotated = control(&server, "rotate", json!({"overlap_seconds": overlap})).await;
    let rotated_at = Instant::now();
    let keys = rotated["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "old and new are both published: {rotated}");
    assert_eq!(keys[1]["kid"], old_kid.as_str());
    assert_eq!(keys[0]["signing"], true);

    // uv publishes with a token signed by the new key: the index refetches the set.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dist = dists::build(&home.path().join("dist"), "rotating", "1.0");
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/rotating"]);
    let (ok, out) = uv_publish(&server, home.path(), &env, &[&dist.wheel]);
    assert!(
        ok,
        "uv publish with the new key failed:\n{out}\n{}",
        server.log()
    );
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=accepted&limit=1", None)
        .await;
    assert_ne!(
        log["exchanges"][0]["detail"]["key"]["kid"],
        old_kid.as_str()
    );
    assert_eq!(log["exchanges"][0]["detail"]["key"]["fetched_now"], true);

    // During the overlap the old key still verifies.
    let (status, body) = server.mint(&during_overlap).await;
    assert_eq!(status, 200, "{body}");

    // After the overlap the issuer drops it; once the index refreshes, it is refused.
    let wait = Duration::from_secs(overlap + 1).saturating_sub(rotated_at.elapsed());
    tokio::time::sleep(wait).await;
    let id = github_issuer_id(&server).await;
    let (status, refreshed) = server
        .api(Method::POST, &format!("/issuers/{id}/refresh"), None)
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        refreshed["kids"].as_array().unwrap().len(),
        1,
        "{refreshed}"
    );
    let (status, body) = server.mint(&after_overlap).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "invalid-token", "{body}");
    assert!(
        body["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains(&format!("key '{old_kid}' is not in the issuer's key set")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_jwks_endpoint_fails_the_exchange_within_the_timeout() {
    let server = Server::start_with(&["--jwks-cooldown", "1"]);
    server
        .add_github_publisher("hang", "octo-org/hang", "release.yml", "")
        .await;
    control(&server, "jwks", json!({"mode": "hang"})).await;
    let token = server.issue(github_spec("octo-org/hang")).await;
    let started = Instant::now();
    let (status, body) = server.mint(&token).await;
    let took = started.elapsed();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid-token");
    assert!(
        body["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("fetching"),
        "{body}"
    );
    // The fetch timeout is 5 s; nothing waits longer.
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "took {took:?}"
    );

    // Healed, the index recovers without a restart.
    control(&server, "jwks", json!({"mode": "normal"})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = server.issue(github_spec("octo-org/hang")).await;
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_key_sets_never_replace_good_cached_keys() {
    let server = Server::start_with(&["--jwks-cooldown", "0"]);
    server
        .add_github_publisher("cache", "octo-org/cache", "release.yml", "")
        .await;
    let (status, body) = server
        .mint(&server.issue(github_spec("octo-org/cache")).await)
        .await;
    assert_eq!(status, 200, "{body}");

    for (mode, needle) in [
        ("fail", "HTTP 500"),
        ("empty", "no usable RS256 keys"),
        ("garbage", "did not answer JSON"),
        ("oversized", "more than 262144 bytes"),
        ("redirect", "HTTP 302"),
    ] {
        control(&server, "jwks", json!({"mode": mode})).await;
        // An unknown kid forces a fetch, which fails in this mode's way ...
        let mut spec = github_spec("octo-org/cache");
        spec["fault"] = json!("unpublished-key");
        let (status, body) = server.mint(&server.issue(spec).await).await;
        assert_eq!(status, 422, "{mode}: {body}");
        let description = body["errors"][0]["description"].as_str().unwrap();
        assert!(description.contains(needle), "{mode}: {description}");
        // ... and the good key cached before still verifies.
        let (status, body) = server
            .mint(&server.issue(github_spec("octo-org/cache")).await)
            .await;
        assert_eq!(status, 200, "{mode}: {body}");
    }
    control(&server, "jwks", json!({"mode": "normal"})).await;
    assert!(server.log().contains("issuer JWKS mode changed"));
}
