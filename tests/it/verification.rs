//! Every verification rule, each broken by one token, through the real
//! `/_/oidc/mint-token` endpoint of the real binary.

use mock_pypi::issuer::claims::ClaimContext;
use std::net::TcpListener;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mock_pypi::issuer::github::GitHubIdentity;
use mock_pypi::issuer::keys::SigningKey;
use serde_json::{Map, Value, json};

use crate::common::{FIXTURE_KEY, OTHER_KEY, Server};

fn now() -> i64 {
    mock_pypi::util::now()
}

fn key(path: &str) -> SigningKey {
    SigningKey::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

/// Valid claims for the publisher every test registers.
fn good_claims(server: &Server) -> Map<String, Value> {
    let identity = GitHubIdentity {
        repository: "octo-org/verify".into(),
        ..Default::default()
    };
    let iss = server.info["github_issuer"].as_str().unwrap();
    let jti = mock_pypi::issuer::new_jti();
    identity.claims(&ClaimContext::at(iss, "pypi", now(), 300, &jti))
}

/// Good claims with some replaced (`Some`) or removed (`None`), signed by `key`.
fn token_with(key: &SigningKey, server: &Server, edits: &[(&str, Option<Value>)]) -> String {
    let mut claims = good_claims(server);
    for (name, value) in edits {
        match value {
            Some(v) => claims.insert((*name).to_owned(), v.clone()),
            None => claims.remove(*name),
        };
    }
    key.sign(&claims).unwrap()
}

fn sign_with_header(header: Header, claims: &Map<String, Value>, pem_path: &str) -> String {
    let pem = std::fs::read(pem_path).unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn rs256(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    h
}

/// A canary: any connection to it means the index fetched from a URL it should not have.
struct Canary(TcpListener);
impl Canary {
    fn new() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Self(l)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }
    fn untouched(&self) -> bool {
        matches!(self.0.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

async fn expect(server: &Server, token: &str, code: &str, needle: &str) {
    let (status, body) = server.mint(token).await;
    assert_eq!(status, 422, "expected refusal, got {body}");
    assert_eq!(body["message"], "Token request failed");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    let description = body["errors"][0]["description"].as_str().unwrap();
    assert!(
        description.contains(needle),
        "description {description:?} lacks {needle:?}"
    );
}

async fn setup() -> (Server, SigningKey) {
    let server = Server::spawn().await;
    server
        .add_github_publisher("verify", "octo-org/verify", "release.yml", "")
        .await;
    (server, key(FIXTURE_KEY))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_token_is_accepted_and_time_leeway_is_30_seconds() {
    let (server, k) = setup().await;
    let (status, body) = server.mint(&k.sign(&good_claims(&server)).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let expires = body["expires"].as_i64().unwrap();
    assert!((expires - now() - 900).abs() <= 2, "expires {expires}");

    let token = token_with(&k, &server, &[("exp", Some(json!(now() - 10)))]);
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "expired 10 s ago is within leeway: {body}");
    let token = token_with(&k, &server, &[("nbf", Some(json!(now() + 20)))]);
    assert_eq!(server.mint(&token).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn time_rules() {
    let (server, k) = setup().await;
    let token = token_with(&k, &server, &[("exp", Some(json!(now() - 31)))]);
    expect(&server, &token, "invalid-token", "expired").await;
    let token = token_with(&k, &server, &[("nbf", Some(json!(now() + 60)))]);
    expect(&server, &token, "invalid-token", "not valid for another").await;
    let token = token_with(
        &k,
        &server,
        &[
            ("iat", Some(json!(now() + 60))),
            ("exp", Some(json!(now() + 400))),
        ],
    );
    expect(&server, &token, "invalid-token", "in the future").await;
    let token = token_with(&k, &server, &[("exp", None)]);
    expect(&server, &token, "invalid-token", "no 'exp'").await;
    let token = token_with(&k, &server, &[("iat", None)]);
    expect(&server, &token, "invalid-token", "no 'iat'").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audience_rules() {
    let (server, k) = setup().await;
    let token = token_with(&k, &server, &[("aud", Some(json!("testpypi")))]);
    expect(
        &server,
        &token,
        "invalid-token",
        "audience 'testpypi' is not ours",
    )
    .await;
    let token = token_with(&k, &server, &[("aud", None)]);
    expect(&server, &token, "invalid-token", "no 'aud'").await;
    let token = token_with(&k, &server, &[("aud", Some(json!(["pypi"])))]);
    expect(&server, &token, "invalid-token", "audience is a list").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_issuer_is_refused_before_any_fetch() {
    let (server, k) = setup().await;
    let canary = Canary::new();
    let token = token_with(&k, &server, &[("iss", Some(json!(canary.url())))]);
    expect(
        &server,
        &token,
        "invalid-payload",
        "unknown trusted publishing issuer",
    )
    .await;
    let mut c = good_claims(&server);
    c.insert(
        "iss".into(),
        json!(format!(
            "{}/",
            server.info["github_issuer"].as_str().unwrap()
        )),
    );
    expect(
        &server,
        &k.sign(&c).unwrap(),
        "invalid-payload",
        "unknown trusted publishing issuer",
    )
    .await;
    assert!(
        canary.untouched(),
        "the index contacted an untrusted issuer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_come_only_from_the_trusted_jwks() {
    let (server, k) = setup().await;
    let other = key(OTHER_KEY);
    let claims = good_claims(&server);
    // Signed by a key the issuer never published.
    expect(
        &server,
        &other.sign(&claims).unwrap(),
        "invalid-token",
        "not in the issuer's key set",
    )
    .await;
    // Our kid, another key's signature.
    expect(
        &server,
        &sign_with_header(rs256(&k.kid), &claims, OTHER_KEY),
        "invalid-token",
        "signature",
    )
    .await;
    // No kid at all.
    expect(
        &server,
        &sign_with_header(Header::new(Algorithm::RS256), &claims, FIXTURE_KEY),
        "invalid-token",
        "no 'kid'",
    )
    .await;
    // jku / x5u pointing at an attacker's key set, and an embedded jwk: never used.
    let canary = Canary::new();
    let mut h = rs256(&other.kid);
    h.jku = Some(format!("{}/jwks", canary.url()));
    h.x5u = Some(format!("{}/cert.pem", canary.url()));
    expect(
        &server,
        &sign_with_header(h, &claims, OTHER_KEY),
        "invalid-token",
        "not in the issuer's key set",
    )
    .await;
    let mut h = rs256(&other.kid);
    h.jwk = Some(other.jwk().clone());
    expect(
        &server,
        &sign_with_header(h, &claims, OTHER_KEY),
        "invalid-token",
        "not in the issuer's key set",
    )
    .await;
    assert!(
        canary.untouched(),
        "the index followed a URL from a token header"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_rs256_signatures_count() {
    let (server, k) = setup().await;
    let claims = good_claims(&server);
    // HS256 keyed with the public key: the classic algorithm-confusion attack.
    let public_pem = public_pem(FIXTURE_KEY);
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(k.kid.clone());
    let hs = jsonwebtoken::encode(
        &h,
        &claims,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    expect(
        &server,
        &hs,
        "invalid-token",
        "algorithm 'HS256' is not accepted",
    )
    .await;
    // alg: none with an empty signature.
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        enc(json!({"alg": "none", "typ": "JWT", "kid": k.kid})),
        enc(Value::Object(claims.clone()))
    );
    expect(
        &server,
        &none,
        "invalid-token",
        "algorithm 'none' is not accepted",
    )
    .await;
    // Another RSA algorithm, properly signed by the right key.
    let mut h = Header::new(Algorithm::RS384);
    h.kid = Some(k.kid.clone());
    expect(
        &server,
        &sign_with_header(h, &claims, FIXTURE_KEY),
        "invalid-token",
        "only RS256",
    )
    .await;
    // A tampered payload under a genuine signature.
    let good = k.sign(&claims).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims.clone();
    evil.insert("repository".into(), json!("octo-org/other"));
    let tampered = format!("{}.{}.{}", parts[0], enc(Value::Object(evil)), parts[2]);
    expect(&server, &tampered, "invalid-token", "signature").await;
}

fn public_pem(path: &str) -> String {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
    let text = std::fs::read_to_string(path).unwrap();
    let pem = &text[text.find("-----BEGIN").unwrap()..];
    let private = rsa::PrivateKey::from_pkcs8_pem(pem).unwrap();
    private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn payload_shape_errors() {
    let (server, k) = setup().await;
    expect(&server, "not-a-jwt", "invalid-payload", "malformed JWT").await;
    let token = token_with(&k, &server, &[("iss", None)]);
    expect(&server, &token, "invalid-payload", "malformed JWT").await;
    expect(&server, &"a".repeat(20_000), "invalid-payload", "limit").await;
    for body in [
        "",
        "[]",
        "{}",
        r#"{"token": null}"#,
        r#"{"token": 12}"#,
        r#"{"wrongkey": ""}"#,
        "not json",
    ] {
        let response = server
            .client()
            .post(format!("{}/_/oidc/mint-token", server.https()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "body {body:?}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(
            json["errors"][0]["code"], "invalid-payload",
            "body {body:?}: {json}"
        );
    }
    // Only POST.
    let response = server
        .client()
        .get(format!("{}/_/oidc/mint-token", server.https()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_jti_and_the_audit_log() {
    let (server, k) = setup().await;
    let token = k.sign(&good_claims(&server)).unwrap();
    assert_eq!(server.mint(&token).await.0, 200);
    expect(&server, &token, "invalid-reuse-token", "already used").await;

    let (status, log) = server.api(reqwest::Method::GET, "/exchanges", None).await;
    assert_eq!(status, 200);
    let exchanges = log["exchanges"].as_array().unwrap();
    assert_eq!(exchanges[0]["outcome"], "invalid-reuse-token");
    assert_eq!(exchanges[1]["outcome"], "accepted");
    assert_eq!(
        exchanges[1]["detail"]["claims"]["repository"],
        "octo-org/verify"
    );
    assert!(
        exchanges[1]["detail"]["candidates"][0]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["ok"] == true)
    );
    // The raw token (and so its signature) is never stored.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.to_string().contains(signature));
}

/// One token sent many times at once: the replays land in the same write batch as the
/// first use (or in the next), and exactly one of them mints.
#[tokio::test]
async fn concurrent_replays_mint_exactly_once() {
    let (server, k) = setup().await;
    let token = k.sign(&good_claims(&server)).unwrap();
    let answers = futures_util::future::join_all((0..24).map(|_| server.mint(&token))).await;
    let minted: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(minted.len(), 1, "{answers:?}");
    assert!(minted[0]["token"].as_str().unwrap().starts_with("pypi-"));
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 422, "{body}");
        assert!(body.to_string().contains("already used"), "{body}");
    }

    let (_, log) = server.api(reqwest::Method::GET, "/exchanges", None).await;
    let outcomes: Vec<&str> = log["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 24);
    assert_eq!(outcomes.iter().filter(|o| **o == "accepted").count(), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == "invalid-reuse-token")
            .count(),
        23
    );
}
