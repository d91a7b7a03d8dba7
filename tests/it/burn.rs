//! `POST /_/oidc/burn-token` as PyPI answers it (warehouse#20197): 202 and one body for
//! every well-formed request, whatever it did; only trusted-publishing tokens revoked;
//! what happened recorded for the audit API and the dashboard; a burned token's upload
//! refused with PyPI's words.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::Server;
use crate::common::uploads::{Upload, basic, token_for};

async fn burn(server: &Server, body: &[u8]) -> (u16, Value) {
    let r = server
        .client()
        .post(format!("{}/_/oidc/burn-token", server.https()))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn burn_token(server: &Server, token: &str) -> (u16, Value) {
    burn(server, json!({ "token": token }).to_string().as_bytes()).await
}

async fn burns(server: &Server) -> Vec<Value> {
    let (status, body) = server.api(Method::GET, "/burns", None).await;
    assert_eq!(status, 200, "{body}");
    body["burns"].as_array().unwrap().clone()
}

fn accepted() -> Value {
    json!({"message": "Accepted", "errors": []})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_well_formed_burn_is_answered_202_and_only_trusted_publishing_tokens_are_revoked() {
    let server = Server::spawn().await;
    let home = crate::common::tempdir();
    let d = crate::common::dists::build(home.path(), "burnt", "1.0");
    let minted = token_for(&server, "burnt").await;
    let api = crate::common::publishing::api_token(&server, "burnt");

    // Four different outcomes, one answer.
    for token in [
        minted.as_str(),
        minted.as_str(),
        api.as_str(),
        "pypi-never-minted-here",
    ] {
        assert_eq!(burn_token(&server, token).await, (202, accepted()));
    }
    let outcomes: Vec<Value> = burns(&server)
        .await
        .iter()
        .rev()
        .map(|b| b["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            "burned",
            "already-burned",
            "not-trusted-publishing",
            "unknown-token"
        ]
    );
    let all = burns(&server).await;
    assert!(all[0]["token_id"].is_null(), "{all:?}");
    assert!(
        all.iter()
            .all(|b| b["explanation"].as_str().is_some_and(|e| !e.is_empty())),
        "{all:?}"
    );

    // The burned token uploads nothing; PyPI deleted it, so it is refused as unknown.
    let (status, reason, _) =
        Upload::of(&d.wheel, "burnt", "1.0").send_raw(&server, Some(&basic(&minted)));
    assert_eq!(status, 403);
    assert!(
        reason.starts_with("Invalid or non-existent authentication information."),
        "{reason}"
    );
    // The API token was not revoked: it still uploads.
    let (status, reason, _) =
        Upload::of(&d.wheel, "burnt", "1.0").send_raw(&server, Some(&basic(&api)));
    assert_eq!(status, 200, "{reason}");

    // The dashboard explains what the 202 did not.
    let page = server
        .get_text(&format!("{}/_mock/dashboard/exchanges", server.http()))
        .await;
    for words in [
        "Burn-token calls",
        "not-trusted-publishing",
        "PyPI leaves it valid",
        "unknown-token",
    ] {
        assert!(page.contains(words), "{words} not on the page:\n{page}");
    }
    let (_, log) = server
        .api(Method::GET, "/exchanges?outcome=accepted", None)
        .await;
    let id = log["exchanges"][0]["id"].as_i64().unwrap();
    let page = server
        .get_text(&format!("{}/_mock/dashboard/exchanges/{id}", server.http()))
        .await;
    assert!(page.contains("already-burned"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_burn_is_refused_and_records_nothing() {
    let server = Server::spawn().await;
    let minted = token_for(&server, "kept").await;
    for body in [&b"not json"[..], b"{}", b"{\"token\": 7}", b"[]"] {
        let (status, answer) = burn(&server, body).await;
        assert_eq!(status, 422, "{}: {answer}", String::from_utf8_lossy(body));
        assert_eq!(answer["errors"][0]["code"], "invalid-payload", "{answer}");
    }
    assert!(burns(&server).await.is_empty());
    // Nothing was revoked: the token still uploads.
    let home = crate::common::tempdir();
    let d = crate::common::dists::build(home.path(), "kept", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "kept", "1.0").send_raw(&server, Some(&basic(&minted)));
    assert_eq!(status, 200, "{reason}");
}
