//! Small files live in the database, large ones in a file each: downloads answer
//! alike (bytes, headers, ranges, conditional requests); an acknowledged upload
//! survives `kill -9`; a data directory of the layout before (small files under
//! files/) is migrated at start; a full disk refuses an upload with 507, stores
//! nothing, keeps serving reads and recovers when space returns.

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::common::uploads::{Upload, assert_store_clean, basic, token_for};
use crate::common::{Server, dists, tempdir};

/// 600 KiB of payload: over the 512 KiB limit, so the wheel is a large file.
const LARGE: usize = 600 * 1024;

async fn files(server: &Server, project: &str) -> Vec<Value> {
    let page = server
        .get_json(&format!("{}/simple/{project}/", server.http()))
        .await;
    page["files"].as_array().cloned().unwrap_or_default()
}

/// The URL the listing gives the file built at `path`.
fn url_of<'a>(listed: &'a [Value], path: &Path) -> &'a str {
    let name = path.file_name().unwrap().to_str().unwrap();
    listed
        .iter()
        .find(|f| f["filename"] == name)
        .and_then(|f| f["url"].as_str())
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

async fn download(server: &Server, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client().get(format!("{}{url}", server.http()));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn storage(server: &Server) -> Value {
    let (status, body) = server.api(Method::GET, "/storage", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn small_and_large_files_download_alike() {
    let server = Server::spawn().await;
    let token = token_for(&server, "sizes").await;
    let home = tempdir();
    let small = dists::build(&home.path().join("small"), "sizes", "1.0");
    let large = dists::build_sized(&home.path().join("large"), "sizes", "2.0", LARGE);
    for (path, version) in [
        (&small.wheel, "1.0"),
        (&small.sdist, "1.0"),
        (&large.wheel, "2.0"),
    ] {
        let (status, reason, _) =
            Upload::of(path, "sizes", version).send_raw(&server, Some(&basic(&token)));
        assert_eq!(status, 200, "{reason}");
    }
    assert_store_clean(&server, 3).await;
    let totals = storage(&server).await;
    assert_eq!(totals["small_files"]["count"], 2, "{totals}");
    assert_eq!(totals["large_files"]["count"], 1, "{totals}");

    let listed = files(&server, "sizes").await;
    assert_eq!(listed.len(), 3);
    let mut header_names: Vec<Vec<String>> = Vec::new();
    for path in [&small.sdist, &small.wheel, &large.wheel] {
        let url = url_of(&listed, path);
        let expected = std::fs::read(path).unwrap();
        let whole = download(&server, url, &[]).await;
        assert_eq!(whole.status(), 200);
        let size = expected.len().to_string();
        assert_eq!(header(&whole, "content-length"), size);
        assert_eq!(header(&whole, "accept-ranges"), "bytes");
        assert_eq!(header(&whole, "content-type"), "application/octet-stream");
        let (etag, modified) = (header(&whole, "etag"), header(&whole, "last-modified"));
        assert!(
            !etag.is_empty() && !modified.is_empty(),
            "{:?}",
            whole.headers()
        );
        let mut names: Vec<String> = whole.headers().keys().map(|k| k.to_string()).collect();
        names.sort();
        header_names.push(names);
        assert_eq!(whole.bytes().await.unwrap().as_ref(), expected.as_slice());

        let n = expected.len();
        for (range, status, content_range, body) in [
            ("bytes=0-9", 206, format!("bytes 0-9/{n}"), &expected[..10]),
            (
                "bytes=-5",
                206,
                format!("bytes {}-{}/{n}", n - 5, n - 1),
                &expected[n - 5..],
            ),
            (
                "bytes=3-",
                206,
                format!("bytes 3-{}/{n}", n - 1),
                &expected[3..],
            ),
            (&format!("bytes={n}-"), 416, format!("bytes */{n}"), &[][..]),
            ("bytes=0-1,5-6", 416, format!("bytes */{n}"), &[][..]),
        ] {
            let r = download(&server, url, &[("range", range)]).await;
            assert_eq!(r.status().as_u16(), status, "{url} {range}");
            assert_eq!(header(&r, "content-range"), content_range, "{url} {range}");
            if status == 206 {
                assert_eq!(r.bytes().await.unwrap().as_ref(), body, "{url} {range}");
            }
        }
        for (name, value, status) in [
            ("if-none-match", etag.as_str(), 304),
            ("if-none-match", "\"something-else\"", 200),
            ("if-modified-since", modified.as_str(), 304),
            ("if-match", "\"something-else\"", 412),
            ("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT", 412),
        ] {
            let r = download(&server, url, &[(name, value)]).await;
            assert_eq!(r.status().as_u16(), status, "{url} {name}: {value}");
        }
        let head = server
            .client()
            .head(format!("{}{url}", server.http()))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(header(&head, "content-length"), size);
        assert!(head.bytes().await.unwrap().is_empty());
    }
    // The same header names whether the bytes came from the database or a file.
    assert_eq!(header_names[0], header_names[2]);
    assert_eq!(header_names[1], header_names[2]);
}

/// `kill -9` right after the 200: the file is there after a restart, byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_small_upload_survives_kill_9() {
    let server = Server::start();
    let token = token_for(&server, "durable").await;
    let home = tempdir();
    let d = dists::build(home.path(), "durable", "1.0");
    let (status, reason, _) =
        Upload::of(&d.wheel, "durable", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    kill_9(&server);
    let restarted = server.replica();
    let listed = files(&restarted, "durable").await;
    assert_eq!(listed.len(), 1);
    let got = download(&restarted, listed[0]["url"].as_str().unwrap(), &[]).await;
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        std::fs::read(&d.wheel).unwrap().as_slice()
    );
    assert_store_clean(&restarted, 1).await;
}

fn kill_9(server: &Server) {
    let pid = server.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // Gone once its port no longer answers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server outlived kill -9"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// SQL against a server's database, whichever backend the suite runs on: SQLite
/// through Python's sqlite3 module, PostgreSQL through sqlx. Returns the first
/// column of each row, as text.
async fn sql(data_dir: &Path, statement: &str) -> Vec<String> {
    if let Some(url) = crate::common::pg::postgres_database(data_dir) {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        return rows
            .iter()
            .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
            .collect();
    }
    let db = data_dir.join("mock-pypi.sqlite3");
    crate::common::stdout_of(
        std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nfor row in c.execute(sys.argv[2]):\n    print(row[0])\nc.commit()",
            ])
            .arg(&db)
            .arg(statement)
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// A data directory as mock-pypi wrote it before small files moved into the database
/// (every file under files/, no small_blobs rows): the next start moves each small file
/// whose bytes match its name into the database and removes it from disk; a file whose
/// bytes do not match stays where it is and is never served from the database.
#[tokio::test(flavor = "multi_thread")]
async fn an_older_data_directory_is_migrated_at_start() {
    let server = Server::start();
    let token = token_for(&server, "older").await;
    let home = tempdir();
    let d = dists::build(home.path(), "older", "1.0");
    for path in [&d.wheel, &d.sdist] {
        let (status, reason, _) =
            Upload::of(path, "older", "1.0").send_raw(&server, Some(&basic(&token)));
        assert_eq!(status, 200, "{reason}");
    }
    let listed = files(&server, "older").await;
    kill_9(&server);
    // Back to the old layout: each file under files/, no rows.
    let data = server.data_dir();
    for path in [&d.sdist, &d.wheel] {
        let url = url_of(&listed, path);
        let blob = old_blob_path(&data, url);
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(&blob, std::fs::read(path).unwrap()).unwrap();
    }
    sql(&data, "DELETE FROM small_blobs").await;
    // And one stray file whose bytes are not what its name says.
    let stray = data.join("files/00/00").join("0".repeat(60));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"not the bytes this digest names").unwrap();

    let restarted = server.replica();
    for path in [&d.sdist, &d.wheel] {
        let url = url_of(&listed, path);
        assert!(!old_blob_path(&data, url).exists(), "{url} still on disk");
        let got = download(&restarted, url, &[]).await;
        assert_eq!(got.status(), 200);
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            std::fs::read(path).unwrap().as_slice()
        );
    }
    assert!(
        stray.exists(),
        "a file that does not match its digest is left in place"
    );
    let totals = storage(&restarted).await;
    assert_eq!(totals["small_files"]["count"], 2, "{totals}");
    assert_eq!(totals["large_files"]["count"], 1, "{totals}");
    let rows = sql(
        &data,
        &format!(
            "SELECT blake2_256 FROM small_blobs WHERE blake2_256 = '{}'",
            "0".repeat(64)
        ),
    )
    .await;
    assert!(rows.is_empty(), "{rows:?}");
}

fn old_blob_path(data: &Path, url: &str) -> std::path::PathBuf {
    let parts: Vec<&str> = url.trim_start_matches("/files/").split('/').collect();
    data.join("files")
        .join(parts[0])
        .join(parts[1])
        .join(parts[2])
}

/// A full disk (a small tmpfs as the data directory): 507 naming the cause, nothing
/// stored, reads still served; once space returns, the same uploads succeed. On SQLite
/// the database is on that disk too, so small files are refused as well once its log has
/// no room left; on PostgreSQL the database has its own disk.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "mounts a tmpfs, which needs root: tests/run.sh runs it when it runs as root (CI does)"]
async fn a_full_disk_refuses_with_507_and_recovers() {
    let mount = tempdir();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "tmpfs"])
        .arg(mount.path())
        .status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "mounting a tmpfs failed: this test needs root (tests/run.sh runs it only as root)"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0)
                .status();
        }
    }
    let _unmount = Unmount(mount.path());
    let data = mount.path().join("data");
    let server = Server::start_on(&data, &[]);
    let sqlite = crate::common::pg::postgres_database(&data).is_none();
    let token = token_for(&server, "full").await;
    let home = tempdir();
    let first = dists::build(&home.path().join("first"), "full", "1.0");
    let large = dists::build_sized(&home.path().join("large"), "full", "3.0", LARGE);
    let (status, reason, _) =
        Upload::of(&first.wheel, "full", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let mut stored = files(&server, "full").await;

    // Fill the disk to the last 64 KiB.
    let filler = mount.path().join("filler");
    fill(&filler, 64 * 1024);
    let refused = |status: u16, reason: &str, body: &str| {
        assert_eq!(status, 507, "{reason} {body}");
        assert!(
            reason.contains("disk is full") && body.contains("nothing was stored"),
            "{reason} {body}"
        );
    };
    // A large file needs new space at once.
    let (status, reason, body) =
        Upload::of(&large.wheel, "full", "3.0").send_raw(&server, Some(&basic(&token)));
    refused(status, &reason, &body);
    // On SQLite a small file goes into the write-ahead log, which may still hold pages
    // the disk gave it before: small files are taken (whole) while those last, then
    // refused. 20 of 480 KiB are more than the 12 MiB disk can ever hold.
    let mut small_refused = None;
    if sqlite {
        for i in 0..20 {
            let version = format!("2.{i}");
            let d = dists::build_sized(&home.path().join(&version), "full", &version, 480 * 1024);
            let (status, reason, body) =
                Upload::of(&d.wheel, "full", &version).send_raw(&server, Some(&basic(&token)));
            if status == 200 {
                let listed = files(&server, "full").await;
                let got = download(&server, url_of(&listed, &d.wheel), &[]).await;
                assert_eq!(
                    got.bytes().await.unwrap().as_ref(),
                    std::fs::read(&d.wheel).unwrap().as_slice(),
                    "a small file taken on a full disk is whole"
                );
                stored = listed;
                continue;
            }
            refused(status, &reason, &body);
            small_refused = Some((d, version));
            break;
        }
        assert!(
            small_refused.is_some(),
            "no small file was refused on a full disk"
        );
    }
    // Nothing half-stored, and reads are served.
    assert_eq!(files(&server, "full").await, stored);
    let got = download(&server, url_of(&stored, &first.wheel), &[]).await;
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        std::fs::read(&first.wheel).unwrap().as_slice()
    );
    assert_eq!(std::fs::read_dir(data.join("tmp")).unwrap().count(), 0);
    assert!(
        server.log().contains("no space left") || server.log().contains("full"),
        "the log names the cause"
    );

    // Space returns: the refused uploads go through.
    std::fs::remove_file(&filler).unwrap();
    let mut again = vec![(large.wheel.clone(), "3.0".to_owned())];
    if let Some((d, version)) = &small_refused {
        again.push((d.wheel.clone(), version.clone()));
    }
    for (path, version) in &again {
        let (status, reason, _) =
            Upload::of(path, "full", version).send_raw(&server, Some(&basic(&token)));
        assert_eq!(status, 200, "{reason}");
    }
    let total = stored.len() + again.len();
    assert_eq!(files(&server, "full").await.len(), total);
    assert_store_clean(&server, total).await;
}

/// Write zeros until the disk is full, then give back `leave` bytes.
fn fill(path: &Path, leave: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = f.flush();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
}
