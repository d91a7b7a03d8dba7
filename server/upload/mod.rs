//! `POST /legacy/`: Warehouse's upload API. Checks run in Warehouse's order; any
//! refusal leaves nothing behind (the staged file is deleted when dropped).

mod form;
mod validate;

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::app::AppState;
use crate::error::UploadError;
use crate::packaging;
use crate::store::{BlobStore, NewFile, StoreFileOutcome, TokenRow};
use crate::tokens::{self, Refusal};

pub use form::{MAX_FIELD_BYTES, MAX_FIELDS, MAX_TEXT_BYTES};

const HELP: &str = "See the mock-pypi README (Troubleshooting) for more information.";

/// The token from `Authorization: Basic __token__:<t>` (or `token <t>` / `Bearer <t>`).
fn presented_token(headers: &HeaderMap) -> Result<String, UploadError> {
    let missing = || {
        UploadError::forbidden(format!(
            "Invalid or non-existent authentication information. {HELP}"
        ))
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(missing)?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).map_err(|_| missing())?;
        let decoded = String::from_utf8(decoded).map_err(|_| missing())?;
        let (user, password) = decoded.split_once(':').ok_or_else(missing)?;
        if user != "__token__" {
            return Err(UploadError::forbidden(format!(
                "Username/Password authentication is no longer supported. Migrate to API Tokens or Trusted Publishers instead. {HELP}"
            )));
        }
        Ok(password.trim().to_owned())
    } else if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        Ok(rest.trim().to_owned())
    } else {
        Err(missing())
    }
}

async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<TokenRow, UploadError> {
    let presented = presented_token(headers)?;
    match tokens::authenticate(&app.store, &presented).await? {
        Ok(row) => Ok(row),
        Err(Refusal::Unknown) => Err(UploadError::forbidden(format!(
            "Invalid or non-existent authentication information. {HELP}"
        ))),
        Err(Refusal::Expired) => Err(UploadError::forbidden(
            "Invalid API Token: token is expired",
        )),
        Err(Refusal::Burned(kind)) if kind == "oidc" => Err(UploadError::forbidden(
            "Invalid API Token: token was revoked (burned with /_/oidc/burn-token); mint a new one",
        )),
        Err(Refusal::Burned(_)) => Err(UploadError::forbidden(
            "Invalid API Token: token was revoked (DELETE /_mock/api/tokens/ID); create a new one",
        )),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim_start().starts_with("application/json"))
}

pub async fn upload(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let json = wants_json(&headers);
    match handle(&app, &query, &headers, multipart).await {
        Ok(response) => response,
        Err(mut e) => {
            e.json = json;
            tracing::info!(status = %e.status, message = %e.message, "upload refused");
            e.into_response()
        }
    }
}

async fn handle(
    app: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, UploadError> {
    // Authentication first: an unauthenticated upload is refused before its body is read.
    let token = authenticate(app, headers).await?;
    let multipart = multipart.map_err(|e| {
        UploadError::bad_request(format!("Invalid upload request: {}", e.body_text()))
    })?;
    let mut form = form::read(multipart, &app.blobs, app.settings.max_upload_bytes).await?;

    let action = form
        .get(":action")
        .or(query.get(":action").map(String::as_str))
        .unwrap_or("");
    match action {
        "file_upload" => {}
        "submit" | "submit_pkg_info" => {
            return Err(UploadError {
                status: StatusCode::GONE,
                ..UploadError::bad_request(
                    "Project pre-registration is no longer required or supported, upload your files instead.",
                )
            });
        }
        "doc_upload" => {
            return Err(UploadError {
                status: StatusCode::GONE,
                ..UploadError::bad_request("Uploading documentation is no longer supported.")
            });
        }
        "" => {
            return Err(UploadError::bad_request(
                "Missing ':action' field: legacy uploads send ':action=file_upload'.",
            ));
        }
        other => {
            return Err(UploadError::bad_request(format!(
                "Unknown ':action' '{other}'."
            )));
        }
    }

    let meta = validate::form_metadata(&form)?;
    let Some(file) = form.file.take() else {
        return Err(UploadError::bad_request(
            "Upload payload does not have a file.",
        ));
    };

    let normalized = packaging::normalize_name(&meta.name);
    let existing = app.store.project_by_normalized_name(&normalized).await?;
    if existing.is_none() && token.kind == "oidc" {
        return Err(UploadError::bad_request(
            "Non-user identities cannot create new projects. This was probably caused by successfully using a pending \
             publisher but specifying the project name incorrectly (either in the publisher or in your project's metadata). \
             Please ensure that both match.",
        ));
    }
    // Scope first: a refused upload must not create the project it names.
    if !tokens::allows_project(&token, &normalized) {
        let what = if token.kind == "oidc" {
            "OIDC scoped token"
        } else {
            "project-scoped token"
        };
        let name = existing
            .as_ref()
            .map_or(meta.name.as_str(), |p| p.name.as_str());
        return Err(UploadError::forbidden(format!(
            "Invalid API Token: {what} is not valid for project '{name}'"
        )));
    }

    validate::filename(&file.filename, &meta.filetype, file.content_type.as_deref())?;
    validate::digests(&form, &file.staged.digests)?;
    let dist = validate::distribution(&file.filename, &meta, &normalized)?;

    // Archive checks read the file: blocking work, off the reactor.
    let path = file
        .staged
        .path()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| UploadError::internal("staged file vanished"))?;
    let (filetype, wheel_parts) = (meta.filetype.clone(), dist.clone());
    let metadata = tokio::task::spawn_blocking(move || {
        validate::archive(&path, &filetype, wheel_parts.as_ref())
    })
    .await
    .map_err(UploadError::internal)??;
    if let Some(bytes) = &metadata {
        validate::wheel_metadata_matches(bytes, &normalized, &meta.version)?;
    }
    // Only a fully validated upload may create its project (an all-projects API token).
    let project = match existing {
        Some(p) => p,
        None => app.store.ensure_project(&meta.name, &normalized).await?,
    };

    let relative = BlobStore::relative_path(&file.staged.digests.blake2_256, &file.filename);
    let new_file = NewFile {
        project_id: project.id,
        version: meta.version.clone(),
        release_metadata: meta.release_json(&form),
        filename: file.filename.clone(),
        packagetype: meta.filetype.clone(),
        python_version: meta.pyversion.clone(),
        requires_python: form.get("requires_python").map(str::to_owned),
        path: relative,
        metadata: metadata.map(validate::wheel_metadata_record),
        token_id: Some(token.id.clone()),
    };
    match app.store.store_file(file.staged, new_file).await? {
        StoreFileOutcome::Stored | StoreFileOutcome::Identical => {
            tracing::info!(file = %file.filename, project = %project.normalized_name, token = %token.id, "upload stored");
            Ok((StatusCode::OK, "OK\n").into_response())
        }
        StoreFileOutcome::Exists {
            filename,
            blake2_256,
        } => Err(UploadError::bad_request(format!(
            "File already exists ('{filename}', with blake2_256 hash '{blake2_256}'). {HELP}"
        ))),
        StoreFileOutcome::SecondSdist => Err(UploadError::bad_request(
            "Only one sdist may be uploaded per release.",
        )),
    }
}

/// `GET /legacy/`: a short note instead of Warehouse's HTML page.
pub async fn info() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This is the mock-pypi upload endpoint. POST a multipart form with :action=file_upload.\n",
    )
}
