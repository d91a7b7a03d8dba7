//! The audit API: every mint attempt of every provider, accepted or refused, with the
//! decoded token (never the raw token), the key, each step's verdict, every candidate's
//! claim verdicts, and — for a minted token — the uploads it made and its burn.
//! Also the Warehouse-exact setting.

use crate::common::Server;
use crate::common::uploads::{Upload, basic};
use reqwest::Method;
use serde_json::{Value, json};

fn identity(provider: &str) -> (Value, Value) {
    match provider {
        "github" => (
            json!({"repository": "octo-org/audited", "workflow_filename": "release.yml", "environment": "pypi"}),
            json!({"repository": "octo-org/audited", "environment": "pypi"}),
        ),
        "gitlab" => (
            json!({"project_path": "octo-group/audited", "environment": "pypi"}),
            json!({"project_path": "octo-group/audited", "environment": "pypi"}),
        ),
        "google" => (
            json!({"email": "audited@demo.iam.example"}),
            json!({"email": "audited@demo.iam.example"}),
        ),
        _ => (
            json!({"organization": "octo-org", "activestate_project_name": "audited"}),
            json!({"organization": "octo-org", "project": "audited"}),
        ),
    }
}

/// What a refused variant of each provider's identity changes.
fn wrong(provider: &str) -> (Value, &'static str) {
    match provider {
        "github" => (json!({"environment": "staging"}), "environment"),
        "gitlab" => (json!({"environment": "staging"}), "environment"),
        "google" => (
            json!({"claims": {"email_verified": false}}),
            "email_verified",
        ),
        _ => (json!({"claims": {"builder": "someone-else"}}), "builder"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_accepted_and_refused() {
    let server = Server::spawn().await;
    for provider in ["github", "gitlab", "google", "activestate"] {
        let project = format!("audited-{provider}");
        let (mut publisher, id) = identity(provider);
        publisher["provider"] = json!(provider);
        publisher["project"] = json!(project);
        let (status, created) = server
            .api(Method::POST, "/publishers", Some(publisher))
            .await;
        assert_eq!(status, 201, "{created}");
        let publisher_id = created["id"].as_i64().unwrap();

        let good = server
            .issue(json!({"provider": provider, "audience": "pypi", "identity": id}))
            .await;
        let (status, minted) = server.mint(&good).await;
        assert_eq!(status, 200, "{provider}: {minted}");
        let (change, claim) = wrong(provider);
        let mut spec = json!({"provider": provider, "audience": "pypi", "identity": id});
        if let Some(claims) = change.get("claims") {
            spec["claims"] = claims.clone();
        } else {
            for (k, v) in change.as_object().unwrap() {
                spec["identity"][k] = v.clone();
            }
        }
        let bad = server.issue(spec).await;
        let (status, _) = server.mint(&bad).await;
        assert_eq!(status, 422);

        let (_, log) = server
            .api(
                Method::GET,
                &format!("/exchanges?publisher={publisher_id}"),
                None,
            )
            .await;
        let accepted: Vec<&Value> = log["exchanges"].as_array().unwrap().iter().collect();
        assert_eq!(accepted.len(), 1, "{provider}: the publisher filter: {log}");
        let a = accepted[0];
        assert_eq!(a["outcome"], "accepted");
        assert_eq!(a["provider"], provider);
        assert_eq!(a["project"], project.as_str());
        assert!(
            a["token_id"].is_string() && a["token_expires"].is_i64(),
            "{a}"
        );
        let d = &a["detail"];
        assert_eq!(d["header"]["alg"], "RS256");
        assert!(d["header"]["kid"].is_string());
        assert!(d["claims"]["iss"].as_str().unwrap().ends_with(provider));
        assert!(d["key"]["jwks_url"].as_str().unwrap().contains(provider));
        let steps = d["steps"].as_array().unwrap();
        assert!(
            steps.len() >= 6 && steps.iter().all(|s| s["ok"] == true),
            "{provider}: {steps:?}"
        );
        let chosen = &d["candidates"][0];
        assert_eq!(chosen["selected"], true);
        assert!(
            chosen["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["ok"] == true && v["expected"].is_string() && v["rule"].is_string())
        );
        // Never the raw token or its signature.
        let text = a.to_string();
        let signature = good.rsplit('.').next().unwrap();
        assert!(
            !text.contains(&good) && !text.contains(signature),
            "{provider}: the token leaked"
        );

        let (_, refused) = server
            .api(
                Method::GET,
                "/exchanges?outcome=invalid-publisher&limit=1",
                None,
            )
            .await;
        let r = &refused["exchanges"][0];
        assert_eq!(r["provider"], provider, "{refused}");
        let failing: Vec<&Value> = r["detail"]["candidates"][0]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["ok"] == false)
            .collect();
        assert!(
            failing.iter().any(|v| v["claim"] == claim),
            "{provider}: no failing '{claim}' verdict in {r}"
        );
        assert!(r["token_id"].is_null());
    }

    // Time filters.
    let (_, all) = server.api(Method::GET, "/exchanges", None).await;
    assert_eq!(all["exchanges"].as_array().unwrap().len(), 8);
    let future = mock_pypi::util::now() + 3600;
    let (_, none) = server
        .api(Method::GET, &format!("/exchanges?since={future}"), None)
        .await;
    assert!(none["exchanges"].as_array().unwrap().is_empty());
    let (_, before) = server.api(Method::GET, "/exchanges?until=1", None).await;
    assert!(before["exchanges"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_and_burns_are_linked_to_the_exchange() {
    let server = Server::spawn().await;
    let home = crate::common::tempdir();
    server
        .add_github_publisher("linked", "octo-org/linked", "release.yml", "")
        .await;
    let oidc = server.github_token(&["--repository", "octo-org/linked"]);
    let (_, minted) = server.mint(&oidc).await;
    let token = minted["token"].as_str().unwrap().to_owned();
    let d = crate::common::dists::build(&home.path().join("d"), "linked", "1.0");
    for file in [&d.wheel, &d.sdist] {
        let (status, reason, _) =
            Upload::of(file, "linked", "1.0").send_raw(&server, Some(&basic(&token)));
        assert_eq!(status, 200, "{reason}");
    }
    let burned = server
        .client()
        .post(format!("{}/_/oidc/burn-token", server.https()))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(burned.status(), 202);
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await;
    let id = log["exchanges"][0]["id"].as_i64().unwrap();
    let (_, e) = server
        .api(Method::GET, &format!("/exchanges/{id}"), None)
        .await;
    let uploads: Vec<&str> = e["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        uploads,
        ["linked-1.0-py3-none-any.whl", "linked-1.0.tar.gz"],
        "{e}"
    );
    assert!(e["token"]["burned_at"].is_i64(), "{e}");
    assert_eq!(e["token"]["id"], e["token_id"]);
    assert_eq!(e["burns"][0]["outcome"], "burned", "{e}");
    assert_eq!(e["burns"][0]["token_id"], e["token_id"], "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn warehouse_exact_descriptions_on_request() {
    let server = Server::spawn_with(&["--warehouse-exact-errors"]).await;
    server
        .add_github_publisher("exact", "octo-org/exact", "release.yml", "pypi")
        .await;
    let token =
        server.github_token(&["--repository", "octo-org/exact", "--environment", "staging"]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][0]["description"],
        "valid token, but no corresponding publisher (Publisher with matching claims was not found)"
    );
    // `--fault` is the hidden alias of `--bad-token`, kept for one release.
    let expired = server.github_token(&["--repository", "octo-org/exact", "--fault", "expired"]);
    let (_, body) = server.mint(&expired).await;
    assert_eq!(
        body["errors"][0]["description"],
        "malformed or invalid token"
    );
    // The audit log keeps the explanation.
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=invalid-publisher", None)
        .await;
    assert!(
        log["exchanges"][0]["description"]
            .as_str()
            .unwrap()
            .contains("environment is 'staging' but the publisher expects 'pypi'"),
        "{log}"
    );
}
