//! The decision, table by table, with no HTTP, database or network: tokens signed with
//! the fixture test key, publishers built in memory.

use crate::error::MintCode;
use crate::issuer::claims::ClaimContext;
use serde_json::{Map, Value, json};

use super::*;
use crate::issuer::github::GitHubIdentity;
use crate::issuer::keys::SigningKey;
use crate::oidc::publisher::{Publisher, PublisherConfig};
use crate::oidc::trust::Trusted;
use crate::provider::Provider;
use crate::store::TrustedIssuerRow;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://issuer.test/github";

fn key(file: &str) -> SigningKey {
    let path = format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"));
    SigningKey::from_pem(&std::fs::read(path).expect("fixture key")).expect("test key")
}

fn decoding(key: &SigningKey) -> crate::oidc::jwt::VerifyingKey {
    crate::oidc::jwt::VerifyingKey::from_jwk(key.jwk()).expect("jwk")
}

fn publisher(id: i64, project: &str, environment: &str, pending: bool) -> Publisher {
    let input = json!({"repository": "octo/demo", "workflow_filename": "release.yml", "environment": environment});
    Publisher {
        id,
        provider: Provider::GitHub,
        project: project.into(),
        pending,
        config: PublisherConfig::from_input(Provider::GitHub, input.as_object().unwrap(), None)
            .unwrap(),
        // Registered a day before NOW: well inside a pending publisher's 30 days.
        created_at: NOW - 86_400,
        expires_at: None,
    }
}

fn trusted(publishers: Vec<Publisher>) -> Trusted {
    Trusted {
        issuer: TrustedIssuerRow {
            id: 1,
            provider: "github".into(),
            url: ISS.into(),
            jwks_url: None,
            created_at: 0,
        },
        provider: Some(Provider::GitHub),
        publishers,
    }
}

/// GitHub's claims for octo/demo's release.yml in environment `pypi`, with edits
/// (`null` removes a claim).
fn claims(edits: Value) -> Map<String, Value> {
    let identity = GitHubIdentity {
        repository: "octo/demo".into(),
        environment: Some("pypi".into()),
        ..Default::default()
    };
    let mut c = identity.claims(&ClaimContext::at(ISS, "pypi", NOW, 300, "jti-1"));
    for (k, v) in edits.as_object().unwrap() {
        if v.is_null() {
            c.remove(k);
        } else {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn token(signer: &SigningKey, claims: &Map<String, Value>) -> Token {
    let raw = signer.sign(claims).unwrap();
    let mut audit = Audit::default();
    read_token(json!({ "token": raw }).to_string().as_bytes(), &mut audit).unwrap()
}

fn policy() -> Policy {
    Policy {
        audience: "pypi".into(),
        token_lifetime: 900,
        pending_expiry: 30 * 86_400,
        index: "PyPI",
        other_index: None,
        previews: Vec::new(),
        reusable_workflows: false,
    }
}

fn run(t: &Token, trusted: &Trusted, pending: Pending) -> (Outcome, Audit) {
    let signer = key("issuer-test-key.pem");
    let mut audit = Audit::default();
    let outcome = decide(
        t,
        trusted,
        &decoding(&signer),
        NOW,
        &policy(),
        pending,
        &mut audit,
    );
    (outcome, audit)
}

fn refusal(outcome: Outcome) -> Refusal {
    match outcome {
        Outcome::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// One row per rule that refuses (a table: long by nature).
#[test]
fn refusals_by_rule() {
    let signer = key("issuer-test-key.pem");
    let other = key("other-test-key.pem");
    let demo = trusted(vec![publisher(1, "demo", "pypi", false)]);
    // (what is wrong, claim edits, signer, code, a fragment of the description)
    let cases: Vec<(&str, Value, &SigningKey, &str, &str)> = vec![
        (
            "expired beyond the leeway",
            json!({"exp": NOW - 30}),
            &signer,
            "invalid-token",
            "exp: expired 30 s ago",
        ),
        (
            "issued in the future",
            json!({"iat": NOW + 31}),
            &signer,
            "invalid-token",
            "iat: issued 31 s in the future",
        ),
        (
            "not valid yet",
            json!({"nbf": NOW + 31}),
            &signer,
            "invalid-token",
            "nbf: not valid for another 31 s",
        ),
        (
            "another audience",
            json!({"aud": "testpypi"}),
            &signer,
            "invalid-token",
            "audience 'testpypi' is not ours",
        ),
        (
            "a list audience",
            json!({"aud": ["pypi"]}),
            &signer,
            "invalid-token",
            "audience is a list",
        ),
        (
            "another issuer in the claims",
            json!({"iss": "https://elsewhere"}),
            &signer,
            "invalid-token",
            "iss: expected",
        ),
        (
            "no exp",
            json!({"exp": null}),
            &signer,
            "invalid-token",
            "no 'exp' claim",
        ),
        (
            "signed by an unpublished key",
            json!({}),
            &other,
            "invalid-token",
            "signature check failed",
        ),
        (
            "another environment",
            json!({"environment": "staging"}),
            &signer,
            "invalid-publisher",
            "environment is 'staging' but the publisher expects 'pypi'",
        ),
        (
            "another workflow",
            json!({"job_workflow_ref": "octo/demo/.github/workflows/nightly.yml@refs/heads/main"}),
            &signer,
            "invalid-publisher",
            "workflow is 'nightly.yml' but the publisher expects 'release.yml'",
        ),
        (
            "pull_request_target",
            json!({"event_name": "pull_request_target"}),
            &signer,
            "invalid-publisher",
            "'pull_request_target' is not supported",
        ),
        (
            "no jti",
            json!({"jti": null}),
            &signer,
            "invalid-publisher",
            "Missing claim 'jti'",
        ),
        (
            "another owner id",
            json!({"repository_owner_id": "1"}),
            &signer,
            "invalid-publisher",
            "Publisher with matching claims was not found",
        ),
    ];
    for (what, edits, key, code, fragment) in cases {
        let t = token(key, &claims(edits));
        let r = refusal(run(&t, &demo, Pending::Unsettled).0);
        assert_eq!(r.code, code, "{what}: {r:?}");
        assert!(
            r.description.contains(fragment),
            "{what}: {}",
            r.description
        );
    }
}

#[test]
fn a_good_token_mints_for_every_project_of_the_configuration() {
    let signer = key("issuer-test-key.pem");
    let both = trusted(vec![
        publisher(1, "demo", "pypi", false),
        publisher(2, "demo-extras", "pypi", false),
        publisher(3, "unrelated", "staging", false),
    ]);
    let t = token(&signer, &claims(json!({})));
    let (outcome, audit) = run(&t, &both, Pending::Unsettled);
    let Outcome::Mint(grant) = outcome else {
        panic!("not minted: {outcome:?}")
    };
    assert_eq!(grant.publisher.id, 1);
    assert_eq!(grant.projects, ["demo", "demo-extras"]);
    assert_eq!(grant.expires, NOW + 900);
    assert_eq!(grant.jti, Some(("jti-1".into(), NOW + 300 + 35)));
    let steps: Vec<&str> = audit.detail.steps.iter().map(|s| s.step.as_ref()).collect();
    assert_eq!(steps, ["signature", "iss", "aud", "exp", "iat", "nbf"]);
    assert!(
        audit
            .detail
            .candidates
            .iter()
            .any(|c| c.selected && c.publisher_id == 1)
    );
}

#[test]
fn pending_publishers_come_first_and_are_settled_by_the_shell() {
    let signer = key("issuer-test-key.pem");
    let t = token(&signer, &claims(json!({})));
    let pending = trusted(vec![publisher(7, "Brand_New", "pypi", true)]);
    let (outcome, audit) = run(&t, &pending, Pending::Unsettled);
    assert!(
        matches!(outcome, Outcome::Reify { publisher_id: 7 }),
        "{outcome:?}"
    );
    assert_eq!(audit.detail.candidates.len(), 1);
    // After the shell created the project, the publisher is a normal one.
    let settled = trusted(vec![publisher(7, "brand-new", "pypi", false)]);
    let step = Step::pass("pending", "pending publisher 7 created project 'brand-new'");
    let (outcome, audit) = run(&t, &settled, Pending::Settled(step));
    assert!(
        matches!(outcome, Outcome::Mint(ref g) if g.projects == ["brand-new"]),
        "{outcome:?}"
    );
    assert!(
        audit
            .detail
            .steps
            .iter()
            .any(|s| s.step == "pending" && s.ok)
    );
    // A pending publisher that does not match is no error: the normal ones decide.
    let other = trusted(vec![publisher(8, "other", "staging", true)]);
    let r = refusal(run(&t, &other, Pending::Unsettled).0);
    assert_eq!(r.code, "invalid-publisher");
}

#[test]
fn expired_pending_publishers_no_longer_match_and_the_refusal_says_so() {
    let signer = key("issuer-test-key.pem");
    let t = token(&signer, &claims(json!({})));
    let mut old = publisher(7, "brand-new", "pypi", true);
    old.created_at = NOW - 30 * 86_400;
    let (outcome, audit) = run(&t, &trusted(vec![old.clone()]), Pending::Unsettled);
    let r = refusal(outcome);
    assert_eq!(r.code, "invalid-publisher");
    assert!(
        r.description
            .contains("pending publisher 7 for 'brand-new' matches this token but expired at"),
        "{r:?}"
    );
    assert!(
        audit
            .detail
            .steps
            .iter()
            .any(|s| s.step == "pending" && !s.ok)
    );
    // One second younger, it still creates its project.
    old.created_at += 1;
    let (outcome, _) = run(&t, &trusted(vec![old.clone()]), Pending::Unsettled);
    assert!(
        matches!(outcome, Outcome::Reify { publisher_id: 7 }),
        "{outcome:?}"
    );
    // With expiry turned off, age does not matter.
    old.created_at = 0;
    let mut forever = policy();
    forever.pending_expiry = 0;
    let mut audit = Audit::default();
    let outcome = decide(
        &t,
        &trusted(vec![old]),
        &decoding(&signer),
        NOW,
        &forever,
        Pending::Unsettled,
        &mut audit,
    );
    assert!(matches!(outcome, Outcome::Reify { .. }), "{outcome:?}");
}

#[test]
fn an_issuer_of_an_unknown_provider_is_not_enabled() {
    let signer = key("issuer-test-key.pem");
    let t = token(&signer, &claims(json!({})));
    let mut unknown = trusted(vec![]);
    unknown.provider = None;
    unknown.issuer.provider = "circleci".into();
    let r = refusal(run(&t, &unknown, Pending::Unsettled).0);
    assert_eq!(r.code, "not-enabled");
    assert!(
        r.description.starts_with("circleci trusted publishing"),
        "{r:?}"
    );
}

#[test]
fn before_any_key_is_fetched() {
    let signer = key("issuer-test-key.pem");
    let demo = trusted(vec![]);
    let mut audit = Audit::default();
    // The body.
    for (body, fragment) in [
        (&b"not json"[..], "not JSON"),
        (b"[]", "JSON object"),
        (b"{}", "no 'token'"),
        (br#"{"token": null}"#, "null"),
        (br#"{"token": 3.14}"#, "number"),
        (br#"{"token": [""]}"#, "list"),
        (br#"{"token": "a.b"}"#, "malformed JWT"),
    ] {
        let r = read_token(body, &mut audit).unwrap_err();
        assert_eq!(r.code, "invalid-payload");
        assert!(r.description.contains(fragment), "{}", r.description);
    }
    // The allowlist: an untrusted issuer is refused without a fetch.
    let t = token(&signer, &claims(json!({})));
    let r = admit(&t, None, &mut audit).unwrap_err();
    assert_eq!(r.code, "invalid-payload");
    assert!(
        r.description
            .starts_with("unknown trusted publishing issuer: 'https://issuer.test/github'")
    );
    let (kid, _) = admit(&t, Some(&demo), &mut audit).unwrap();
    assert_eq!(kid, signer.kid);
    // The header: alg none, no kid.
    let enc = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let body = Value::Object(claims(json!({})));
    for (header, fragment) in [
        (json!({"alg": "none", "kid": "k"}), "'none' is not accepted"),
        (
            json!({"alg": "HS256", "kid": "k"}),
            "'HS256' is not accepted",
        ),
        (json!({"alg": "RS256"}), "no 'kid'"),
    ] {
        let raw = format!("{}.{}.c2ln", enc(header), enc(body.clone()));
        let t = read_token(json!({ "token": raw }).to_string().as_bytes(), &mut audit).unwrap();
        let r = admit(&t, Some(&demo), &mut audit).unwrap_err();
        assert_eq!(r.code, "invalid-token");
        assert!(r.description.contains(fragment), "{}", r.description);
    }
}

#[test]
fn warehouse_exact_texts_drop_our_explanations() {
    assert_eq!(
        warehouse_exact(
            MintCode::InvalidToken,
            "malformed or invalid token: exp: expired 600 s ago"
        ),
        "malformed or invalid token"
    );
    assert_eq!(
        warehouse_exact(
            MintCode::InvalidPublisher,
            "valid token, but no corresponding publisher (Publisher with matching claims was not found). Closest is publisher 1 …"
        ),
        "valid token, but no corresponding publisher (Publisher with matching claims was not found)"
    );
    assert_eq!(
        warehouse_exact(
            MintCode::InvalidPayload,
            "unknown trusted publishing issuer: 'x' is not trusted"
        ),
        "unknown trusted publishing issuer"
    );
    assert_eq!(
        warehouse_exact(MintCode::InvalidReuseToken, REPLAYED),
        "invalid token: already used"
    );
}
