//! `/_mock/api/`: publishers, trusted issuers, the exchange audit log, API tokens and
//! reset, behind the admin bearer token.

use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::packaging;
use crate::provider::Provider;
use crate::services;
use crate::state::AppState;
use crate::store::ExchangeFilter;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/publishers", get(list_publishers).post(create_publisher))
        .route("/publishers/{id}", delete(delete_publisher))
        .route("/issuers", get(list_issuers).post(create_issuer))
        .route("/issuers/{id}", delete(delete_issuer))
        .route("/issuers/{id}/refresh", post(refresh_issuer))
        .route("/exchanges", get(list_exchanges))
        .route("/exchanges/{id}", get(get_exchange))
        .route("/projects", get(list_projects))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/reset", post(reset))
        .layer(middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    match presented {
        Some(t) if crate::util::constant_time_eq(&t, &app.admin_token) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ProviderFilter {
    provider: Option<String>,
}

async fn list_publishers(
    State(app): State<AppState>,
    Query(f): Query<ProviderFilter>,
) -> Result<Json<Value>, ApiError> {
    let provider = match f.provider.as_deref().map(str::parse::<Provider>) {
        None => None,
        Some(Ok(p)) => Some(p),
        // No publisher has a provider this index does not know.
        Some(Err(_)) => return Ok(Json(json!({"publishers": []}))),
    };
    let publishers = services::publishers(&app, provider).await?;
    Ok(Json(json!({ "publishers": publishers })))
}

fn object(
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Map<String, Value>, ApiError> {
    match body {
        Ok(Json(Value::Object(map))) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(e.body_text())),
    }
}

async fn create_publisher(
    State(app): State<AppState>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let row = services::add_publisher(&app, &object(body)?).await?;
    Ok((axum::http::StatusCode::CREATED, Json(row)).into_response())
}

async fn delete_publisher(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    if app.store.delete_publisher(id).await? {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(ApiError::NotFound(format!("no publisher {id}")))
    }
}

async fn list_issuers(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"issuers": app.store.list_issuers().await?})))
}

async fn create_issuer(
    State(app): State<AppState>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(provider), Some(url)) = (text("provider"), text("url")) else {
        return Err(ApiError::BadRequest(
            "send {\"provider\": \"github\", \"url\": \"<exact iss>\", \"jwks_url\": optional}"
                .into(),
        ));
    };
    let row = services::add_issuer(&app, provider, url, text("jwks_url")).await?;
    Ok((axum::http::StatusCode::CREATED, Json(row)).into_response())
}

async fn delete_issuer(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    if app.store.delete_issuer(id).await? {
        app.jwks.clear();
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(ApiError::NotFound(format!("no trusted issuer {id}")))
    }
}

/// Fetch an issuer's keys now (after a rotation, instead of waiting for an unknown kid).
async fn refresh_issuer(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let Some(issuer) = app.store.issuer_by_id(id).await? else {
        return Err(ApiError::NotFound(format!("no trusted issuer {id}")));
    };
    match app.jwks.refresh(&issuer).await {
        Ok(kids) => Ok(Json(json!({"issuer": issuer.url, "kids": kids}))),
        Err(e) => Err(ApiError::BadGateway(e)),
    }
}

async fn list_exchanges(
    State(app): State<AppState>,
    Query(filter): Query<ExchangeFilter>,
) -> Result<Json<Value>, ApiError> {
    let filter = ExchangeFilter {
        project: filter.project.map(|p| packaging::normalize_name(&p)),
        ..filter
    };
    Ok(Json(
        json!({"exchanges": app.store.list_exchanges(&filter).await?}),
    ))
}

async fn get_exchange(
    State(app): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<services::ExchangeActivity>, ApiError> {
    match services::exchange_activity(&app, id).await? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::NotFound(format!("no exchange {id}"))),
    }
}

async fn list_projects(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for p in app.store.list_projects().await? {
        let files = app.store.project_files(p.id).await?;
        out.push(json!({"name": p.name, "normalized_name": p.normalized_name, "files": files}));
    }
    Ok(Json(json!({"projects": out})))
}

/// `POST /tokens {"project": "NAME" (omit for every project), "description": …,
/// "lifetime_seconds": …}`: a long-lived API token, shown once.
async fn create_token(
    State(app): State<AppState>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let body = object(body)?;
    let project = match body.get("project") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if packaging::is_valid_name(p.trim()) => {
            Some(packaging::normalize_name(p.trim()))
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "'project' must be a valid project name, or absent for every project (got {other})"
            )));
        }
    };
    let lifetime = match body.get("lifetime_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(ApiError::BadRequest(
                    "'lifetime_seconds' must be a positive integer".into(),
                ));
            }
        },
    };
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("API token")
        .to_owned();
    let (generated, row) =
        crate::tokens::create_api_token(&app.store, project, &description, lifetime).await?;
    let mut out = serde_json::to_value(row).unwrap_or(Value::Null);
    out["token"] = Value::String(generated.token);
    Ok((axum::http::StatusCode::CREATED, Json(out)).into_response())
}

async fn list_tokens(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"tokens": app.store.list_tokens("api").await?})))
}

async fn revoke_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match app.store.revoke_token(&id).await? {
        Some(row) => Ok(Json(serde_json::to_value(row).unwrap_or(Value::Null))),
        None => Err(ApiError::NotFound(format!("no token {id}"))),
    }
}

async fn reset(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    services::reset(&app).await?;
    Ok(Json(json!({"reset": true})))
}
