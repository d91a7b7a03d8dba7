//! Legacy uploads by hand (to read reason phrases), tokens for them, and checks that
//! the store holds exactly what the rows say.

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Server;

pub struct Upload {
    pub fields: Vec<(String, String)>,
    pub filename: String,
    pub content: Vec<u8>,
}

impl Upload {
    /// The fields uv sends for a file, with correct digests.
    pub fn of(path: &Path, name: &str, version: &str) -> Self {
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

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self.fields.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Send over plain HTTP/1.1 by hand, to read the status line's reason phrase.
    pub fn send_raw(&self, server: &Server, auth: Option<&str>) -> (u16, String, String) {
        self.send_raw_to(server, "/legacy/", auth)
    }

    /// [`Upload::send_raw`] to another upload path (`/test/legacy/`: TestPyPI).
    pub fn send_raw_to(
        &self,
        server: &Server,
        path: &str,
        auth: Option<&str>,
    ) -> (u16, String, String) {
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
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
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

pub fn basic(token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("__token__:{token}"))
    )
}

pub async fn token_for(server: &Server, project: &str) -> String {
    server
        .add_github_publisher(project, &format!("octo-org/{project}"), "release.yml", "")
        .await;
    let oidc = server.github_token(&["--repository", &format!("octo-org/{project}")]);
    let (status, body) = server.mint(&oidc).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

pub async fn files_of(server: &Server, project: &str) -> Vec<Value> {
    let (_, projects) = server.api(reqwest::Method::GET, "/projects", None).await;
    projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["normalized_name"] == project)
        .map(|p| p["files"].as_array().unwrap().clone())
        .unwrap_or_default()
}

/// No stray temporary files and no stored blobs beyond what the rows say: small files
/// in the database and large ones under files/ together, as the storage API counts
/// them, and the files on disk as that API says.
pub async fn assert_store_clean(server: &Server, expected_blobs: usize) {
    let tmp = std::fs::read_dir(server.data_dir().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "temporary files left behind");
    let on_disk = walk(&server.data_dir().join("files")).len();
    let (status, storage) = server.api(reqwest::Method::GET, "/storage", None).await;
    assert_eq!(status, 200, "{storage}");
    assert_eq!(
        storage["large_files"]["count"].as_u64(),
        Some(on_disk as u64),
        "{storage}"
    );
    let small = storage["small_files"]["count"].as_u64().unwrap();
    assert_eq!(
        small as usize + on_disk,
        expected_blobs,
        "stored files do not match the rows: {storage}"
    );
}

pub fn walk(dir: &Path) -> Vec<String> {
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
