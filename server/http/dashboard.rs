//! `/_mock/dashboard/`: load the data, build the page's view (`dashboard`), render.
//! Reading is open, like the index itself; adding a publisher needs the admin token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::audit::ExchangeOutcome;
use crate::dashboard::{
    BASE, BurnLine, ExchangeLine, ExchangePage, ExchangesPage, FaultEventLine, FaultLine,
    FaultsPage, FileLine, Frame, IssuerLine, IssuersPage, OverviewPage, ProjectBlock, ProjectsPage,
    PublisherLine, PublishersPage, ResetPage, SeatPage, WorkshopPage,
};
use crate::services;
use crate::services::ServiceError;
use crate::state::{AppState, IndexName};
use crate::store::ExchangeFilter;
use crate::util::now;

/// Nested at the dashboard's base; the overview itself is `{BASE}/` (see `http`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|State(app): State<AppState>| async move {
                Redirect::permanent(&format!("{}{BASE}/", app.index.mount()))
            }),
        )
        .route("/style.css", get(style))
        .route("/exchanges", get(exchanges))
        .route("/exchanges/{id}", get(exchange))
        .route("/publishers", get(publishers).post(add_publisher))
        .route("/projects", get(projects))
        .route("/issuers", get(issuers))
        .route("/faults", get(faults))
        .route("/workshop", get(workshop))
        .route("/workshop/seats/{seat}", get(workshop_seat))
        .route(
            "/workshop/reset",
            get(workshop_reset_page).post(workshop_reset),
        )
}

/// Every page's frame, with the banner when faults are armed.
fn frame(app: &AppState, section: &'static str) -> Frame {
    let mut frame = Frame::new(section)
        .with_faults(app.faults.list().len())
        .of_index(app.index == IndexName::TestPyPI, app.testpypi.is_some());
    frame.workshop = app.workshop.is_some();
    frame
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../dashboard/style.css"),
    )
        .into_response()
}

fn page(status: StatusCode, template: impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed").into_response()
        }
    }
}

/// A page that could not be loaded (the cause is logged, never shown).
pub struct Failed;

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        tracing::error!(error = %e, "dashboard query failed");
        Failed
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
            .into_response()
    }
}

pub async fn overview(State(app): State<AppState>) -> Result<Response, Failed> {
    let now = now();
    let filter = ExchangeFilter {
        limit: Some(200),
        ..Default::default()
    };
    let rows = app.store.list_exchanges(&filter).await?;
    let accepted = rows
        .iter()
        .filter(|e| e.outcome == ExchangeOutcome::Accepted)
        .count();
    let uploads = app.store.recent_files(10).await?;
    let publishers = services::publishers(&app, None).await?;
    Ok(page(
        StatusCode::OK,
        OverviewPage {
            frame: frame(&app, "overview"),
            upload_url: format!("{}/legacy/", app.https_url()),
            simple_url: format!("{}/simple/", app.public_url),
            accepted,
            refused: rows.len() - accepted,
            exchanges: rows
                .iter()
                .take(10)
                .map(|e| ExchangeLine::new(e, now))
                .collect(),
            uploads: uploads
                .iter()
                .map(|(project, f)| FileLine::new(project, f, now))
                .collect(),
            publishers: publishers
                .iter()
                .map(|p| PublisherLine::new(p, now))
                .collect(),
            projects: app.store.list_projects().await?.len(),
        },
    ))
}

#[derive(Deserialize)]
struct Live {
    live: Option<String>,
}

async fn exchanges(State(app): State<AppState>, Query(q): Query<Live>) -> Result<Response, Failed> {
    let filter = ExchangeFilter {
        limit: Some(200),
        ..Default::default()
    };
    let now = now();
    let rows = app.store.list_exchanges(&filter).await?;
    let burns = app.store.burns(None, 20).await?;
    let mut frame = frame(&app, "exchanges");
    frame.refresh = q.live.is_some();
    Ok(page(
        StatusCode::OK,
        ExchangesPage {
            frame,
            exchanges: rows.iter().map(|e| ExchangeLine::new(e, now)).collect(),
            burns: burns.iter().map(|b| BurnLine::new(b, now)).collect(),
        },
    ))
}

async fn exchange(State(app): State<AppState>, Path(id): Path<i64>) -> Result<Response, Failed> {
    Ok(match services::exchange_activity(&app, id).await? {
        Some(activity) => {
            let mut view = ExchangePage::new(&activity, now());
            view.frame = frame(&app, "exchanges");
            page(StatusCode::OK, view)
        }
        None => (StatusCode::NOT_FOUND, format!("no exchange {id}")).into_response(),
    })
}

async fn publishers_page(
    app: &AppState,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, Failed> {
    let publishers = services::publishers(app, None).await?;
    Ok(page(
        status,
        PublishersPage {
            frame: frame(app, "publishers"),
            publishers: publishers
                .iter()
                .map(|p| PublisherLine::new(p, now()))
                .collect(),
            notice,
            error,
        },
    ))
}

#[derive(Deserialize)]
struct Added {
    added: Option<i64>,
}

async fn publishers(
    State(app): State<AppState>,
    Query(q): Query<Added>,
) -> Result<Response, Failed> {
    let notice = q.added.map(|id| format!("Publisher {id} added."));
    publishers_page(&app, StatusCode::OK, notice, None).await
}

/// One of the four add-publisher forms: `provider`, `pending`, `admin_token`, and the
/// provider's own fields, named as the control API names them.
#[derive(Deserialize)]
struct NewPublisher {
    provider: String,
    #[serde(default)]
    pending: String,
    admin_token: String,
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, String>,
}

async fn add_publisher(
    State(app): State<AppState>,
    Form(form): Form<NewPublisher>,
) -> Result<Response, Failed> {
    if !crate::util::constant_time_eq(form.admin_token.trim(), &app.admin_token) {
        let error = "Wrong admin token: it is printed by `mock-pypi serve` and kept in the data directory's admin-token file.";
        return publishers_page(&app, StatusCode::UNAUTHORIZED, None, Some(error.into())).await;
    }
    let mut body: Map<String, Value> = form
        .fields
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    body.insert("provider".into(), form.provider.into());
    body.insert("pending".into(), (form.pending == "true").into());
    match services::add_publisher(&app, &body).await {
        Ok(p) => Ok(Redirect::to(&format!(
            "{}{BASE}/publishers?added={}",
            app.index.mount(),
            p.id
        ))
        .into_response()),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict(_))) => {
            publishers_page(&app, StatusCode::BAD_REQUEST, None, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn projects(State(app): State<AppState>) -> Result<Response, Failed> {
    let now = now();
    let mut projects = Vec::new();
    for p in app.store.list_projects().await? {
        let files = app.store.project_files(p.id).await?;
        let provenance =
            crate::provenance::from_rows(app.store.releases_provenance(&p.normalized_name).await?);
        let lifecycle = app.store.release_statuses(&p.normalized_name).await?;
        projects.push(ProjectBlock::new(&p, &files, &provenance, &lifecycle, now));
    }
    Ok(page(
        StatusCode::OK,
        ProjectsPage {
            frame: frame(&app, "projects"),
            projects,
        },
    ))
}

async fn issuers(State(app): State<AppState>) -> Result<Response, Failed> {
    let issuers = app
        .store
        .list_issuers()
        .await?
        .iter()
        .map(|i| IssuerLine::new(i, app.jwks.cached_kids(i)))
        .collect();
    Ok(page(
        StatusCode::OK,
        IssuersPage {
            frame: frame(&app, "issuers"),
            issuers,
        },
    ))
}

async fn faults(State(app): State<AppState>, Query(q): Query<Live>) -> Result<Response, Failed> {
    let now = now();
    let events = app.store.fault_events(200).await?;
    // The counters as the database holds them now (the view's are as last loaded).
    let armed = crate::fault_state::list(&app).await?;
    let mut frame = frame(&app, "faults");
    frame.refresh = q.live.is_some();
    Ok(page(
        StatusCode::OK,
        FaultsPage {
            frame,
            faults: armed.iter().map(|a| FaultLine::new(a, now)).collect(),
            events: events.iter().map(|e| FaultEventLine::new(e, now)).collect(),
            scenarios: crate::faults::scenarios::all()
                .iter()
                .map(|s| (s.name, s.what))
                .collect(),
        },
    ))
}

/// `?live=0` stops a workshop page's refreshing (they refresh by default: a projector
/// and an attendee's page follow the room).
fn live(q: &Live) -> bool {
    q.live.as_deref() != Some("0")
}

fn no_workshop() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this server runs no workshop: start it with `mock-pypi workshop`",
    )
        .into_response()
}

async fn workshop(State(app): State<AppState>, Query(q): Query<Live>) -> Result<Response, Failed> {
    let Some(room) = app.workshop.clone() else {
        return Ok(no_workshop());
    };
    let standings = room.standings(&app).await?;
    let mut frame = frame(&app, "workshop");
    frame.refresh = live(&q);
    Ok(page(
        StatusCode::OK,
        WorkshopPage::new(frame, &standings, &room.plan.source, app.public_url.clone()),
    ))
}

async fn workshop_seat(
    State(app): State<AppState>,
    Path(seat): Path<u32>,
    Query(q): Query<Live>,
) -> Result<Response, Failed> {
    let Some(room) = app.workshop.clone() else {
        return Ok(no_workshop());
    };
    let Some((plan, standing)) = room.standing(&app, seat).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            format!(
                "there is no seat {seat}: this room has seats 1 to {}",
                room.plan.seats
            ),
        )
            .into_response());
    };
    let last = match standing.exchanges.first() {
        Some(id) => app.store.exchange(*id).await?,
        None => None,
    };
    let mut frame = frame(&app, "workshop");
    frame.refresh = live(&q);
    Ok(page(
        StatusCode::OK,
        SeatPage::new(frame, &plan, &standing, last.as_ref(), now()),
    ))
}

fn reset_page(
    app: &AppState,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let seats = app.workshop.as_ref().map_or(0, |r| r.plan.seats);
    page(
        status,
        ResetPage {
            frame: frame(app, "workshop"),
            seats,
            notice,
            error,
        },
    )
}

async fn workshop_reset_page(State(app): State<AppState>) -> Response {
    if app.workshop.is_none() {
        return no_workshop();
    }
    reset_page(&app, StatusCode::OK, None, None)
}

#[derive(Deserialize)]
struct SeatReset {
    seat: String,
    admin_token: String,
}

async fn workshop_reset(
    State(app): State<AppState>,
    Form(form): Form<SeatReset>,
) -> Result<Response, Failed> {
    let Some(room) = app.workshop.clone() else {
        return Ok(no_workshop());
    };
    if !crate::util::constant_time_eq(form.admin_token.trim(), &app.admin_token) {
        let error = "Wrong admin token: it is printed by `mock-pypi workshop` and kept in the data directory's admin-token file.";
        return Ok(reset_page(
            &app,
            StatusCode::UNAUTHORIZED,
            None,
            Some(error.into()),
        ));
    }
    let Ok(seat) = form.seat.trim().parse::<u32>() else {
        let error = format!("'{}' is not a seat number", form.seat.trim());
        return Ok(reset_page(&app, StatusCode::BAD_REQUEST, None, Some(error)));
    };
    if !room.reset(&app, seat).await? {
        let error = format!(
            "There is no seat {seat}: this room has seats 1 to {}.",
            room.plan.seats
        );
        return Ok(reset_page(&app, StatusCode::NOT_FOUND, None, Some(error)));
    }
    tracing::info!(seat, "workshop seat reset (dashboard)");
    let notice = format!(
        "Seat {seat} was reset: its attendee joins again with `mock-pypi join … --seat {seat}`."
    );
    Ok(reset_page(&app, StatusCode::OK, Some(notice), None))
}
