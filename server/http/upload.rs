//! `POST /legacy/`: the token from the headers, the form streamed to disk, then the
//! domain's `Uploader` (checks, attestations, store) with the failure kit's upload
//! hook. Any refusal leaves nothing behind: the staged file is deleted when dropped,
//! and the project is created only for a valid upload.

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::faults::UploadFaults;
use crate::error::HELP;
use crate::error::UploadError;
use crate::state::AppState;

pub async fn upload(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let json = wants_json(&headers);
    match accept(&app, &query, &headers, multipart).await {
        Ok(None) => (StatusCode::OK, "OK\n").into_response(),
        Ok(Some(injected)) => injected,
        Err(mut e) => {
            e.json = json;
            tracing::info!(status = %e.status, message = %e.message, "upload refused");
            e.into_response()
        }
    }
}

async fn accept(
    app: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Option<Response>, UploadError> {
    let uploader = app.uploader();
    // Authentication first: an unauthenticated upload is refused before its body is read.
    let token = uploader.authenticate(&presented_token(headers)?).await?;
    let multipart = multipart.map_err(|e| {
        UploadError::bad_request(format!("Invalid upload request: {}", e.body_text()))
    })?;
    let form = uploader.read_form(multipart).await?;
    let action = form
        .get(":action")
        .or(query.get(":action").map(String::as_str))
        .unwrap_or("")
        .to_owned();
    let hook = UploadFaults { app };
    uploader.accept(&token, &action, form, &hook).await
}

/// The token from `Authorization: Basic __token__:<t>` (or `token <t>` / `Bearer <t>`).
fn presented_token(headers: &HeaderMap) -> Result<String, UploadError> {
    let missing = || {
        UploadError::forbidden(format!(
            "Invalid or non-existent authentication information. {HELP}"
        ))
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(missing)?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).map_err(|_| missing())?;
        let decoded = String::from_utf8(decoded).map_err(|_| missing())?;
        let (user, password) = decoded.split_once(':').ok_or_else(missing)?;
        if user != "__token__" {
            return Err(UploadError::forbidden(format!(
                "Username/Password authentication is no longer supported. Migrate to API Tokens or Trusted Publishers instead. {HELP}"
            )));
        }
        Ok(password.trim().to_owned())
    } else if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        Ok(rest.trim().to_owned())
    } else {
        Err(missing())
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim_start().starts_with("application/json"))
}

/// `GET /legacy/`: a short note instead of Warehouse's HTML page.
pub async fn info() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This is the mock-pypi upload endpoint. POST a multipart form with :action=file_upload.\n",
    )
}
