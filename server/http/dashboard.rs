//! The dashboard: server-rendered pages (no JavaScript) that show every exchange step
//! by step, the publishers (with a form to add one), projects and files, and the
//! trusted issuers with their cached keys. Reading is open, like the index itself;
//! adding a publisher needs the admin token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::oidc::publisher::PublisherConfig;
use crate::state::AppState;
use crate::store::ExchangeFilter;
use crate::util::iso_time;

const BASE: &str = "/_mock/dashboard";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::to(&format!("{BASE}/exchanges")) }),
        )
        .route("/style.css", get(style))
        .route("/exchanges", get(exchanges))
        .route("/exchanges/{id}", get(exchange))
        .route("/publishers", get(publishers).post(add_publisher))
        .route("/projects", get(projects))
        .route("/issuers", get(issuers))
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

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard query failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log",
    )
        .into_response()
}

/// A JSON value as display text (strings without quotes).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

struct ExchangeLine {
    id: i64,
    when: String,
    provider: String,
    outcome: String,
    accepted: bool,
    project: String,
    description: String,
}

#[derive(Template)]
#[template(path = "dashboard/exchanges.html")]
struct ExchangesPage {
    base: &'static str,
    section: &'static str,
    refresh: bool,
    exchanges: Vec<ExchangeLine>,
}

#[derive(Deserialize)]
struct Live {
    live: Option<String>,
}

async fn exchanges(State(app): State<AppState>, Query(q): Query<Live>) -> Response {
    let filter = ExchangeFilter {
        limit: Some(200),
        ..Default::default()
    };
    let rows = match app.store.list_exchanges(&filter).await {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let exchanges = rows
        .into_iter()
        .map(|e| ExchangeLine {
            id: e.id,
            when: iso_time(e.created_at),
            provider: e.provider.unwrap_or_default(),
            accepted: e.outcome == "accepted",
            outcome: e.outcome,
            project: e.project.unwrap_or_default(),
            description: e.description,
        })
        .collect();
    page(
        StatusCode::OK,
        ExchangesPage {
            base: BASE,
            section: "exchanges",
            refresh: q.live.is_some(),
            exchanges,
        },
    )
}

struct StepLine {
    step: String,
    ok: bool,
    detail: String,
}

struct VerdictLine {
    claim: String,
    expected: String,
    actual: String,
    rule: String,
    ok: bool,
}

struct CandidateBlock {
    id: i64,
    project: String,
    summary: String,
    selected: bool,
    verdicts: Vec<VerdictLine>,
}

struct TokenLine {
    id: String,
    expires: String,
    burned: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/exchange.html")]
struct ExchangePage {
    base: &'static str,
    section: &'static str,
    refresh: bool,
    e: ExchangeLine,
    header: String,
    header_ok: bool,
    claims: Vec<(String, String)>,
    steps: Vec<StepLine>,
    key: Option<String>,
    candidates: Vec<CandidateBlock>,
    token: Option<TokenLine>,
    uploads: Vec<(String, String)>,
    api: String,
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

async fn exchange(State(app): State<AppState>, Path(id): Path<i64>) -> Response {
    let activity = match crate::services::exchange_activity(&app, id).await {
        Ok(Some(v)) => v,
        Ok(None) => return (StatusCode::NOT_FOUND, format!("no exchange {id}")).into_response(),
        Err(e) => return failed(e),
    };
    let detail = &activity["detail"];
    let claims: Vec<(String, String)> = detail["claims"]
        .as_object()
        .map(|m: &Map<String, Value>| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let steps = array(detail, "steps")
        .iter()
        .map(|s| StepLine {
            step: text(&s["step"]),
            ok: s["ok"] == Value::Bool(true),
            detail: text(&s["detail"]),
        })
        .collect();
    let candidates = array(detail, "candidates")
        .iter()
        .map(|c| CandidateBlock {
            id: c["publisher_id"].as_i64().unwrap_or_default(),
            project: text(&c["project"]),
            summary: text(&c["summary"]),
            selected: c["selected"] == Value::Bool(true),
            verdicts: array(c, "verdicts")
                .iter()
                .map(|v| VerdictLine {
                    claim: text(&v["claim"]),
                    expected: text(&v["expected"]),
                    actual: if v["actual"].is_null() {
                        "(absent)".into()
                    } else {
                        text(&v["actual"])
                    },
                    rule: text(&v["rule"]),
                    ok: v["ok"] == Value::Bool(true),
                })
                .collect(),
        })
        .collect();
    let token = activity["token"].as_object().map(|t| TokenLine {
        id: text(&t["id"]),
        expires: t["expires_at"].as_i64().map(iso_time).unwrap_or_default(),
        burned: t["burned_at"].as_i64().map(iso_time),
    });
    let uploads = array(&activity, "uploads")
        .iter()
        .map(|u| (text(&u["project"]), text(&u["filename"])))
        .collect();
    let key = detail["key"]
        .as_object()
        .map(|k| format!("{} from {}", text(&k["kid"]), text(&k["jwks_url"])));
    page(
        StatusCode::OK,
        ExchangePage {
            base: BASE,
            section: "exchanges",
            refresh: false,
            e: ExchangeLine {
                id,
                when: activity["created_at"]
                    .as_i64()
                    .map(iso_time)
                    .unwrap_or_default(),
                provider: text(&activity["provider"]),
                outcome: text(&activity["outcome"]),
                accepted: activity["outcome"] == "accepted",
                project: text(&activity["project"]),
                description: text(&activity["description"]),
            },
            header: serde_json::to_string_pretty(&detail["header"]).unwrap_or_default(),
            header_ok: !detail["header"].is_null(),
            claims,
            steps,
            key,
            candidates,
            token,
            uploads,
            api: format!("/_mock/api/exchanges/{id}"),
        },
    )
}

struct PublisherLine {
    id: i64,
    provider: String,
    project: String,
    summary: String,
    pending: bool,
}

#[derive(Template)]
#[template(path = "dashboard/publishers.html")]
struct PublishersPage {
    base: &'static str,
    section: &'static str,
    refresh: bool,
    publishers: Vec<PublisherLine>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Added {
    added: Option<i64>,
}

async fn publishers_page(
    app: &AppState,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let rows = match app.store.list_publishers(None).await {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let publishers = rows
        .into_iter()
        .map(|p| PublisherLine {
            summary: p
                .provider
                .parse()
                .and_then(|provider| PublisherConfig::parse(provider, &p.config, None))
                .map(|c| c.describe())
                .unwrap_or_default(),
            id: p.id,
            provider: p.provider,
            project: p.project,
            pending: p.pending,
        })
        .collect();
    page(
        status,
        PublishersPage {
            base: BASE,
            section: "publishers",
            refresh: false,
            publishers,
            notice,
            error,
        },
    )
}

async fn publishers(State(app): State<AppState>, Query(q): Query<Added>) -> Response {
    let notice = q.added.map(|id| format!("Publisher {id} added."));
    publishers_page(&app, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct NewPublisher {
    project: String,
    repository: String,
    workflow_filename: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    pending: String,
    admin_token: String,
}

async fn add_publisher(State(app): State<AppState>, Form(form): Form<NewPublisher>) -> Response {
    if !crate::util::constant_time_eq(form.admin_token.trim(), &app.admin_token) {
        let error = "Wrong admin token: it is printed by `mock-pypi serve` and kept in the data directory's admin-token file.";
        return publishers_page(&app, StatusCode::UNAUTHORIZED, None, Some(error.into())).await;
    }
    let mut body = Map::new();
    body.insert("provider".into(), "github".into());
    body.insert("project".into(), form.project.into());
    body.insert("repository".into(), form.repository.into());
    body.insert("workflow_filename".into(), form.workflow_filename.into());
    body.insert("environment".into(), form.environment.into());
    body.insert("pending".into(), (form.pending == "true").into());
    match crate::services::add_publisher(&app, &body).await {
        Ok(row) => Redirect::to(&format!("{BASE}/publishers?added={}", row.id)).into_response(),
        Err(e) => publishers_page(&app, StatusCode::BAD_REQUEST, None, Some(e.to_string())).await,
    }
}

struct FileLine {
    filename: String,
    version: String,
    size: i64,
    when: String,
    token: String,
}

struct ProjectBlock {
    name: String,
    normalized: String,
    files: Vec<FileLine>,
}

#[derive(Template)]
#[template(path = "dashboard/projects.html")]
struct ProjectsPage {
    base: &'static str,
    section: &'static str,
    refresh: bool,
    simple: &'static str,
    projects: Vec<ProjectBlock>,
}

async fn projects(State(app): State<AppState>) -> Response {
    let rows = match app.store.list_projects().await {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let mut projects = Vec::new();
    for p in rows {
        let files = match app.store.project_files(p.id).await {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        projects.push(ProjectBlock {
            name: p.name,
            normalized: p.normalized_name,
            files: files
                .into_iter()
                .map(|f| FileLine {
                    filename: f.filename,
                    version: f.version,
                    size: f.size,
                    when: iso_time(f.upload_time),
                    token: f.token_id.unwrap_or_default(),
                })
                .collect(),
        });
    }
    page(
        StatusCode::OK,
        ProjectsPage {
            base: BASE,
            section: "projects",
            refresh: false,
            simple: "/simple",
            projects,
        },
    )
}

struct IssuerLine {
    provider: String,
    url: String,
    keys_from: String,
    kids: Vec<String>,
}

#[derive(Template)]
#[template(path = "dashboard/issuers.html")]
struct IssuersPage {
    base: &'static str,
    section: &'static str,
    refresh: bool,
    issuers: Vec<IssuerLine>,
}

async fn issuers(State(app): State<AppState>) -> Response {
    let rows = match app.store.list_issuers().await {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let issuers = rows
        .into_iter()
        .map(|i| IssuerLine {
            kids: app.jwks.cached_kids(&i),
            keys_from: i
                .jwks_url
                .clone()
                .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", i.url)),
            provider: i.provider,
            url: i.url,
        })
        .collect();
    page(
        StatusCode::OK,
        IssuersPage {
            base: BASE,
            section: "issuers",
            refresh: false,
            issuers,
        },
    )
}
