//! `/_/oidc/*`: PyPI's trusted-publishing endpoints, over [`crate::oidc::exchange`].

use axum::Json;
use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{MintCode, MintError};
use crate::oidc::discovery;
use crate::state::AppState;
use crate::tokens;

pub async fn audience(State(app): State<AppState>) -> Json<Value> {
    Json(json!({"audience": app.settings.audience}))
}

/// PyPI's mint endpoint; with PEP 807's `features` (or its media type) the client
/// gets what it asked for and errors as RFC 9457 problems that keep PyPI's fields.
pub async fn mint_token(
    State(app): State<AppState>,
    tweak: Option<axum::Extension<super::faults::MintTweak>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let tweak = tweak.map(|t| t.0).unwrap_or_default();
    let asked_pep807 = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(discovery::MEDIA));
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let error = MintError::new(
                MintCode::InvalidPayload,
                format!("could not read the request body: {}", e.body_text()),
            );
            return error.respond(asked_pep807);
        }
    };
    let request = match discovery::request(&body) {
        Ok(r) => r,
        Err(e) => return MintError::new(MintCode::InvalidFeatures, e).respond(true),
    };
    let pep807 = asked_pep807 || request.pep807;
    let options = crate::oidc::exchange::MintOptions {
        single_use: request.single_use,
        lifetime: tweak.lifetime,
        fault: tweak.note.clone(),
    };
    match app.exchanger().mint(&body, options).await {
        Ok(minted) if tweak.omit_expires => {
            Json(json!({"success": true, "token": minted.token})).into_response()
        }
        Ok(minted) => {
            Json(json!({"success": true, "token": minted.token, "expires": minted.expires}))
                .into_response()
        }
        Err(e) => e.respond(pep807),
    }
}

/// `GET /.well-known/pytp?discover=<quoted upload path>` (PEP 807, a draft).
pub async fn discover(
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if !discovery::acceptable(accept) {
        return problem(
            StatusCode::NOT_ACCEPTABLE,
            &format!("discovery answers {} only", discovery::MEDIA),
        );
    }
    let Some(path) = query.get("discover") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "missing the 'discover' query parameter (the quoted path of the upload URL)",
        );
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    // Uploads and the exchange are served over TLS on this same host and port.
    match discovery::document(&format!("https://{host}"), path) {
        Some(document) => {
            ([(header::CONTENT_TYPE, discovery::MEDIA)], Json(document)).into_response()
        }
        None => problem(
            StatusCode::NOT_FOUND,
            &format!(
                "no trusted publishing for upload path '{path}' (this index uploads at {})",
                discovery::UPLOAD_PATH
            ),
        ),
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(discovery::problem(status.as_u16(), title, detail)),
    )
        .into_response()
}

/// Burn a minted token as PyPI does (warehouse#20197): every well-formed request is
/// answered 202 with the same body, whatever it did, so a caller learns nothing about
/// a token it holds. Only trusted-publishing tokens are revoked; what happened is
/// recorded for the audit API and the dashboard.
pub async fn burn_token(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MintError> {
    let body = body.map_err(|e| MintError::new(MintCode::InvalidPayload, e.body_text()))?;
    let token = match serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
    {
        Some(t) => t,
        None => {
            return Err(MintError::new(
                MintCode::InvalidPayload,
                "send {\"token\": \"<the minted pypi- token>\"}",
            ));
        }
    };
    let burn = tokens::burn(&app.store, &token).await?;
    tracing::info!(
        token = burn.token_id.as_deref().unwrap_or("-"),
        outcome = burn.outcome.as_str(),
        "burn-token: {}",
        burn.outcome.explain()
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "Accepted", "errors": []})),
    )
        .into_response())
}
