//! The fake issuer's protocol, the legacy mint route, the publisher CLI and
//! user-supplied certificates.

mod common;

use common::Server;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_issuer_speaks_githubs_token_protocol() {
    let server = Server::start();
    let base = server.info["issuer_url"].as_str().unwrap().to_owned();
    let request_token = server.info["request_token"].as_str().unwrap().to_owned();
    let url = format!(
        "{base}/github/token?api-version=2.0&repository=octo-org%2Fdemo&workflow=release.yml&audience=pypi"
    );
    let http = reqwest::Client::new();
    // `id` sends a lowercase scheme, uv a capitalised one: both work.
    for scheme in ["bearer", "Bearer"] {
        let r = http
            .get(&url)
            .header("Authorization", format!("{scheme} {request_token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let jwt = body["value"].as_str().unwrap();
        let claims = mock_pypi::oidc::jwt::Unverified::parse(jwt).unwrap().claims;
        assert_eq!(claims["aud"], "pypi");
        assert_eq!(claims["repository"], "octo-org/demo");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        assert_eq!(claims["iss"], server.info["github_issuer"]);
    }
    let r = http
        .get(&url)
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    // Discovery names the exact issuer and its key set, which holds the signing key.
    let iss = server.info["github_issuer"].as_str().unwrap();
    let discovery: Value = http
        .get(format!("{iss}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], iss);
    let jwks: Value = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_github_route_and_publisher_cli() {
    let server = Server::start();
    let out = server.cli(&[
        "publisher",
        "add",
        "github",
        "--project",
        "cli-demo",
        "--repository",
        "octo-org/cli-demo",
        "--workflow",
        "publish.yaml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["workflow_filename"], "publish.yaml");
    let token = server.github_token(&[
        "--repository",
        "octo-org/cli-demo",
        "--workflow",
        "publish.yaml",
    ]);
    let r = server
        .client()
        .post(format!("{}/_/oidc/github/mint-token", server.https()))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed: Value = serde_json::from_slice(&server.cli(&["publisher", "list"]).stdout).unwrap();
    assert_eq!(listed["publishers"].as_array().unwrap().len(), 1);
    let id = added["id"].to_string();
    assert!(server.cli(&["publisher", "remove", &id]).status.success());
    let listed: Value = serde_json::from_slice(&server.cli(&["publisher", "list"]).stdout).unwrap();
    assert!(listed["publishers"].as_array().unwrap().is_empty());
    // A bad publisher is refused with the reason.
    let out = server.cli(&[
        "publisher",
        "add",
        "github",
        "--project",
        "x",
        "--repository",
        "o/r",
        "--workflow",
        "dir/x.yml",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bare file name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_supplied_certificate_is_served() {
    // Borrow a certificate chain and key made by another instance's CA.
    let donor = Server::start();
    let tls = donor.data_dir().join("tls");
    let (cert, key) = (tls.join("server.pem"), tls.join("server-key.pem"));
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.info["ca_file"].is_null(),
        "no CA is generated when a certificate is supplied"
    );
    mock_pypi::tls::install_crypto_provider();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/_/oidc/audience", server.https()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
