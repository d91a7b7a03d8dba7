//! `/_mock/api/workshop`: the room (admin), a seat (its own token or admin), joining a
//! seat (anyone in the room, once per seat) and resetting one (admin).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::control::bearer;
use super::json::{Body, object};
use crate::error::ApiError;
use crate::state::AppState;
use crate::workshop::{JoinError, Room};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(room))
        .route("/ca", get(ca))
        .route("/join", post(join))
        .route("/seat", get(own_seat))
        .route("/seats/{seat}", get(seat))
        .route("/seats/{seat}/reset", post(reset))
}

/// Who is asking: the instructor (admin token), a seat, or nobody known.
enum Caller {
    Admin,
    Seat(u32),
}

fn caller(app: &AppState, room: &Room, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    if crate::util::constant_time_eq(token, &app.admin_token) {
        return Ok(Caller::Admin);
    }
    room.seat_of_token(token)
        .map(Caller::Seat)
        .ok_or(ApiError::Unauthorized)
}

fn the_room(app: &AppState) -> Result<&Room, ApiError> {
    app.workshop.as_deref().ok_or_else(|| {
        ApiError::NotFound(
            "this server runs no workshop: start it with `mock-pypi workshop`".into(),
        )
    })
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::Store(crate::store::StoreError::Other(e))
}

async fn room(State(app): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let room = the_room(&app)?;
    match caller(&app, room, &headers)? {
        Caller::Admin => Ok(Json(room.room_report(&app).await.map_err(internal)?)),
        Caller::Seat(s) => Err(ApiError::Forbidden(format!(
            "seat {s}'s token shows its own seat (GET /_mock/api/workshop/seat); the room is the instructor's"
        ))),
    }
}

async fn seat_answer(app: &AppState, room: &Room, seat: u32) -> Result<Json<Value>, ApiError> {
    match room.seat_report(app, seat).await.map_err(internal)? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::NotFound(format!(
            "there is no seat {seat}: this room has seats 1 to {}",
            room.plan.seats
        ))),
    }
}

async fn own_seat(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let room = the_room(&app)?;
    match caller(&app, room, &headers)? {
        Caller::Seat(s) => seat_answer(&app, room, s).await,
        Caller::Admin => Err(ApiError::BadRequest(
            "the admin token has no seat: GET /_mock/api/workshop/seats/K".into(),
        )),
    }
}

async fn seat(
    State(app): State<AppState>,
    Path(seat): Path<u32>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let room = the_room(&app)?;
    match caller(&app, room, &headers)? {
        Caller::Admin => seat_answer(&app, room, seat).await,
        Caller::Seat(s) if s == seat => seat_answer(&app, room, seat).await,
        Caller::Seat(s) => Err(ApiError::Forbidden(format!(
            "seat {s}'s token cannot read seat {seat}"
        ))),
    }
}

async fn reset(
    State(app): State<AppState>,
    Path(seat): Path<u32>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let room = the_room(&app)?;
    if let Caller::Seat(s) = caller(&app, room, &headers)? {
        return Err(ApiError::Forbidden(format!(
            "seat {s}'s token cannot reset seats (the instructor's admin token does)"
        )));
    }
    if !room.reset(&app, seat).await.map_err(internal)? {
        return Err(ApiError::NotFound(format!("there is no seat {seat}")));
    }
    tracing::info!(seat, "workshop seat reset");
    Ok(Json(json!({"seat": seat, "reset": true, "joined": false})))
}

/// The test CA, for `join` to check against the instructor's fingerprint before it
/// takes a seat.
async fn ca(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    the_room(&app)?;
    let pem = app
        .ca_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .ok_or_else(|| {
            ApiError::NotFound("this server has no test CA (its own certificate)".into())
        })?;
    Ok(Json(json!({"ca_pem": pem})))
}

/// `{"seat": K}` → the seat's token and everything `mock-pypi join` writes.
async fn join(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let room = the_room(&app)?;
    let body = object(body)?;
    let seat = body
        .get("seat")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| ApiError::BadField {
            field: "seat".into(),
            message: format!("a seat number from 1 to {}", room.plan.seats),
        })?;
    let joined = room.join(seat).await.map_err(|e| match e {
        JoinError::NoSuchSeat { .. } => ApiError::NotFound(e.to_string()),
        JoinError::Taken { .. } => ApiError::Conflict(e.to_string()),
        JoinError::Io(e) => internal(e),
    })?;
    let names = room.names(seat);
    let info = crate::server_info::ServerInfo::read(&app.settings.data_dir).map_err(internal)?;
    let read =
        |p: &Option<std::path::PathBuf>| p.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    let starter: serde_json::Map<String, Value> = room
        .seat(seat)
        .map(|plan| {
            plan.exercises
                .iter()
                .filter(|e| !e.starter.is_empty())
                .map(|e| (e.id.clone(), json!(e.starter)))
                .collect()
        })
        .unwrap_or_default();
    tracing::info!(seat, owner = %names.owner, "workshop seat joined");
    Ok((
        StatusCode::OK,
        Json(json!({
            "seat": seat,
            "owner": names.owner,
            "token": joined.token,
            "http_url": info.http_url,
            "https_url": info.https_url,
            "upload_url": info.upload_url,
            "simple_url": info.simple_url,
            "issuer_url": info.issuer_url,
            "issuers": info.issuers,
            "audience": info.audience,
            "sigstore_url": info.sigstore_url,
            "ca_pem": read(&info.ca_file),
            "sigstore_trusted_root": read(&info.sigstore_trusted_root),
            "page": format!("{}/_mock/dashboard/workshop/seats/{seat}", app.public_url),
            "starter": starter,
        })),
    )
        .into_response())
}
