//! PEP 807 (a draft): trusted-publishing discovery at `/.well-known/pytp` and the
//! mint request's `features`. Pure: the handlers in `http::oidc` do the I/O. Clients
//! that do not ask (no `features`, no PEP 807 media type) see PyPI's behaviour.

use serde_json::{Value, json};

/// The media type of PEP 807's requests and documents.
pub const MEDIA: &str = "application/vnd.pypi.pytp.v1+json";
pub const SINGLE_USE: &str = "single-use-token";
pub const MULTI_USE: &str = "multi-use-token";
/// The upload path this index offers trusted publishing for.
pub const UPLOAD_PATH: &str = "/legacy/";

/// Whether an `Accept` header allows PEP 807's media type (no header does).
pub fn acceptable(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case(MEDIA)
            || media == "*/*"
            || media.eq_ignore_ascii_case("application/*")
    })
}

/// The discovery document for the (decoded) upload path `discover`, with URLs on
/// `origin` (the host the client reached); `None` for a path without trusted publishing.
pub fn document(origin: &str, discover: &str) -> Option<Value> {
    if discover != UPLOAD_PATH && discover != UPLOAD_PATH.trim_end_matches('/') {
        return None;
    }
    Some(json!({
        "audience-endpoint": format!("{origin}/_/oidc/audience"),
        "token-mint-endpoint": format!("{origin}/_/oidc/mint-token"),
        "features": [SINGLE_USE, MULTI_USE],
        "default-features": [MULTI_USE],
    }))
}

/// What a mint request asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// It used PEP 807 (sent `features`): errors come as RFC 9457 problems.
    pub pep807: bool,
    pub single_use: bool,
}

/// Read `features` from a mint request body (anything unreadable is left to the
/// exchange, which reports it in PyPI's words).
pub fn request(body: &[u8]) -> Result<Request, String> {
    let features = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("features").cloned());
    let Some(features) = features else {
        return Ok(Request {
            pep807: false,
            single_use: false,
        });
    };
    let Value::Array(items) = features else {
        return Err(format!(
            "'features' must be a list of strings, e.g. [\"{SINGLE_USE}\"]"
        ));
    };
    let mut wanted = Vec::new();
    for item in &items {
        match item.as_str() {
            Some(f @ (SINGLE_USE | MULTI_USE)) => wanted.push(f),
            Some(other) => {
                return Err(format!(
                    "unsupported feature '{other}': this index offers {SINGLE_USE} and {MULTI_USE}"
                ));
            }
            None => return Err(format!("'features' must hold strings, not {item}")),
        }
    }
    if wanted.contains(&SINGLE_USE) && wanted.contains(&MULTI_USE) {
        return Err(format!(
            "'{SINGLE_USE}' and '{MULTI_USE}' exclude each other: ask for one"
        ));
    }
    Ok(Request {
        pep807: true,
        single_use: wanted.contains(&SINGLE_USE),
    })
}

/// An RFC 9457 problem document.
pub fn problem(status: u16, title: &str, detail: &str) -> Value {
    json!({"type": "about:blank", "status": status, "title": title, "detail": detail})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        assert!(acceptable(None));
        assert!(acceptable(Some(MEDIA)));
        assert!(acceptable(Some("text/html, */*;q=0.1")));
        assert!(!acceptable(Some("text/html")));
        assert!(!acceptable(Some("application/json")));
    }

    #[test]
    fn documents_only_for_the_upload_path() {
        let doc = document("https://127.0.0.1:9", "/legacy/").unwrap();
        assert_eq!(
            doc["token-mint-endpoint"],
            "https://127.0.0.1:9/_/oidc/mint-token"
        );
        assert_eq!(doc["default-features"], json!([MULTI_USE]));
        assert!(document("https://h", "/legacy").is_some());
        assert!(document("https://h", "/upload/").is_none());
        assert!(document("https://h", "").is_none());
    }

    #[test]
    fn features() {
        let read = |b: &str| request(b.as_bytes());
        assert_eq!(
            read(r#"{"token": "t"}"#),
            Ok(Request {
                pep807: false,
                single_use: false
            })
        );
        assert_eq!(
            read(r#"{"token": "t", "features": ["single-use-token"]}"#),
            Ok(Request {
                pep807: true,
                single_use: true
            })
        );
        assert_eq!(
            read(r#"{"token": "t", "features": []}"#),
            Ok(Request {
                pep807: true,
                single_use: false
            })
        );
        assert!(
            read(r#"{"features": ["teleport"]}"#)
                .unwrap_err()
                .contains("teleport")
        );
        assert!(read(r#"{"features": "single-use-token"}"#).is_err());
        assert!(read(r#"{"features": ["single-use-token", "multi-use-token"]}"#).is_err());
    }
}
