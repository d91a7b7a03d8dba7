//! One error type per boundary, each rendered in the shape its clients expect:
//! mint/burn (PyPI's 422 JSON), uploads (message in the reason phrase and the body),
//! the index (PyPI's 404s) and the control API (JSON `{"error": …}`).
//! Internal causes are logged and never shown.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::audit::MintCode;
use crate::store::StoreError;

/// Appended to refusals, as Warehouse points at its help page.
pub const HELP: &str = "See the mock-pypi README (Troubleshooting) for more information.";

/// PyPI's refusal for creating a project whose name is prohibited (by an upload, a
/// pending publisher or its reification).
pub fn prohibited_name(name: &str) -> String {
    format!("The name '{name}' isn't allowed. {HELP}")
}

/// The error a stalled upload body ends with (`http::idle` ends it so);
/// `upload::form` finds it in the multipart error.
#[derive(Debug)]
pub struct BodyIdle(pub std::time::Duration);

impl std::fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no part of the upload arrived for {} s",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyIdle {}

/// A refused token exchange: always HTTP 422 with PyPI's body.
#[derive(Debug, Clone)]
pub struct MintError {
    pub code: MintCode,
    pub description: String,
    /// An internal failure behind a `server-error`: logged once, when answered.
    pub cause: Option<String>,
}

impl MintError {
    pub fn new(code: MintCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            cause: None,
        }
    }

    fn log_cause(&self) {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, "token exchange failed inside the index");
        }
    }
}

impl MintError {
    /// PyPI's shape, or for PEP 807 clients an RFC 9457 problem document carrying
    /// the same `message` and `errors` members (so both kinds of client can read it).
    pub fn respond(self, problem: bool) -> Response {
        if !problem {
            return self.into_response();
        }
        self.log_cause();
        let body = json!({
            "type": "about:blank",
            "status": 422,
            "title": "Token request failed",
            "detail": self.description,
            "message": "Token request failed",
            "errors": [{"code": self.code, "description": self.description}],
        });
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response()
    }
}

impl IntoResponse for MintError {
    fn into_response(self) -> Response {
        self.log_cause();
        let body = json!({
            "message": "Token request failed",
            "errors": [{"code": self.code, "description": self.description}],
        });
        (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
    }
}

impl From<StoreError> for MintError {
    fn from(e: StoreError) -> Self {
        MintError {
            cause: Some(e.to_string()),
            ..MintError::new(
                MintCode::ServerError,
                "the index could not record the exchange; see its log",
            )
        }
    }
}

/// A refused upload. Like Warehouse, the message goes into the HTTP reason phrase
/// (twine prints that) and into the body (uv prints that).
#[derive(Debug)]
pub struct UploadError {
    pub status: StatusCode,
    pub message: String,
    /// Render as JSON (`{"code": "400 <message>", …}`) for clients that ask for it.
    pub json: bool,
    /// An internal failure behind a 500: logged once, when answered.
    pub cause: Option<String>,
}

impl UploadError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            json: false,
            cause: None,
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            json: false,
            cause: None,
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message:
                "The index failed to store the upload; nothing was stored. See the server log."
                    .into(),
            json: false,
            cause: Some(e.to_string()),
        }
    }

    /// The disk under the data directory is full: 507, saying so, and that nothing
    /// was kept (the refusal leaves stored state as it was, like every other).
    pub fn storage_full(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INSUFFICIENT_STORAGE,
            message: "Insufficient storage: the index's disk is full, so nothing was stored. Free space in its data directory, then upload again.".into(),
            json: false,
            cause: Some(cause.to_string()),
        }
    }

    /// An I/O failure while receiving the file: a full disk is named as such.
    pub fn io(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Self::storage_full(e)
        } else {
            Self::internal(e)
        }
    }
}

impl From<StoreError> for UploadError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull => UploadError::storage_full(e),
            e => UploadError::internal(e),
        }
    }
}

/// A reason phrase must be visible ASCII on one line.
fn reason_phrase(message: &str) -> String {
    let mut phrase: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    phrase.truncate(1024);
    phrase
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %cause, "upload failed inside the index");
        }
        let phrase = reason_phrase(&self.message);
        let code = format!("{} {phrase}", self.status.as_u16());
        let mut response = if self.json {
            let title = self.status.canonical_reason().unwrap_or("Error");
            (
                self.status,
                Json(json!({"code": code, "message": self.message, "title": title})),
            )
                .into_response()
        } else {
            let body = format!("{code}\n\n{}\n", self.message);
            (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response()
        };
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase) {
            response.extensions_mut().insert(reason);
        }
        // A stalled body is never drained: the connection ends with the answer.
        if self.status == StatusCode::REQUEST_TIMEOUT {
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Failures of the read-only index pages.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("not found")]
    NotFound,
    #[error("not found")]
    JsonNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for IndexError {
    fn into_response(self) -> Response {
        match self {
            IndexError::NotFound => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain")],
                "404 Not Found",
            )
                .into_response(),
            IndexError::JsonNotFound => {
                (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
            }
            IndexError::Store(e) => {
                tracing::error!(error = %e, "store failure serving the index");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 Internal Server Error",
                )
                    .into_response()
            }
        }
    }
}

/// Control-plane failures: JSON `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "missing or wrong admin token: send 'Authorization: Bearer <admin token>' (printed by `mock-pypi serve`)"
    )]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    /// A definition refused because of one field (named in the answer).
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A token that is valid, but not for this (a workshop seat's, elsewhere).
    #[error("{0}")]
    Forbidden(String),
    /// An upstream (an issuer's key set) failed.
    #[error("{0}")]
    BadGateway(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadField { field, message } => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("{field}: {message}"), "field": field})),
                )
                    .into_response();
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Conflict(_) | ApiError::Store(StoreError::Conflict) => StatusCode::CONFLICT,
            ApiError::Store(e) => {
                tracing::error!(error = %e, "store failure in the control API");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal error; see the server log"})),
                )
                    .into_response();
            }
        };
        let mut response = (status, Json(json!({"error": self.to_string()}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
