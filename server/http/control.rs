//! `/_mock/api/`: publishers, trusted issuers, the exchange audit log, API tokens,
//! projects' status, prohibited names and reset (faults: `control_faults`), behind the
//! admin bearer token.

use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::json::{Body, object};
use crate::error::ApiError;
use crate::packaging;
use crate::provider::Provider;
use crate::services;
use crate::state::AppState;
use crate::store::{ExchangeFilter, StoreError};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/publishers", get(list_publishers).post(create_publisher))
        .route(
            "/publishers/{id}",
            delete(delete_publisher).patch(backdate_publisher),
        )
        .route("/issuers", get(list_issuers).post(create_issuer))
        .route("/issuers/{id}", delete(delete_issuer))
        .route("/issuers/{id}/refresh", post(refresh_issuer))
        .route("/exchanges", get(list_exchanges))
        .route("/exchanges/{id}", get(get_exchange))
        .route("/projects", get(list_projects))
        .route("/projects/{project}", patch(set_project_status))
        .route(
            "/projects/{project}/releases/{version}",
            patch(patch_release),
        )
        .route("/projects/{project}/provenance", get(project_provenance))
        .route(
            "/projects/{project}/releases/{version}/provenance",
            get(release_provenance),
        )
        .route(
            "/prohibited-names",
            get(list_prohibited).post(add_prohibited),
        )
        .route("/prohibited-names/{name}", delete(remove_prohibited))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/burns", get(list_burns))
        .route("/storage", get(storage))
        .merge(super::control_faults::router())
        .route("/reset", post(reset))
        .layer(middleware::from_fn_with_state(state, require_admin))
}

/// The bearer token of a request (the scheme is case-insensitive, RFC 9110).
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

async fn require_admin(State(app): State<AppState>, request: Request, next: Next) -> Response {
    match bearer(request.headers()) {
        Some(t) if crate::util::constant_time_eq(t, &app.admin_token) => next.run(request).await,
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

async fn create_publisher(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
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

async fn create_issuer(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let body = object(body)?;
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(provider), Some(url)) = (text("provider"), text("url")) else {
        return Err(ApiError::BadRequest(
            "send {\"provider\": \"github\", \"url\": \"<exact iss>\", \"jwks_url\": optional}"
                .into(),
        ));
    };
    let provider = provider.parse().map_err(ApiError::BadRequest)?;
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
        let releases: Vec<Value> = app
            .store
            .release_statuses(&p.normalized_name)
            .await?
            .into_iter()
            .map(|(version, status, reason)| json!({"version": version, "status": status, "reason": reason}))
            .collect();
        out.push(json!({
            "name": p.name,
            "normalized_name": p.normalized_name,
            "status": p.status,
            "status_reason": p.status_reason,
            "release_statuses": releases,
            "files": files,
        }));
    }
    Ok(Json(json!({"projects": out})))
}

/// `POST /tokens {"project": "NAME" (omit for every project), "description": …,
/// "lifetime_seconds": …}`: a long-lived API token, shown once.
async fn create_token(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
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
    /// The row, with the secret shown this once.
    #[derive(serde::Serialize)]
    struct Created {
        #[serde(flatten)]
        row: crate::store::TokenRow,
        token: String,
    }
    let created = Created {
        row,
        token: generated.token,
    };
    Ok((axum::http::StatusCode::CREATED, Json(created)).into_response())
}

async fn list_tokens(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"tokens": app.store.list_tokens(crate::store::TokenKind::Api).await?}),
    ))
}

/// Where the distributions' bytes are: small files in the database, large ones under
/// `files/` (one file each), and the size that divides them.
async fn storage(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (small, small_bytes) = app.store.small_blob_totals().await?;
    let (large, large_bytes) = app
        .blobs
        .large_file_totals()
        .await
        .map_err(|e| ApiError::Store(StoreError::Other(anyhow::anyhow!(e))))?;
    Ok(Json(json!({
        "small_files": {"count": small, "bytes": small_bytes, "where": "the database"},
        "large_files": {"count": large, "bytes": large_bytes, "where": app.blobs.root()},
        "small_file_limit": crate::store::SMALL_BLOB,
    })))
}

#[derive(serde::Deserialize)]
struct BurnQuery {
    token: Option<String>,
    limit: Option<i64>,
}

/// Every `POST /_/oidc/burn-token`, newest first, with what it did (the 202 never says).
async fn list_burns(
    State(app): State<AppState>,
    Query(q): Query<BurnQuery>,
) -> Result<Json<Value>, ApiError> {
    let burns = app
        .store
        .burns(q.token.as_deref(), q.limit.unwrap_or(100))
        .await?;
    let burns: Vec<Value> = burns
        .iter()
        .map(|b| {
            let mut v = json!(b);
            v["explanation"] = json!(b.outcome.explain());
            v
        })
        .collect();
    Ok(Json(json!({ "burns": burns })))
}

async fn revoke_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<crate::store::TokenRow>, ApiError> {
    match app.store.revoke_token(&id).await? {
        Some(row) => Ok(Json(row)),
        None => Err(ApiError::NotFound(format!("no token {id}"))),
    }
}

async fn reset(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    services::reset(&app).await?;
    Ok(Json(json!({"reset": true})))
}

/// The time a backdating body asks for: `{"age_days": N}` (N days before now) or
/// `{"created_at": UNIX}`.
fn backdated(body: &Map<String, Value>) -> Result<i64, ApiError> {
    match (body.get("age_days"), body.get("created_at")) {
        (Some(days), None) => match days.as_f64() {
            Some(d) if d >= 0.0 && d.is_finite() => {
                Ok(crate::util::now() - (d * 86_400.0).round() as i64)
            }
            _ => Err(ApiError::BadRequest(
                "'age_days' must be a number of days, 0 or more".into(),
            )),
        },
        (None, Some(at)) => at.as_i64().ok_or_else(|| {
            ApiError::BadRequest("'created_at' must be a Unix time in seconds".into())
        }),
        _ => Err(ApiError::BadRequest(
            "send {\"age_days\": 15} or {\"created_at\": <unix seconds>}".into(),
        )),
    }
}

/// `PATCH /publishers/{id} {"age_days": 31}`: move its registration back in time, to
/// see a pending publisher expire.
async fn backdate_publisher(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let created_at = backdated(&object(body)?)?;
    match app.store.set_publisher_created(id, created_at).await? {
        Some(at) => Ok(Json(json!({"id": id, "created_at": at}))),
        None => Err(ApiError::NotFound(format!("no publisher {id}"))),
    }
}

/// `PATCH /projects/{project}/releases/{version} {"age_days": 15}`: move a release's
/// creation back in time, to reach the release-age rule.
/// `PATCH /projects/{project}/releases/{version}`: `{"status": …, "reason": …}` sets
/// its lifecycle status (the release need not exist yet); `{"age_days": N}` or
/// `{"created_at": UNIX}` backdates it.
async fn patch_release(
    State(app): State<AppState>,
    Path((project, version)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let normalized = packaging::normalize_name(&project);
    let version = packaging::parse_version(&version)
        .map(|v| packaging::canonical_version(&v))
        .unwrap_or(version);
    if let Some(status) = body.get("status") {
        let status: crate::store::ReleaseStatus = status
            .as_str()
            .unwrap_or("")
            .parse()
            .map_err(ApiError::BadRequest)?;
        let reason = text_field(&body, "reason")?;
        app.store
            .set_release_status(&normalized, &version, status, reason)
            .await?;
        return Ok(Json(
            json!({"project": normalized, "version": version, "status": status, "reason": reason}),
        ));
    }
    let created_at = backdated(&body)?;
    match app
        .store
        .set_release_created(&normalized, &version, created_at)
        .await?
    {
        Some(at) => Ok(Json(
            json!({"project": normalized, "version": version, "created_at": at}),
        )),
        None => Err(ApiError::NotFound(format!(
            "no release {version} of '{normalized}'"
        ))),
    }
}

/// Every release's provenance status, oldest first (PyPI shows it only on its
/// release-history page: there is no PyPI API to compare with).
async fn project_provenance(
    State(app): State<AppState>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let normalized = packaging::normalize_name(&project);
    match services::provenance_statuses(&app, &normalized).await? {
        Some(releases) => Ok(Json(json!({"project": normalized, "releases": releases}))),
        None => Err(ApiError::NotFound(format!("no project '{normalized}'"))),
    }
}

async fn release_provenance(
    State(app): State<AppState>,
    Path((project, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let normalized = packaging::normalize_name(&project);
    let version = packaging::parse_version(&version)
        .map(|v| packaging::canonical_version(&v))
        .unwrap_or(version);
    let releases = services::provenance_statuses(&app, &normalized)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no project '{normalized}'")))?;
    match releases.into_iter().find(|r| r.version == version) {
        Some(verdict) => Ok(Json(json!(verdict))),
        None => Err(ApiError::NotFound(format!(
            "no release {version} of '{normalized}'"
        ))),
    }
}

/// An optional text field of a body.
fn text_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r)) => Ok(Some(r.as_str())),
        Some(_) => Err(ApiError::BadRequest(format!("'{name}' must be text"))),
    }
}

/// `PATCH /projects/{project} {"status": "archived", "reason": "…"}` (PEP 792).
async fn set_project_status(
    State(app): State<AppState>,
    Path(project): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let status: crate::store::ProjectStatus = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .parse()
        .map_err(ApiError::BadRequest)?;
    let reason = text_field(&body, "reason")?;
    let normalized = packaging::normalize_name(&project);
    match app
        .store
        .set_project_status(&normalized, status, reason)
        .await?
    {
        Some(p) => Ok(Json(json!({
            "name": p.name,
            "normalized_name": p.normalized_name,
            "status": p.status,
            "status_reason": p.status_reason,
        }))),
        None => Err(ApiError::NotFound(format!("no project '{normalized}'"))),
    }
}

async fn list_prohibited(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"prohibited_names": app.store.list_prohibited().await?}),
    ))
}

/// `POST /prohibited-names {"name": "…", "comment": "…"}`.
async fn add_prohibited(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let body = object(body)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if !packaging::is_valid_name(name) {
        return Err(ApiError::BadRequest(format!(
            "'name' must be a valid project name, not '{name}'"
        )));
    }
    let comment = body.get("comment").and_then(Value::as_str).unwrap_or("");
    let row = app
        .store
        .add_prohibited(&packaging::normalize_name(name), comment)
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(row)).into_response())
}

async fn remove_prohibited(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let normalized = packaging::normalize_name(&name);
    if app.store.remove_prohibited(&normalized).await? {
        Ok(Json(json!({"deleted": normalized})))
    } else {
        Err(ApiError::NotFound(format!(
            "'{normalized}' is not a prohibited name"
        )))
    }
}
