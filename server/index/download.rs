//! A small file's download from its bytes in the database, answered as `ServeFile`
//! answers a large one's from disk: the same headers, single byte ranges (206, or 416
//! with `Content-Range: bytes */SIZE`), and RFC 9110's preconditions in its order
//! (If-Match, else If-Unmodified-Since; If-None-Match, else If-Modified-Since). The
//! ETag is strong: the bytes are content-addressed, so the digest names them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

/// What the download needs of a stored small file.
pub struct Blob {
    pub content: Bytes,
    pub blake2_256: String,
    pub stored_at: i64,
}

pub fn respond(blob: Blob, request: &HeaderMap) -> Response {
    let size = blob.content.len() as u64;
    let modified = UNIX_EPOCH + Duration::from_secs(blob.stored_at.max(0) as u64);
    let etag = format!("\"{}\"", blob.blake2_256);
    let last_modified = httpdate::fmt_http_date(modified);
    let base = || {
        Response::builder()
            .header(header::LAST_MODIFIED, &last_modified)
            .header(header::ETAG, &etag)
    };
    match precondition(request, &etag, modified) {
        Some(StatusCode::NOT_MODIFIED) => return empty(base().status(StatusCode::NOT_MODIFIED)),
        Some(status) => return empty(Response::builder().status(status)),
        None => {}
    }
    let builder = base()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes");
    let Some(range) = request.get(header::RANGE) else {
        return body(builder.header(header::CONTENT_LENGTH, size), blob.content);
    };
    let unsatisfiable = |builder: axum::http::response::Builder| {
        empty(
            builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}")),
        )
    };
    let ranges = range
        .to_str()
        .ok()
        .and_then(|r| http_range_header::parse_range_header(r).ok())
        .and_then(|parsed| parsed.validate(size).ok());
    match ranges.as_deref() {
        Some([one]) => {
            let (start, end) = (*one.start(), *one.end());
            body(
                builder
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
                    .header(header::CONTENT_LENGTH, end - start + 1),
                blob.content.slice(start as usize..=end as usize),
            )
        }
        // Several ranges (multipart answers are not served, as ServeFile serves none),
        // or none that fits.
        _ => unsatisfiable(builder),
    }
}

/// The status a conditional request is answered with instead of the bytes, if any.
fn precondition(request: &HeaderMap, etag: &str, modified: SystemTime) -> Option<StatusCode> {
    let text = |name| {
        request
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let date = |name| text(name).and_then(|v| httpdate::parse_http_date(v).ok());
    // Dates in headers have whole seconds; so does a stored time.
    let lists = |v: &str, weak_ok: bool| {
        v.split(',').map(str::trim).any(|tag| {
            tag == "*" || tag == etag || (weak_ok && tag.strip_prefix("W/") == Some(etag))
        })
    };
    if let Some(v) = text(header::IF_MATCH) {
        if !lists(v, false) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = date(header::IF_UNMODIFIED_SINCE)
        && modified > since
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(v) = text(header::IF_NONE_MATCH) {
        if lists(v, true) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(since) = date(header::IF_MODIFIED_SINCE)
        && modified <= since
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

fn body(builder: axum::http::response::Builder, bytes: Bytes) -> Response {
    builder
        .body(Body::from(bytes))
        .unwrap_or_else(|_| internal())
}

fn empty(builder: axum::http::response::Builder) -> Response {
    builder.body(Body::empty()).unwrap_or_else(|_| internal())
}

/// Only reachable with a header value that is not one (every value here is built
/// from digits and hex).
fn internal() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> Blob {
        Blob {
            content: Bytes::from_static(b"0123456789"),
            blake2_256: "ab".repeat(32),
            stored_at: 1_700_000_000,
        }
    }

    fn get(headers: &[(&'static str, &str)]) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        respond(blob(), &map)
    }

    fn header_of(r: &Response, name: &str) -> String {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn whole_ranges_and_unsatisfiable_ranges() {
        let whole = get(&[]);
        assert_eq!(whole.status(), 200);
        assert_eq!(header_of(&whole, "content-length"), "10");
        assert_eq!(header_of(&whole, "accept-ranges"), "bytes");
        assert_eq!(
            header_of(&whole, "content-type"),
            "application/octet-stream"
        );
        for (range, status, content_range, length) in [
            ("bytes=0-3", 206, "bytes 0-3/10", "4"),
            ("bytes=7-", 206, "bytes 7-9/10", "3"),
            ("bytes=-2", 206, "bytes 8-9/10", "2"),
            ("bytes=5-100", 206, "bytes 5-9/10", "5"),
            ("bytes=10-12", 416, "bytes */10", ""),
            ("bytes=0-1,4-5", 416, "bytes */10", ""),
            ("lines=1-2", 416, "bytes */10", ""),
        ] {
            let r = get(&[("range", range)]);
            assert_eq!(r.status(), status, "{range}");
            assert_eq!(header_of(&r, "content-range"), content_range, "{range}");
            assert_eq!(header_of(&r, "content-length"), length, "{range}");
        }
    }

    #[test]
    fn preconditions_in_rfc_9110s_order() {
        let etag = format!("\"{}\"", "ab".repeat(32));
        let stored = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let before = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        for (headers, status) in [
            (vec![("if-none-match", etag.as_str())], 304),
            (vec![("if-none-match", "\"other\"")], 200),
            (vec![("if-match", "\"other\"")], 412),
            (vec![("if-match", etag.as_str())], 200),
            (vec![("if-modified-since", stored.as_str())], 304),
            (vec![("if-modified-since", before.as_str())], 200),
            (vec![("if-unmodified-since", before.as_str())], 412),
            (vec![("if-unmodified-since", stored.as_str())], 200),
            // If-None-Match wins over If-Modified-Since.
            (
                vec![
                    ("if-none-match", "\"other\""),
                    ("if-modified-since", stored.as_str()),
                ],
                200,
            ),
        ] {
            assert_eq!(get(&headers).status(), status, "{headers:?}");
        }
    }
}
