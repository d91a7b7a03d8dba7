//! The fake issuer's protocol, the legacy mint route, the publisher CLI and
//! user-supplied certificates.

use crate::common::Server;
use mock_pypi::provider::Provider;
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
        let claims = payload(jwt);
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
    let discovery: Value = server
        .get_json(&format!("{iss}/.well-known/openid-configuration"))
        .await;
    assert_eq!(discovery["issuer"], iss);
    let jwks: Value = server
        .get_json(discovery["jwks_uri"].as_str().unwrap())
        .await;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_separate_issuer_is_trusted_through_configuration() {
    let dir = crate::common::tempdir();
    let issuer_dir = dir.path().join("issuer");
    let mut issuer = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
        .args([
            "issuer",
            "--listen",
            "127.0.0.1:0",
            "--issuer-key",
            crate::common::FIXTURE_KEY,
            "--issuer-request-token",
            "req-secret",
            "--data-dir",
        ])
        .arg(&issuer_dir)
        .env_clear()
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let info: Value = loop {
        if let Ok(v) = serde_json::from_str(
            &std::fs::read_to_string(issuer_dir.join("issuer.json")).unwrap_or_default(),
        ) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "issuer did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let (base, iss) = (
        info["issuer_url"].as_str().unwrap(),
        info["github_issuer"].as_str().unwrap(),
    );
    let config = dir.path().join("separate.toml");
    std::fs::write(
        &config,
        format!("[[trusted_issuers]]\nprovider = \"github\"\nurl = \"{iss}\"\n"),
    )
    .unwrap();

    let server = Server::start_with(&["--no-issuer", "--config", config.to_str().unwrap()]);
    assert!(server.info["github_issuer"].is_null(), "no embedded issuer");
    let (_, issuers) = server.api(reqwest::Method::GET, "/issuers", None).await;
    assert_eq!(issuers["issuers"].as_array().unwrap().len(), 1);
    assert_eq!(issuers["issuers"][0]["url"], iss);
    server
        .add_github_publisher("separate", "octo-org/separate", "release.yml", "")
        .await;
    let out = server.cli(&[
        "token",
        "github",
        "--repository",
        "octo-org/separate",
        "--issuer-url",
        base,
        "--request-token",
        "req-secret",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "{body}");
    let _ = issuer.kill();
    let _ = issuer.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn publishers_of_every_provider_through_the_cli() {
    let server = Server::start();
    let adds: [&[&str]; 4] = [
        &[
            "github",
            "--project",
            "cli-gh",
            "--repository",
            "octo-org/cli-gh",
            "--pending",
        ],
        &[
            "gitlab",
            "--project",
            "cli-gl",
            "--project-path",
            "octo-group/sub/cli-gl",
            "--environment",
            "Release",
        ],
        &[
            "google",
            "--project",
            "cli-gcp",
            "--email",
            "ci@demo.iam.example",
        ],
        &[
            "activestate",
            "--project",
            "cli-as",
            "--organization",
            "octo-org",
            "--activestate-project-name",
            "cli-as",
        ],
    ];
    for add in adds {
        let mut args = vec!["publisher", "add"];
        args.extend_from_slice(add);
        let out = server.cli(&args);
        assert!(
            out.status.success(),
            "{add:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed: Value = serde_json::from_slice(&server.cli(&["publisher", "list"]).stdout).unwrap();
    let publishers = listed["publishers"].as_array().unwrap();
    let providers: Vec<&str> = publishers
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["github", "gitlab", "google", "activestate"]);
    assert_eq!(publishers[0]["pending"], true);
    assert_eq!(publishers[1]["namespace"], "octo-group/sub");
    assert_eq!(publishers[1]["gitlab_project"], "cli-gl");
    // GitLab keeps the environment's case; the issuer defaults to the fake GitLab flavour.
    assert_eq!(publishers[1]["environment"], "Release");
    assert_eq!(
        publishers[1]["issuer_url"],
        server.info["issuers"]["gitlab"]
    );
    // Every flavour of the embedded issuer is trusted.
    let (_, issuers) = server.api(reqwest::Method::GET, "/issuers", None).await;
    assert_eq!(issuers["issuers"].as_array().unwrap().len(), 4, "{issuers}");
    // A bad one is refused with the reason.
    let out = server.cli(&[
        "publisher",
        "add",
        "google",
        "--project",
        "x",
        "--email",
        "not-an-address",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("email"));
}

fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// (provider name, the real provider's exact `iss`) for all four.
fn production_issuers() -> Vec<(&'static str, &'static str)> {
    Provider::ALL
        .map(|p| (p.as_str(), p.production_issuer()))
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_can_carry_the_production_issuer_strings() {
    let server = Server::start_with(&["--impersonate-issuers"]);
    server
        .add_github_publisher("lookalike", "octo-org/lookalike", "release.yml", "")
        .await;
    let (_, issuers) = server.api(reqwest::Method::GET, "/issuers", None).await;
    for (provider, iss) in production_issuers() {
        assert_eq!(server.info["issuers"][provider], iss);
        // The index maps the production string to the fake issuer's keys: no discovery.
        let row = issuers["issuers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["url"] == iss)
            .unwrap_or_else(|| panic!("{iss} is not trusted: {issuers}"));
        assert!(
            row["jwks_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/issuer/{provider}/.well-known/jwks")),
            "{row}"
        );
    }
    let token = server.github_token(&["--repository", "octo-org/lookalike"]);
    assert_eq!(payload(&token)["iss"], Provider::GitHub.production_issuer());
    let (status, body) = server.mint(&token).await;
    assert_eq!(status, 200, "{body}");
    let gitlab = server.cli(&["token", "gitlab", "--project", "octo-group/x"]);
    let gitlab = payload(String::from_utf8_lossy(&gitlab.stdout).trim());
    let host = Provider::GitLab
        .production_issuer()
        .trim_start_matches("https://");
    assert!(
        gitlab["ci_config_ref_uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{host}/octo-group/x//")),
        "{gitlab}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn production_issuers_can_be_trusted_by_discovery() {
    let server = Server::start_with(&["--trust-production-issuers", "--no-issuer"]);
    let (_, issuers) = server.api(reqwest::Method::GET, "/issuers", None).await;
    let rows = issuers["issuers"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{issuers}");
    for (provider, iss) in production_issuers() {
        assert!(
            rows.iter()
                .any(|r| r["url"] == iss && r["provider"] == provider && r["jwks_url"].is_null()),
            "{iss}: {issuers}"
        );
    }
}

/// `mock-pypi env` points clients at the system's roots followed by the test CA, so a
/// shell set up for the mock still reaches every other HTTPS host.
#[tokio::test(flavor = "multi_thread")]
async fn env_trusts_the_system_roots_and_the_test_ca() {
    let server = Server::start();
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/roots"]);
    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {env:?}"))
    };
    let bundle = get("SSL_CERT_FILE");
    assert_eq!(bundle, get("REQUESTS_CA_BUNDLE"));
    assert!(bundle.ends_with("tls/ca-bundle.pem"), "{bundle}");
    let text = std::fs::read_to_string(&bundle).unwrap();
    let ca = std::fs::read_to_string(server.ca_file()).unwrap();
    assert!(text.ends_with(&ca), "the test CA closes the bundle");
    // Python's ssl reads every root in it: the system's, plus one.
    let count = |cafile: &str| -> u64 {
        let out = std::process::Command::new(crate::common::venv().join("bin/python"))
            .env_clear()
            .args([
                "-c",
                "import ssl, sys; print(ssl.create_default_context(cafile=sys.argv[1]).cert_store_stats()['x509_ca'])",
                cafile,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let system = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(system).exists() {
        assert_eq!(count(&bundle), count(system) + 1);
    } else {
        assert!(count(&bundle) > 1);
    }
}
