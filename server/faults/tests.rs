//! Fault definitions: parsing, refusals naming the field, and the words for each.

use super::spec::*;
use serde_json::{Value, json};

fn field(v: Value) -> String {
    FaultSpec::parse(&v).unwrap_err().field
}

#[test]
fn bad_definitions_name_their_field() {
    assert_eq!(field(json!({"status": 503})), "route");
    assert_eq!(field(json!({"route": "nowhere", "status": 503})), "route");
    assert_eq!(field(json!({"route": "upload", "status": 600})), "status");
    assert_eq!(field(json!({"route": "upload", "status": 99})), "status");
    assert_eq!(field(json!({"route": "audience"})), "status");
    assert_eq!(
        field(json!({"route": "audience", "status": 503, "delay_ms": 5})),
        "delay_ms"
    );
    assert_eq!(
        field(json!({"route": "audience", "status": 503, "match": {"project": "x"}})),
        "match.project"
    );
    assert_eq!(
        field(json!({"route": "file", "status": 404, "match": {"provider": "github"}})),
        "match.provider"
    );
    assert_eq!(
        field(json!({"route": "issuer-jwks", "delay_ms": 5, "match": {"provider": "bitbucket"}})),
        "match.provider"
    );
    assert_eq!(
        field(json!({"route": "upload", "token_lifetime": 5})),
        "token_lifetime"
    );
    assert_eq!(
        field(json!({"route": "upload", "close": "after-body-bytes"})),
        "after_bytes"
    );
    assert_eq!(
        field(json!({"route": "upload", "close": "before-body", "match": {"filename": "*.whl"}})),
        "match"
    );
    assert_eq!(
        field(json!({"route": "upload", "status": 503, "when": {"next": 0}})),
        "when.next"
    );
    assert_eq!(
        field(json!({"route": "upload", "status": 503, "when": {"probability": 2}})),
        "when.probability"
    );
    assert_eq!(
        field(json!({"route": "upload", "status": 503, "surprise": 1})),
        "surprise"
    );
    assert_eq!(
        field(json!({"route": "upload", "status": 503, "style": "html"})),
        "style"
    );
}

#[test]
fn described_in_words() {
    let words = |v: Value| {
        let f = FaultSpec::parse(&v).unwrap();
        format!("{}: {}", f.when.describe(), f.action.describe())
    };
    assert_eq!(
        words(json!({"route": "upload", "status": 429, "retry_after": 2, "when": {"every": 2}})),
        "every 2nd matching request: answer 429 with the index's error page, Retry-After: 2"
    );
    assert_eq!(
        words(json!({"route": "audience", "status": 503, "when": {"every": 12}})),
        "every 12th matching request: answer 503 with the CDN's error page"
    );
    assert_eq!(
        words(json!({"route": "mint-token", "token_lifetime": 5, "when": {"next": 1}})),
        "the next matching request: mint a token that expires after 5 s"
    );
}

#[test]
fn good_definitions_parse() {
    let f = FaultSpec::parse(&json!({"route": "audience", "status": 503})).unwrap();
    assert_eq!(
        f.action,
        Action::Status {
            status: 503,
            style: Style::Cdn,
            body: None,
            content_type: None,
            retry_after: None
        }
    );
    assert_eq!(f.when, When::Always);
    let f = FaultSpec::parse(&json!({"route": "upload", "stored_then_status": 503, "match": {"filename": "*.whl", "project": "Demo_Pkg"}, "when": {"next": 1}})).unwrap();
    assert!(f.fires_in_handler());
    assert_eq!(f.matching.project.as_deref(), Some("demo-pkg"));
    let f = FaultSpec::parse(
        &json!({"route": "upload", "close": "after-body-bytes", "after_bytes": 1000}),
    )
    .unwrap();
    assert!(!f.fires_in_handler());
    let f = FaultSpec::parse(&json!({"route": "mint-token", "token_lifetime": 5, "when": {"probability": 0.5, "seed": 7}})).unwrap();
    assert_eq!(f.when, When::Probability { p: 0.5, seed: 7 });
}

#[test]
fn every_route_counts_in_its_own_slot() {
    for (i, route) in Route::ALL.into_iter().enumerate() {
        assert_eq!(
            route as usize, i,
            "{route:?} is out of declaration order in Route::ALL"
        );
    }
}
