//! The legacy upload endpoint: what it accepts, what it refuses (with the message in
//! the reason phrase and the body), and that a refusal stores nothing.

use std::io::Write;
use std::path::Path;

use crate::common::uploads::{Upload, assert_store_clean, basic, files_of, token_for};
use crate::common::{Server, dists};
use md5::Md5;

use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_follow_pypi() {
    let server = Server::spawn().await;
    let token = token_for(&server, "dup").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "dup", "1.0");
    let upload = Upload::of(&d.wheel, "dup", "1.0");
    assert_eq!(upload.send_raw(&server, Some(&basic(&token))).0, 200);
    // The same file again: 200 and nothing changes.
    assert_eq!(upload.send_raw(&server, Some(&basic(&token))).0, 200);
    assert_eq!(files_of(&server, "dup").await.len(), 1);
    // Same name, other bytes: 400 with "File already exists" in reason and body.
    let content = changed_content(&d.wheel);
    let digest = hex::encode(Sha256::digest(&content));
    let changed = Upload {
        content,
        ..Upload::of(&d.wheel, "dup", "1.0")
    }
    .set("sha256_digest", &digest);
    let (status, reason, body) = changed.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 400);
    assert!(
        reason.starts_with("File already exists ('dup-1.0-py3-none-any.whl', with blake2_256 hash"),
        "{reason}"
    );
    assert!(body.contains("File already exists"), "{body}");
    assert_eq!(files_of(&server, "dup").await.len(), 1);
    assert_store_clean(&server, 1).await;
}

fn changed_content(path: &Path) -> Vec<u8> {
    let mut c = std::fs::read(path).unwrap();
    c.extend_from_slice(b"trailing bytes");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_store_nothing() {
    let server = Server::spawn_with(&["--max-upload-size", "2KiB"]).await;
    let token = token_for(&server, "strict").await;
    let auth = basic(&token);
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "strict", "1.0");
    let wheel = || Upload::of(&d.wheel, "strict", "1.0");
    let sdist = || Upload::of(&d.sdist, "strict", "1.0");
    let cases: Vec<(Upload, u16, &str)> = vec![
        (
            wheel().set("sha256_digest", &"0".repeat(64)),
            400,
            "The digest supplied does not match",
        ),
        (
            wheel().set("md5_digest", &hex::encode(Md5::digest(b"x"))),
            400,
            "The digest supplied does not match",
        ),
        (wheel().set("version", "1.0+local"), 400, "local versions"),
        (
            wheel().set("version", "not a version"),
            400,
            "invalid value for Version",
        ),
        (wheel().set("name", "-bad-"), 400, "invalid value for Name"),
        (
            wheel().set("filetype", "bdist_egg"),
            400,
            "Invalid value for filetype",
        ),
        (
            wheel().set("metadata_version", "9.9"),
            400,
            "invalid value for Metadata-Version",
        ),
        (
            wheel().set("protocol_version", "2"),
            400,
            "Unknown protocol version",
        ),
        (wheel().set(":action", "submit"), 410, "pre-registration"),
        (
            wheel().set("version", "2.0"),
            400,
            "Version in filename should be '2.0' not '1.0'",
        ),
        (
            sdist()
                .set("filetype", "bdist_wheel")
                .set("pyversion", "py3"),
            400,
            "Invalid file extension",
        ),
        (
            Upload {
                filename: "strict-1.0-py3-none-linux_x86_64.whl".into(),
                ..wheel()
            },
            400,
            "unsupported platform tag 'linux_x86_64'",
        ),
        (
            Upload {
                filename: "Strict-1.0-py3-none-any.whl".into(),
                ..wheel()
            },
            400,
            "should contain the normalized project name 'strict'",
        ),
        (
            Upload {
                filename: "strict-1.0.zip".into(),
                ..sdist()
            },
            400,
            "should be 'strict-1.0.tar.gz'",
        ),
        (
            Upload {
                content: b"not a zip".to_vec(),
                ..wheel()
            }
            .set("sha256_digest", &hex::encode(Sha256::digest(b"not a zip"))),
            400,
            "Invalid distribution file",
        ),
        (
            Upload {
                content: vec![0u8; 4096],
                ..wheel()
            }
            .set("sha256_digest", &hex::encode(Sha256::digest([0u8; 4096]))),
            400,
            "File too large. Limit for project 'strict'",
        ),
    ];
    for (upload, status, needle) in cases {
        let (got, reason, body) = upload.send_raw(&server, Some(&auth));
        assert_eq!(got, status, "{needle}: {reason} / {body}");
        assert!(
            reason.contains(needle) && body.contains(needle),
            "{needle}: reason {reason:?} body {body:?}"
        );
    }
    // Metadata-less wheel.
    let broken = home.path().join("strict-1.0-py3-none-any.whl");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&broken).unwrap());
        zip.start_file(
            "strict/__init__.py",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.finish().unwrap();
    }
    let (status, reason, _) = Upload::of(&broken, "strict", "1.0").send_raw(&server, Some(&auth));
    assert_eq!(status, 400);
    assert!(
        reason.contains("does not contain the required WHEEL file"),
        "{reason}"
    );
    assert!(files_of(&server, "strict").await.is_empty());
    assert_store_clean(&server, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_is_required_and_checked() {
    let server = Server::spawn_with(&["--token-lifetime", "2"]).await;
    let token = token_for(&server, "auth").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "auth", "1.0");
    let upload = Upload::of(&d.wheel, "auth", "1.0");
    let (status, reason, _) = upload.send_raw(&server, None);
    assert_eq!(
        (status, reason.as_str()),
        (
            403,
            "Invalid or non-existent authentication information. See the mock-pypi README (Troubleshooting) for more information."
        )
    );
    use base64::Engine;
    let password = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:secret")
    );
    let (status, reason, _) = upload.send_raw(&server, Some(&password));
    assert_eq!(status, 403);
    assert!(
        reason.starts_with("Username/Password authentication is no longer supported"),
        "{reason}"
    );
    let (status, _, _) = upload.send_raw(&server, Some(&basic("pypi-forged")));
    assert_eq!(status, 403);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (status, reason, _) = upload.send_raw(&server, Some(&basic(&token)));
    assert_eq!(
        (status, reason.as_str()),
        (403, "Invalid API Token: token is expired")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burned_token_is_refused_and_an_sdist_cannot_be_replaced() {
    let server = Server::spawn().await;
    let token = token_for(&server, "burn").await;
    let home = crate::common::tempdir();
    let d = dists::build(home.path(), "burn", "1.0");
    assert_eq!(
        Upload::of(&d.sdist, "burn", "1.0")
            .send_raw(&server, Some(&basic(&token)))
            .0,
        200
    );
    // A second, different sdist for the same release.
    let content = changed_content(&d.sdist);
    let digest = hex::encode(Sha256::digest(&content));
    let second = Upload {
        content,
        ..Upload::of(&d.sdist, "burn", "1.0")
    }
    .set("sha256_digest", &digest);
    let (status, reason, _) = second.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 400);
    assert!(reason.contains("File already exists"), "{reason}");

    let burn = server
        .client()
        .post(format!("{}/_/oidc/burn-token", server.https()))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(burn.status(), 202);
    let (status, reason, _) =
        Upload::of(&d.wheel, "burn", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 403);
    // PyPI deletes a burned token: it is refused as one it never knew.
    assert!(
        reason.starts_with("Invalid or non-existent authentication information."),
        "{reason}"
    );
    assert_store_clean(&server, 1).await;
}

/// A wheel larger than one staging batch, so it streams through the worker threads.
fn large_wheel(dir: &Path) -> std::path::PathBuf {
    let small = dists::build(&dir.join("small"), "large", "1.0");
    let path = dir.join("large-1.0-py3-none-any.whl");
    let mut src = zip::ZipArchive::new(std::fs::File::open(&small.wheel).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..src.len() {
        out.raw_copy_file(src.by_index_raw(i).unwrap()).unwrap();
    }
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    out.start_file("large/blob.bin", stored).unwrap();
    let mut x: u32 = 2463534242;
    let blob: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    out.write_all(&blob).unwrap();
    out.finish().unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn large_files_stream_through_and_refusals_leave_nothing() {
    let server = Server::spawn().await;
    let token = token_for(&server, "large").await;
    let home = crate::common::tempdir();
    let wheel = large_wheel(home.path());
    let bytes = std::fs::read(&wheel).unwrap();
    assert!(bytes.len() > 3 << 20);
    // A wrong digest on a multi-batch file: refused, nothing kept.
    let bad = Upload::of(&wheel, "large", "1.0").set("sha256_digest", &"1".repeat(64));
    let (status, reason, _) = bad.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 400, "{reason}");
    assert_store_clean(&server, 0).await;
    // The real upload, then the download is byte for byte what was sent.
    let (status, reason, _) =
        Upload::of(&wheel, "large", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let file = &files_of(&server, "large").await[0];
    assert_eq!(
        file["sha256_digest"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes))
    );
    // All three digests, as the JSON API shows them, against independent hashes.
    let json = server
        .get_json(&format!("{}/pypi/large/json", server.http()))
        .await;
    let digests = &json["urls"][0]["digests"];
    assert_eq!(digests["md5"], hex::encode(Md5::digest(&bytes)));
    assert_eq!(digests["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(
        digests["blake2b_256"],
        hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(
            &bytes
        ))
    );
    let url = format!("{}/files/{}", server.http(), file["path"].as_str().unwrap());
    let downloaded = server
        .client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded.len(), bytes.len());
    assert!(downloaded.as_ref() == bytes.as_slice());
    assert_store_clean(&server, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_uploads_are_decided_one_by_one() {
    let server = Server::spawn().await;
    let token = token_for(&server, "race").await;
    let home = crate::common::tempdir();
    let d = dists::build(&home.path().join("a"), "race", "1.0");
    let base = std::fs::read(&d.wheel).unwrap();
    // 12 different contents under one filename, 12 distinct releases, and the same
    // identical file 4 times: all at once.
    let mut uploads: Vec<Upload> = Vec::new();
    for i in 0..12u8 {
        let mut content = base.clone();
        content.extend_from_slice(&[i; 7]);
        let digest = hex::encode(Sha256::digest(&content));
        uploads.push(
            Upload {
                content,
                ..Upload::of(&d.wheel, "race", "1.0")
            }
            .set("sha256_digest", &digest),
        );
    }
    for i in 0..12 {
        let version = format!("2.{i}");
        let other = dists::build(&home.path().join(&version), "race", &version);
        uploads.push(Upload::of(&other.wheel, "race", &version));
    }
    let same = dists::build(&home.path().join("3.0"), "race", "3.0");
    for _ in 0..4 {
        uploads.push(Upload::of(&same.sdist, "race", "3.0"));
    }
    let auth = basic(&token);
    let results: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = uploads
            .iter()
            .map(|u| scope.spawn(|| u.send_raw(&server, Some(&auth))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .map(|(s, r, _)| (s, r))
            .collect()
    });
    let first: Vec<_> = results[..12].iter().collect();
    assert_eq!(
        first.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{first:?}"
    );
    assert!(
        first
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(|(s, r)| *s == 400 && r.starts_with("File already exists")),
        "{first:?}"
    );
    assert!(
        results[12..24].iter().all(|(s, _)| *s == 200),
        "{:?}",
        &results[12..24]
    );
    // Identical bytes: one stored, the others answered 200 without storing again.
    assert!(
        results[24..].iter().all(|(s, _)| *s == 200),
        "{:?}",
        &results[24..]
    );
    let files = files_of(&server, "race").await;
    assert_eq!(files.len(), 1 + 12 + 1);
    assert_store_clean(&server, 14).await;
}

/// http.client (under twine and requests) sends the whole body before it reads the
/// answer: a refusal decided early must still reach it, not a reset connection.
#[tokio::test(flavor = "multi_thread")]
async fn early_refusals_reach_clients_that_send_the_whole_body_first() {
    let server = Server::spawn_with(&["--max-upload-size", "1MiB"]).await;
    let token = token_for(&server, "early").await;
    let script = r#"
import http.client, sys
port, path, size, auth = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
boundary = "b0undary"
if path == "/legacy/":
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"early-1.0.tar.gz\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
else:
    body, content_type = b"{" + b" " * size + b"}", "application/json"
headers = {"Content-Type": content_type}
if auth != "-":
    headers["Authorization"] = auth
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
connection.request("POST", path, body=body, headers=headers)
response = connection.getresponse()
print(response.status, response.reason)
"#;
    let auth = basic(&token);
    // (path, body bytes, Authorization, status, reason fragment)
    let cases = [
        (
            "/legacy/",
            20 << 20,
            "-",
            403,
            "Invalid or non-existent authentication information",
        ),
        ("/legacy/", 20 << 20, auth.as_str(), 400, "File too large"),
        (
            "/_/oidc/mint-token",
            20 << 20,
            "-",
            422,
            "Unprocessable Entity",
        ),
    ];
    for (path, size, auth, status, reason) in cases {
        // Not a blocking call: the server runs on this test's runtime.
        let out = tokio::process::Command::new(crate::common::venv().join("bin/python"))
            .env_clear()
            .args(["-c", script, &server.port.to_string(), path])
            .arg(size.to_string())
            .arg(auth)
            .output()
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success()
                && text.starts_with(&format!("{status} "))
                && text.contains(reason),
            "{path} with {size} bytes: {text}"
        );
    }
    assert!(files_of(&server, "early").await.is_empty());
}
