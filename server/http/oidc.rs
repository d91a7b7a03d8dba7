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
use crate::store::TokenRow;
use crate::tokens;
use crate::util::now;

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

/// Revoke a minted token (uv calls this after publishing). Burning twice is fine.
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
    let burned: Option<TokenRow> = app.store.burn_token(&tokens::hash(&token)).await?;
    match burned {
        Some(row) => {
            tracing::info!(token = %row.id, "token burned");
            Ok(
                Json(json!({"success": true, "burned_at": row.burned_at.unwrap_or_else(now)}))
                    .into_response(),
            )
        }
        None => Err(MintError::new(
            MintCode::InvalidToken,
            "unknown token: it was not minted by this index",
        )),
    }
}
