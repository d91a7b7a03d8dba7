//! `/_mock/api/faults` and `/_mock/api/scenarios`: the failure kit's control routes
//! (behind the admin token with the rest of the control API).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::json::Body;
use crate::error::ApiError;
use crate::services;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/events", get(fault_events))
        .route("/faults/{id}", delete(remove_fault))
        .route("/scenarios", get(list_scenarios))
        .route("/scenarios/{name}", get(get_scenario))
        .route("/scenarios/{name}/arm", post(arm_scenario))
}

/// Armed faults with their counters, and requests per route since the last clear.
async fn list_faults(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let requests: Map<String, Value> = app
        .faults
        .requests()
        .into_iter()
        .map(|(r, n)| (r.as_str().to_owned(), Value::from(n)))
        .collect();
    let armed = crate::fault_state::list(&app).await?;
    Ok(Json(json!({"faults": armed, "requests": requests})))
}

/// `POST /faults {"route": …, "match": …, "when": …, <one action>}`.
async fn add_fault(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let Json(definition) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let armed = services::arm_fault(&app, &definition).await?;
    Ok((axum::http::StatusCode::CREATED, Json(armed)).into_response())
}

/// Disarm everything, zero the counters and end stale-page windows.
async fn clear_faults(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let n = crate::fault_state::clear(&app).await?;
    Ok(Json(json!({"cleared": n})))
}

async fn remove_fault(
    State(app): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    if crate::fault_state::remove(&app, id).await? {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(ApiError::NotFound(format!("no armed fault {id}")))
    }
}

#[derive(serde::Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn fault_events(
    State(app): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let events = app.store.fault_events(q.limit.unwrap_or(100)).await?;
    Ok(Json(json!({"events": events})))
}

async fn list_scenarios() -> Json<Value> {
    Json(json!({"scenarios": crate::faults::scenarios::all()}))
}

async fn get_scenario(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    crate::faults::scenarios::find(&name)
        .map(|s| Json(json!(s)))
        .ok_or_else(|| ApiError::NotFound(format!("no scenario '{name}'")))
}

async fn arm_scenario(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let armed = services::arm_scenario(&app, &name).await?;
    Ok((axum::http::StatusCode::CREATED, Json(armed)).into_response())
}
