//! What installers read: `/simple/` (PEP 503 HTML, PEP 691 JSON), `/pypi/…/json` and
//! the files with their PEP 658 metadata. Simple pages are cached until the store's
//! change counter moves.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::error::IndexError;
use crate::index::{download, json_api, moved, negotiate, simple, sort_files, version_key};
use crate::packaging::normalize_name;
use crate::state::{AppState, Scheme};
use crate::store::{BlobStore, FileRow, ProjectRow, ProjectStatus, ReleaseRow, ReleaseStatus};

fn respond(media: &'static str, serial: i64, body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert("X-PyPI-Last-Serial", HeaderValue::from(serial));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// Serve from the page cache when the store has not changed since the page was
/// rendered; otherwise render (the future is only polled on a miss) and keep it.
async fn cached(
    app: &AppState,
    key: &str,
    media: &'static str,
    render: impl std::future::Future<Output = Result<(i64, String), IndexError>>,
) -> Result<Response, IndexError> {
    let generation = app.store.page_stamp(key);
    if let Some(page) = generation.and_then(|g| app.pages.get(key, media, g)) {
        return Ok(respond(media, page.serial, page.body));
    }
    let (serial, body) = render.await?;
    let body = Bytes::from(body);
    if let Some(g) = generation {
        app.pages.put(key, media, g, serial, body.clone());
    }
    Ok(respond(media, serial, body))
}

pub async fn simple_index(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let media = negotiate::choose(accept(&headers));
    cached(&app, "", media, async {
        let mut projects = app.store.list_projects().await?;
        // PyPI leaves quarantined projects out of the index.
        projects.retain(|p| p.status() != ProjectStatus::Quarantined);
        Ok(simple::index_page(&projects, media, app.index.mount()))
    })
    .await
}

/// `/simple/<name>` without the slash: PyPI redirects.
pub async fn simple_detail_no_slash(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    moved(&format!(
        "{}/simple/{}/",
        app.index.mount(),
        normalize_name(&name)
    ))
}

pub async fn simple_detail(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let normalized = match canonical(&name, |n| format!("{}/simple/{n}/", app.index.mount())) {
        Ok(n) => n,
        Err(path) => return Ok(moved(&path)),
    };
    let media = negotiate::choose(accept(&headers));
    let render = async {
        let (project, releases, files) = load(&app, &normalized, IndexError::NotFound).await?;
        let versions: Vec<String> = releases.into_iter().map(|r| r.version).collect();
        let body = simple::detail_page(
            &project,
            &files,
            &versions,
            media,
            &app.https_url(),
            app.index.mount(),
        );
        Ok((project.last_serial, body))
    };
    // A page with files kept off it (a stale-cache fault) is never cached.
    if crate::fault_state::hidden(&app, &normalized)
        .await?
        .is_empty()
    {
        cached(&app, &normalized, media, render).await
    } else {
        let (serial, body) = render.await?;
        Ok(respond(media, serial, Bytes::from(body)))
    }
}

/// The PEP 503 name, or the path of the same page under it, where PyPI redirects
/// (`at` builds that path from the normalized name).
fn canonical(name: &str, at: impl Fn(&str) -> String) -> Result<String, String> {
    let normalized = normalize_name(name);
    if normalized == name {
        Ok(normalized)
    } else {
        Err(at(&normalized))
    }
}

/// A project with its releases and files, both in PEP 440 order. A quarantined
/// project shows none (PyPI offers nothing from it for installation).
async fn load(
    app: &AppState,
    normalized: &str,
    missing: IndexError,
) -> Result<(ProjectRow, Vec<ReleaseRow>, Vec<FileRow>), IndexError> {
    let project = app
        .store
        .project_by_normalized_name(normalized)
        .await?
        .ok_or(missing)?;
    if project.status() == ProjectStatus::Quarantined {
        return Ok((project, Vec::new(), Vec::new()));
    }
    let mut releases = app.store.project_releases(project.id).await?;
    releases.sort_by_key(|a| version_key(&a.version));
    let mut files = app.store.project_files(project.id).await?;
    let hidden = crate::fault_state::hidden(app, normalized).await?;
    files.retain(|f| !hidden.contains(&f.filename));
    // A quarantined release is offered for nothing, as a quarantined project is.
    let quarantined: Vec<String> = app
        .store
        .release_statuses(normalized)
        .await?
        .into_iter()
        .filter(|(_, s, _)| *s == ReleaseStatus::Quarantined)
        .map(|(v, _, _)| v)
        .collect();
    releases.retain(|r| !quarantined.contains(&r.version));
    files.retain(|f| !quarantined.contains(&f.version));
    sort_files(&mut files);
    Ok((project, releases, files))
}

/// The absolute origin clients used (`https://host:port`), for absolute URLs.
fn origin(headers: &HeaderMap, app: &AppState, scheme: Option<Scheme>) -> String {
    let scheme = scheme.map_or("http", |s| s.as_str());
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("{scheme}://{host}{}", app.index.mount()),
        None => app.public_url.clone(),
    }
}

pub async fn json_project(
    State(app): State<AppState>,
    Path(name): Path<String>,
    scheme: Option<axum::Extension<Scheme>>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let normalized = match canonical(&name, |n| format!("{}/pypi/{n}/json", app.index.mount())) {
        Ok(n) => n,
        Err(path) => return Ok(moved(&path)),
    };
    let origin = origin(&headers, &app, scheme.map(|s| s.0));
    let (project, releases, files) = load(&app, &normalized, IndexError::JsonNotFound).await?;
    let mut document = json_api::project_document(&project, &releases, &files, &origin)
        .ok_or(IndexError::JsonNotFound)?;
    let verdicts = crate::provenance::from_rows(app.store.releases_provenance(&normalized).await?);
    document[json_api::MOCK_KEY] = json_api::provenance_key(&verdicts, None);
    Ok(Json(document).into_response())
}

pub async fn json_release(
    State(app): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    scheme: Option<axum::Extension<Scheme>>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let normalized = match canonical(&name, |n| {
        format!("{}/pypi/{n}/{version}/json", app.index.mount())
    }) {
        Ok(n) => n,
        Err(path) => return Ok(moved(&path)),
    };
    let origin = origin(&headers, &app, scheme.map(|s| s.0));
    let (project, releases, files) = load(&app, &normalized, IndexError::JsonNotFound).await?;
    let mut document = json_api::release_document(&project, &releases, &files, &version, &origin)
        .ok_or(IndexError::JsonNotFound)?;
    let verdicts = crate::provenance::from_rows(app.store.releases_provenance(&normalized).await?);
    let release = document["info"]["version"].as_str().map(str::to_owned);
    document[json_api::MOCK_KEY] = json_api::provenance_key(&verdicts, release.as_deref());
    Ok(Json(document).into_response())
}

/// PyPI's Integrity API: a file's provenance (PEP 740), negotiated between
/// `application/vnd.pypi.integrity.v1+json` (the default) and `application/json`.
pub async fn provenance(
    State(app): State<AppState>,
    Path((project, version, filename)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let message = |status: StatusCode, text: String| {
        let mut r = (status, Json(serde_json::json!({"message": text}))).into_response();
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        r
    };
    let Some(media) = crate::index::negotiate::integrity(accept(&headers)) else {
        return Ok(message(
            StatusCode::NOT_ACCEPTABLE,
            "Request not acceptable".into(),
        ));
    };
    let version = crate::packaging::parse_version(&version)
        .map(|v| crate::packaging::canonical_version(&v))
        .unwrap_or(version);
    let found = app
        .store
        .provenance(&normalize_name(&project), &version, &filename)
        .await?;
    let Some(Some(document)) = found else {
        return Ok(message(
            StatusCode::NOT_FOUND,
            format!("No provenance available for {filename}"),
        ));
    };
    let mut response = (StatusCode::OK, document).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=600"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    Ok(response)
}

/// `/files/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<filename>` and its `.metadata` (PEP 658).
pub async fn file(
    State(app): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> Result<Response, IndexError> {
    if let Some(wheel) = path.strip_suffix(".metadata") {
        let bytes = app
            .store
            .file_metadata(wheel)
            .await?
            .ok_or(IndexError::NotFound)?;
        let mut response = (StatusCode::OK, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return Ok(response);
    }
    let digest = BlobStore::digest_of_url(&path).ok_or(IndexError::NotFound)?;
    if let Some(small) = app.store.small_blob(&digest).await? {
        let blob = download::Blob {
            content: small.content.into(),
            blake2_256: digest,
            stored_at: small.created_at,
        };
        return Ok(download::respond(blob, request.headers()));
    }
    let blob = app.blobs.blob_for_url(&path).ok_or(IndexError::NotFound)?;
    // ServeFile answers HEAD, Range and conditional requests.
    let response = match ServeFile::new(blob).oneshot(request).await {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    if response.status() == StatusCode::NOT_FOUND {
        return Err(IndexError::NotFound);
    }
    Ok(response)
}
