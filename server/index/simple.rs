//! `/simple/` and `/simple/<project>/` in PEP 503 HTML or PEP 691 JSON.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::negotiate::{self, V1_JSON};
use super::{escape, file_url, sort_files, version_key};
use crate::app::AppState;
use crate::error::IndexError;
use crate::packaging::normalize_name;
use crate::store::FileRow;
use crate::util::iso_time;

pub const API_VERSION: &str = "1.4";

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

pub async fn index(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let media = negotiate::choose(accept(&headers));
    cached(&app, "", media, render_index(&app, media)).await
}

/// `/simple/<name>` without the slash: PyPI redirects.
pub async fn detail_no_slash(Path(name): Path<String>) -> Response {
    super::moved(&format!("/simple/{}/", normalize_name(&name)))
}

pub async fn detail(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, IndexError> {
    let normalized = normalize_name(&name);
    if normalized != name {
        return Ok(super::moved(&format!("/simple/{normalized}/")));
    }
    let media = negotiate::choose(accept(&headers));
    cached(
        &app,
        &normalized,
        media,
        render_detail(&app, &normalized, media),
    )
    .await
}

/// Serve from the page cache when the store has not changed since the page was
/// rendered; otherwise render (the future is only polled on a miss) and keep it.
async fn cached(
    app: &AppState,
    key: &str,
    media: &'static str,
    render: impl std::future::Future<Output = Result<(i64, String), IndexError>>,
) -> Result<Response, IndexError> {
    let generation = app.store.generation();
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

async fn render_index(app: &AppState, media: &'static str) -> Result<(i64, String), IndexError> {
    let projects = app.store.list_projects().await?;
    let serial = projects.iter().map(|p| p.last_serial).sum::<i64>();
    if media == V1_JSON {
        let list: Vec<Value> = projects
            .iter()
            .map(|p| json!({"name": p.name, "_last-serial": p.last_serial}))
            .collect();
        let body =
            json!({"meta": {"api-version": API_VERSION, "_last-serial": serial}, "projects": list});
        return Ok((serial, body.to_string()));
    }
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
    );
    for p in &projects {
        html += &format!(
            "    <a href=\"/simple/{}/\">{}</a>\n",
            escape(&p.normalized_name),
            escape(&p.name)
        );
    }
    html += "  </body>\n</html>\n";
    Ok((serial, html))
}

async fn render_detail(
    app: &AppState,
    normalized: &str,
    media: &'static str,
) -> Result<(i64, String), IndexError> {
    let project = app
        .store
        .project_by_normalized_name(normalized)
        .await?
        .ok_or(IndexError::NotFound)?;
    let mut files = app.store.project_files(project.id).await?;
    sort_files(&mut files);
    let mut versions: Vec<String> = app
        .store
        .project_releases(project.id)
        .await?
        .into_iter()
        .map(|r| r.version)
        .collect();
    versions.sort_by_key(|a| version_key(a));
    let body = if media == V1_JSON {
        json!({
            "meta": {"api-version": API_VERSION, "_last-serial": project.last_serial},
            "name": project.normalized_name,
            "project-status": {"status": "active"},
            "versions": versions,
            "files": files.iter().map(file_json).collect::<Vec<_>>(),
        })
        .to_string()
    } else {
        detail_html(&project.normalized_name, &files)
    };
    Ok((project.last_serial, body))
}

fn metadata_hash(file: &FileRow) -> Value {
    match &file.metadata_sha256 {
        Some(sha) => json!({"sha256": sha}),
        None => Value::Bool(false),
    }
}

fn file_json(file: &FileRow) -> Value {
    json!({
        "filename": file.filename,
        "url": file_url(file),
        "hashes": {"sha256": file.sha256_digest},
        "requires-python": file.requires_python,
        "size": file.size,
        "upload-time": iso_time(file.upload_time),
        "yanked": false,
        "data-dist-info-metadata": metadata_hash(file),
        "core-metadata": metadata_hash(file),
        "provenance": Value::Null,
    })
}

fn detail_html(name: &str, files: &[FileRow]) -> String {
    let name = escape(name);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n    <meta name=\"pypi:project-status\" content=\"active\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    for f in files {
        let mut attrs = String::new();
        if let Some(rp) = &f.requires_python {
            attrs += &format!(" data-requires-python=\"{}\"", escape(rp));
        }
        if let Some(sha) = &f.metadata_sha256 {
            attrs += &format!(
                " data-dist-info-metadata=\"sha256={sha}\" data-core-metadata=\"sha256={sha}\""
            );
        }
        html += &format!(
            "    <a href=\"{}#sha256={}\"{attrs}>{}</a><br />\n",
            escape(&file_url(f)),
            f.sha256_digest,
            escape(&f.filename)
        );
    }
    html += "  </body>\n</html>\n";
    html
}
