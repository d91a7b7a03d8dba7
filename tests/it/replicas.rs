//! Two server processes on one PostgreSQL database and one file store: what one
//! replica mints or records, the other honours; races are decided by the database.
//! Runs in the PostgreSQL pass (`MOCK_PYPI_TEST_DATABASE_URL`, see tests/run.sh).

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of, token_for};
use crate::common::{Server, dists};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "replicas share PostgreSQL: the PostgreSQL pass of tests/run.sh runs it"]
async fn two_replicas_share_tokens_replay_records_and_races() {
    assert!(
        std::env::var_os("MOCK_PYPI_TEST_DATABASE_URL").is_some(),
        "replicas share PostgreSQL: set MOCK_PYPI_TEST_DATABASE_URL (tests/run.sh does in its PostgreSQL pass)"
    );
    let a = Server::start();
    let b = a.replica();
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
