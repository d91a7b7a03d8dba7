//! What installers read, rendered: the simple API (PEP 503/691/658/700) and the JSON
//! API, with content negotiation and the page cache. The handlers are in `http::index`.

pub mod cache;
pub mod download;
pub mod json_api;
pub mod negotiate;
pub mod simple;

use std::str::FromStr;

use crate::store::FileRow;

/// Sort key for versions: PEP 440 order, unparseable last.
pub fn version_key(v: &str) -> (bool, Option<pep440_rs::Version>) {
    match pep440_rs::Version::from_str(v) {
        Ok(parsed) => (false, Some(parsed)),
        Err(_) => (true, None),
    }
}

/// Files ordered by (version, filename), as PyPI lists them.
pub fn sort_files(files: &mut [FileRow]) {
    files.sort_by(|a, b| {
        version_key(&a.version)
            .cmp(&version_key(&b.version))
            .then_with(|| a.filename.cmp(&b.filename))
    });
}

/// A file's path on this server, under its index's mount (`/test` for TestPyPI).
pub fn file_url(mount: &str, file: &FileRow) -> String {
    format!("{mount}/files/{}", file.path)
}

/// PyPI's redirect for non-normalized names and missing slashes: 301.
pub fn moved(location: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::MOVED_PERMANENTLY,
        [(axum::http::header::LOCATION, location.to_owned())],
    )
        .into_response()
}

/// Minimal HTML escaping for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(escape(">=3.8 & <4"), "&gt;=3.8 &amp; &lt;4");
        assert_eq!(escape("a\"b'"), "a&quot;b&#39;");
    }

    #[test]
    fn versions_sort_by_pep440() {
        let mut v = vec!["1.10", "1.2", "1.2rc1", "junk"];
        v.sort_by_key(|a| version_key(a));
        assert_eq!(v, ["1.2rc1", "1.2", "1.10", "junk"]);
    }
}
