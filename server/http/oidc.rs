//! `/_/oidc/*`: PyPI's trusted-publishing endpoints, over [`crate::oidc::exchange`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::MintError;
use crate::state::AppState;
use crate::store::TokenRow;
use crate::tokens;
use crate::util::now;

pub async fn audience(State(app): State<AppState>) -> Json<Value> {
    Json(json!({"audience": app.settings.audience}))
}

pub async fn mint_token(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MintError> {
    let body = body.map_err(|e| {
        MintError::new(
            "invalid-payload",
            format!("could not read the request body: {}", e.body_text()),
        )
    })?;
    let minted = app.exchanger().mint(&body).await?;
    Ok(
        Json(json!({"success": true, "token": minted.token, "expires": minted.expires}))
            .into_response(),
    )
}

/// Revoke a minted token (uv calls this after publishing). Burning twice is fine.
pub async fn burn_token(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MintError> {
    let body = body.map_err(|e| MintError::new("invalid-payload", e.body_text()))?;
    let token = match serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
    {
        Some(t) => t,
        None => {
            return Err(MintError::new(
                "invalid-payload",
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
            "invalid-token",
            "unknown token: it was not minted by this index",
        )),
    }
}
