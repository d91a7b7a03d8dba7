//! Processes that share one data directory (replicas, on either backend): they start
//! together on a fresh one and agree on its CA; they serve one fake issuer (a key
//! rotated or a key set broken on one is so on all) and one fake Rekor log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Server, dists, free_port, tempdir};
use serde_json::{Value, json};

/// Three processes started at the same instant on an empty data directory: each
/// serves HTTPS with a certificate the one `ca.pem` left there verifies.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_started_at_once_on_a_fresh_directory_share_one_ca() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    /// Stopped however the test ends (a failed assertion included).
    struct Children(Vec<std::process::Child>);
    impl Drop for Children {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let children = Children(
        ports
            .iter()
            .map(|port| {
                let mut cmd = std::process::Command::new(crate::common::binary());
                cmd.env_clear()
                    .args([
                        "serve",
                        "--issuer-key",
                        crate::common::FIXTURE_KEY,
                        "--data-dir",
                    ])
                    .arg(&data)
                    .args(["--listen", &format!("127.0.0.1:{port}")])
                    .envs(
                        crate::common::postgres_database(&data)
                            .map(|u| ("MOCK_PYPI_DATABASE_URL", u)),
                    )
                    .env("PATH", "/usr/bin:/bin")
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(dir.path().join(format!("{port}.log"))).unwrap());
                cmd.spawn().expect("mock-pypi serve")
            })
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = Vec::new();
    for port in &ports {
        loop {
            assert!(
                Instant::now() < deadline,
                "port {port} never served: {}",
                std::fs::read_to_string(dir.path().join(format!("{port}.log"))).unwrap_or_default()
            );
            let Ok(pem) = std::fs::read(data.join("tls/ca.pem")) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            mock_pypi::tls::install_crypto_provider();
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .tls_certs_only([])
                .build()
                .unwrap();
            let url = format!("https://127.0.0.1:{port}/_mock/health");
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    answered.push(*port);
                    break;
                }
                Ok(r) => panic!("{url}: {}", r.status()),
                Err(e) if e.is_connect() => {
                    // Not listening yet, or a certificate the CA does not verify: tell
                    // them apart by whether plain HTTP answers.
                    let plain = format!("http://127.0.0.1:{port}/_mock/health");
                    if reqwest::get(&plain).await.is_ok() {
                        panic!("{url}: serves a certificate that ca.pem does not verify: {e:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{url}: {e:?}"),
            }
        }
    }
    drop(children);
    assert_eq!(answered, ports);
}

async fn control(server: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    let issuer = server.info["issuer_url"].as_str().unwrap();
    let client = server.client();
    let request = match &body {
        Some(b) => client.post(format!("{issuer}/_control{path}")).json(b),
        None => client.get(format!("{issuer}/_control{path}")),
    };
    let response = request
        .bearer_auth(server.info["request_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn jwks(server: &Server) -> (u16, Value) {
    let issuer = server.info["issuer_url"].as_str().unwrap();
    let response = server
        .client()
        .get(format!("{issuer}/github/.well-known/jwks"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn signing_kid(state: &Value) -> String {
    state["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["signing"] == true)
        .and_then(|k| k["kid"].as_str())
        .unwrap()
        .to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_serve_one_issuer_key_ring_and_jwks_mode() {
    let a = Server::start();
    let b = a.replica();
    a.add_github_publisher("shared-issuer", "octo-org/shared-issuer", "release.yml", "")
        .await;

    // Rotated on A: B signs with the new key and publishes both; A accepts B's token.
    let (_, before) = control(&b, "", None).await;
    let old = signing_kid(&before);
    let (code, rotated) = control(&a, "/rotate", Some(json!({"overlap_seconds": 300}))).await;
    assert_eq!(code, 200, "{rotated}");
    let new = signing_kid(&rotated);
    assert_ne!(new, old);
    let (_, state) = control(&b, "", None).await;
    assert_eq!(
        signing_kid(&state),
        new,
        "B signs with the key A rotated in: {state}"
    );
    let (code, set) = jwks(&b).await;
    assert_eq!(code, 200);
    assert_eq!(kids(&set), vec![new.clone(), old.clone()], "{set}");
    let token = b.github_token(&["--repository", "octo-org/shared-issuer"]);
    assert_eq!(kid_of(&token), new);
    let (code, body) = a.mint(&token).await;
    assert_eq!(
        code, 200,
        "A exchanges a token B signed with the rotated key: {body}"
    );

    // The key set broken on A fails on B; healed on B, A serves it again.
    let (code, _) = control(&a, "/jwks", Some(json!({"mode": "fail"}))).await;
    assert_eq!(code, 200);
    assert_eq!(jwks(&b).await.0, 500, "B's key set fails as armed on A");
    let (code, _) = control(&b, "/jwks", Some(json!({"mode": "normal"}))).await;
    assert_eq!(code, 200);
    let (code, set) = jwks(&a).await;
    assert_eq!((code, kids(&set).len()), (200, 2), "{set}");

    // A key set hanging on A hangs on B until a heal on A, which B sees within a poll.
    let (code, _) = control(&a, "/jwks", Some(json!({"mode": "hang"}))).await;
    assert_eq!(code, 200);
    let hanging = {
        let client = b.client();
        let url = format!(
            "{}/github/.well-known/jwks",
            b.info["issuer_url"].as_str().unwrap()
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let status = client.get(url).send().await.unwrap().status().as_u16();
            (status, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!hanging.is_finished(), "B's key set hangs as armed on A");
    let healed_at = Instant::now();
    let (code, _) = control(&a, "/jwks", Some(json!({"mode": "normal"}))).await;
    assert_eq!(code, 200);
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("B let go of the hanging request after A healed")
        .unwrap();
    assert_eq!(status, 500, "a hung request ends as a failure");
    assert!(healed_at.elapsed() < Duration::from_secs(2));
    assert_eq!(jwks(&b).await.0, 200);

    // A server restarted on the directory keeps the ring.
    drop(b);
    let c = a.replica();
    let (_, state) = control(&c, "", None).await;
    assert_eq!(signing_kid(&state), new);
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_append_to_one_rekor_log() {
    let a = Server::start();
    let b = a.replica();
    let home = tempdir();
    // A job's environment on each replica's issuer (each signs with its own URL's `iss`).
    let job = |s: &Server| {
        s.env_vars(&[
            "env",
            "github",
            "--repository",
            "octo-org/shared-log",
            "--workflow",
            "release.yml",
            "--issuer-url",
            s.info["issuer_url"].as_str().unwrap(),
        ])
    };
    let sigstore = |s: &Server| {
        format!(
            "{}/sigstore",
            s.info["issuer_url"].as_str().unwrap().trim_end_matches('/')
        )
    };
    // Two files attested through A's log, one through B's, alternating.
    let mut logged = Vec::new();
    for (i, server) in [&a, &b, &a].into_iter().enumerate() {
        let d = dists::build(&home.path().join(format!("d{i}")), "shared-log", "1.0");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(job(server).iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["attest", "--data-dir"])
            .arg(a.data_dir())
            .args(["--predicate-type", crate::attestations::publish_predicate()])
            .args(["--sigstore-url", &sigstore(server)])
            .arg(&d.wheel)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let name = d.wheel.file_name().unwrap().to_str().unwrap().to_owned();
        let attestation: Value = serde_json::from_slice(
            &std::fs::read(
                d.wheel
                    .with_file_name(format!("{name}.publish.attestation")),
            )
            .unwrap(),
        )
        .unwrap();
        let entry = &attestation["verification_material"]["transparency_entries"][0];
        logged.push(entry["logIndex"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        logged,
        ["0", "1", "2"],
        "one numbering across both replicas"
    );
    // Both report the same tree, and serve each other's entries.
    let mut heads = Vec::new();
    for server in [&a, &b] {
        let url = format!("{}/rekor/api/v1/log", sigstore(server));
        let head = server.get_json(&url).await;
        heads.push((head["treeSize"].clone(), head["rootHash"].clone()));
        for index in 0..3 {
            let url = format!(
                "{}/rekor/api/v1/log/entries?logIndex={index}",
                sigstore(server)
            );
            let entry = server.get_json(&url).await;
            let (_, e) = entry.as_object().unwrap().iter().next().unwrap();
            assert_eq!(e["logIndex"], index, "{entry}");
        }
    }
    assert_eq!(heads[0], heads[1]);
    assert_eq!(heads[0].0, 3);
}
