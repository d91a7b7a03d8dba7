//! The legacy upload endpoint: what it accepts, what it refuses (with the message in
//! the reason phrase and the body), and that a refusal stores nothing.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{Server, dists};
use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Upload {
    fields: Vec<(String, String)>,
    filename: String,
    content: Vec<u8>,
}

impl Upload {
    /// The fields uv sends for a file, with correct digests.
    fn of(path: &Path, name: &str, version: &str) -> Self {
        let content = std::fs::read(path).unwrap();
        let filename = path.file_name().unwrap().to_string_lossy().into_owned();
        let wheel = filename.ends_with(".whl");
        let fields = vec![
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", name),
            ("version", version),
            ("filetype", if wheel { "bdist_wheel" } else { "sdist" }),
            ("pyversion", if wheel { "py3" } else { "source" }),
            ("requires_python", ">=3.8"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain([(
            "sha256_digest".to_owned(),
            hex::encode(Sha256::digest(&content)),
        )])
        .collect();
        Self {
            fields,
            filename,
            content,
        }
    }

    fn set(mut self, key: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self.fields.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Send over plain HTTP/1.1 by hand, to read the status line's reason phrase.
    fn send_raw(&self, server: &Server, auth: Option<&str>) -> (u16, String, String) {
        let boundary = "mockpypiboundary7d1";
        let mut body = Vec::new();
        for (k, v) in &self.fields {
            write!(
                body,
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            )
            .unwrap();
        }
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            self.filename
        )
        .unwrap();
        body.extend_from_slice(&self.content);
        write!(body, "\r\n--{boundary}--\r\n").unwrap();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let auth = auth
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST /legacy/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(&body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status_line = response.lines().next().unwrap_or_default().to_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let reason = status_line
            .splitn(3, ' ')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, reason, body)
    }
}

fn basic(token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("__token__:{token}"))
    )
}

async fn token_for(server: &Server, project: &str) -> String {
    server
        .add_github_publisher(project, &format!("octo-org/{project}"), "release.yml", "")
        .await;
    let oidc = server.github_token(&["--repository", &format!("octo-org/{project}")]);
    let (status, body) = server.mint(&oidc).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn files_of(server: &Server, project: &str) -> Vec<Value> {
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["normalized_name"] == project)
        .map(|p| p["files"].as_array().unwrap().clone())
        .unwrap_or_default()
}

/// No stray temporary files and no stored blobs beyond what the rows say.
fn assert_store_clean(server: &Server, expected_blobs: usize) {
    let tmp = std::fs::read_dir(server.data_dir().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "temporary files left behind");
    let blobs = walk(&server.data_dir().join("files"))
        .into_iter()
        .filter(|p| !p.ends_with(".metadata"))
        .count();
    assert_eq!(blobs, expected_blobs, "stored files do not match the rows");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_follow_pypi() {
    let server = Server::start();
    let token = token_for(&server, "dup").await;
    let home = common::tempdir();
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
    assert_store_clean(&server, 1);
}

fn changed_content(path: &Path) -> Vec<u8> {
    let mut c = std::fs::read(path).unwrap();
    c.extend_from_slice(b"trailing bytes");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_store_nothing() {
    let server = Server::start_with(&["--max-upload-size", "2KiB"]);
    let token = token_for(&server, "strict").await;
    let auth = basic(&token);
    let home = common::tempdir();
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
    assert_store_clean(&server, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_is_required_and_checked() {
    let server = Server::start_with(&["--token-lifetime", "2"]);
    let token = token_for(&server, "auth").await;
    let home = common::tempdir();
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
    let server = Server::start();
    let token = token_for(&server, "burn").await;
    let home = common::tempdir();
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
    assert_eq!(burn.status(), 200);
    let (status, reason, _) =
        Upload::of(&d.wheel, "burn", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 403);
    assert!(reason.contains("revoked"), "{reason}");
    assert_store_clean(&server, 1);
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
    let server = Server::start();
    let token = token_for(&server, "large").await;
    let home = common::tempdir();
    let wheel = large_wheel(home.path());
    let bytes = std::fs::read(&wheel).unwrap();
    assert!(bytes.len() > 3 << 20);
    // A wrong digest on a multi-batch file: refused, nothing kept.
    let bad = Upload::of(&wheel, "large", "1.0").set("sha256_digest", &"1".repeat(64));
    let (status, reason, _) = bad.send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 400, "{reason}");
    assert_store_clean(&server, 0);
    // The real upload, then the download is byte for byte what was sent.
    let (status, reason, _) =
        Upload::of(&wheel, "large", "1.0").send_raw(&server, Some(&basic(&token)));
    assert_eq!(status, 200, "{reason}");
    let file = &files_of(&server, "large").await[0];
    assert_eq!(
        file["sha256_digest"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes))
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
    assert_store_clean(&server, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_uploads_are_decided_one_by_one() {
    let server = Server::start();
    let token = token_for(&server, "race").await;
    let home = common::tempdir();
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
    assert_store_clean(&server, 14);
}
