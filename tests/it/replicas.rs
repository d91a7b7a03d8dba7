//! Two server processes on one PostgreSQL database and one file store: what one
//! replica mints or records, the other honours; races are decided by the database.
//! Runs in the PostgreSQL pass (`MOCK_PYPI_TEST_DATABASE_URL`, see tests/run.sh).

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of, token_for};
use crate::common::{Server, dists};
use sha2::{Digest, Sha256};

/// Two processes on one PostgreSQL database and data directory.
fn two_replicas() -> (Server, Server) {
    assert!(
        std::env::var_os("MOCK_PYPI_TEST_DATABASE_URL").is_some(),
        "replicas share PostgreSQL: set MOCK_PYPI_TEST_DATABASE_URL (tests/run.sh does in its PostgreSQL pass)"
    );
    let a = Server::start();
    let b = a.replica();
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replicas share PostgreSQL: the PostgreSQL pass of tests/run.sh runs it"]
async fn two_replicas_share_tokens_replay_records_and_races() {
    let (a, b) = two_replicas();
    assert_ne!(a.port, b.port);

    // A token minted on A uploads on B.
    let token = token_for(&a, "shared").await;
    let home = crate::common::tempdir();
    let d = dists::build(&home.path().join("d"), "shared", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "shared", "1.0").send_raw(&b, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}\n{}", b.log());
    assert_eq!(files_of(&a, "shared").await.len(), 1, "A sees B's upload");

    // A's cached simple page follows a write made on B (LISTEN/NOTIFY between replicas).
    let page_url = format!("{}/simple/shared/", a.http());
    assert_eq!(
        a.get_json(&page_url).await["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let d2 = dists::build(&home.path().join("d2"), "shared", "1.1");
    let (status, reason, _) =
        Upload::of(&d2.wheel, "shared", "1.1").send_raw(&b, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let files = a.get_json(&page_url).await["files"]
            .as_array()
            .unwrap()
            .len();
        if files == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A still serves the page from before B's upload"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A jti exchanged on A is refused on B.
    let oidc = a.github_token(&["--repository", "octo-org/shared"]);
    let (status, body) = a.mint(&oidc).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = b.mint(&oidc).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "invalid-reuse-token", "{body}");

    // 50 different contents under one filename, spread over both replicas at once.
    let base = std::fs::read(&d.sdist).unwrap();
    let uploads: Vec<Upload> = (0..50u8)
        .map(|i| {
            let mut content = base.clone();
            content.extend_from_slice(&[i; 5]);
            let digest = hex::encode(Sha256::digest(&content));
            Upload {
                content,
                ..Upload::of(&d.sdist, "shared", "1.0")
            }
            .set("sha256_digest", &digest)
        })
        .collect();
    let auth = basic(&token);
    let results: Vec<(u16, String, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = uploads
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let (server, auth) = (if i % 2 == 0 { &a } else { &b }, &auth);
                scope.spawn(move || {
                    let (s, r, _) = u.send_raw(server, Some(auth));
                    (s, r, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _, _)| *s != 200)
            .all(|(s, r, _)| *s == 400 && r.starts_with("File already exists")),
        "{results:?}"
    );
    // The row agrees with the bytes the winner sent, and only its blob is stored.
    let winner = &uploads[winners[0].2];
    let files = files_of(&b, "shared").await;
    let sdist = files
        .iter()
        .find(|f| f["filename"] == "shared-1.0.tar.gz")
        .expect("the sdist row");
    assert_eq!(
        sdist["sha256_digest"],
        hex::encode(Sha256::digest(&winner.content))
    );
    let page_url = format!("{}/simple/shared/", a.http());
    let page = a.get_json(&page_url).await;
    let href = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "shared-1.0.tar.gz")
        .and_then(|f| f["url"].as_str())
        .expect("the sdist on the simple page");
    let url = url::Url::parse(&page_url)
        .unwrap()
        .join(href)
        .unwrap()
        .to_string();
    assert!(
        url.contains(sdist["path"].as_str().unwrap()),
        "{url} {sdist}"
    );
    let served = a
        .client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), winner.content.as_slice(), "{url}");
    assert_store_clean(&a, 3).await;
}

/// The failure kit across replicas: a fault armed on one fires as its definition says
/// across both ("the next 2" twice in all, "every 3rd" on every third request whichever
/// replica takes it, also when the requests race), both list the same counters and
/// fired-fault records, and disarming on one disarms it everywhere.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "replicas share PostgreSQL: the PostgreSQL pass of tests/run.sh runs it"]
async fn two_replicas_share_armed_faults_and_their_counters() {
    use reqwest::Method;
    use serde_json::json;
    let (a, b) = two_replicas();
    let status_of = |server: &Server, project: &str| {
        let url = format!("{}/simple/{project}/", server.http());
        let client = server.client();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    // "The next 2", armed on A, requests alternating between the replicas.
    let (code, armed) = a
        .api(
            Method::POST,
            "/faults",
            Some(json!({"route": "simple-project", "match": {"project": "next-two"}, "when": {"next": 2}, "status": 503})),
        )
        .await;
    assert_eq!(code, 201, "{armed}");
    let id = armed["id"].as_u64().unwrap();
    // B's dashboard shows it, armed and in words.
    let page = b
        .get_text(&format!("{}/_mock/dashboard/faults", b.http()))
        .await;
    assert!(page.contains("the next 2 matching requests"), "{page}");
    // Its first two requests reach B, which fires them; then none fires, on either.
    let mut statuses = Vec::new();
    for server in [&b, &b, &a, &b, &a, &b, &a, &a] {
        statuses.push(status_of(server, "next-two").await);
    }
    assert_eq!(&statuses[..2], [503, 503], "B fires a fault armed on A");
    assert!(
        !statuses[2..].contains(&503),
        "next 2 fires twice across both: {statuses:?}"
    );
    // Both list it with the same counters.
    for server in [&a, &b] {
        let (_, list) = server.api(Method::GET, "/faults", None).await;
        let f = list["faults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap();
        assert_eq!(
            (f["seen"].as_u64(), f["fired"].as_u64()),
            (Some(8), Some(2)),
            "{f}"
        );
    }
    // The firings are recorded once each, whichever replica is asked.
    for server in [&a, &b] {
        let (_, events) = server.api(Method::GET, "/faults/events", None).await;
        let n = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["fault_id"] == id)
            .count();
        assert_eq!(n, 2, "{events}");
    }

    // "Every 3rd", armed on B, 30 requests racing over both: exactly 10 fire.
    let (code, armed) = b
        .api(
            Method::POST,
            "/faults",
            Some(json!({"route": "simple-project", "match": {"project": "every-third"}, "when": {"every": 3}, "status": 503})),
        )
        .await;
    assert_eq!(code, 201, "{armed}");
    let every = armed["id"].as_u64().unwrap();
    let mut racing = Vec::new();
    for i in 0..30 {
        let server = if i % 2 == 0 { &a } else { &b };
        racing.push(status_of(server, "every-third"));
    }
    let statuses = futures_util::future::join_all(racing).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        10,
        "{statuses:?}"
    );

    // Disarmed on A: B no longer fires it.
    let (code, _) = a
        .api(Method::DELETE, &format!("/faults/{every}"), None)
        .await;
    assert_eq!(code, 200);
    for _ in 0..3 {
        assert_ne!(status_of(&b, "every-third").await, 503);
    }
}
