//! `POST /legacy/`: authenticate, read the form (streaming the file to disk), run the
//! upload checks and store. Any refusal leaves nothing behind: the staged file is
//! deleted when dropped, and the project is created only for a valid upload.

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::UploadError;
use crate::faults::layer;
use crate::faults::{Action, MatchCtx, Route};
use crate::state::AppState;
use crate::store::{BlobStore, NewFile, StoredAttestations, TokenRow};
use crate::upload::{self, HELP};

pub async fn upload(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let json = wants_json(&headers);
    match accept(&app, &query, &headers, multipart).await {
        Ok(None) => (StatusCode::OK, "OK\n").into_response(),
        Ok(Some(injected)) => injected,
        Err(mut e) => {
            e.json = json;
            tracing::info!(status = %e.status, message = %e.message, "upload refused");
            e.into_response()
        }
    }
}

async fn accept(
    app: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Option<Response>, UploadError> {
    // Authentication first: an unauthenticated upload is refused before its body is read.
    let token = authenticate(app, headers).await?;
    let multipart = multipart.map_err(|e| {
        UploadError::bad_request(format!("Invalid upload request: {}", e.body_text()))
    })?;
    let mut form = upload::form::read(multipart, &app.blobs, app.settings.max_upload_bytes).await?;
    let action = form
        .get(":action")
        .or(query.get(":action").map(String::as_str))
        .unwrap_or("")
        .to_owned();
    let meta = upload::check_form(&action, &form)?;
    let file = form
        .file
        .take()
        .ok_or_else(|| UploadError::bad_request("Upload payload does not have a file."))?;
    let normalized = crate::packaging::normalize_name(&meta.name);
    let existing = app.store.project_by_normalized_name(&normalized).await?;
    // Only a new project's name can be prohibited (PyPI checks it on creation).
    let prohibited = existing.is_none() && app.store.is_prohibited(&normalized).await?;
    let plan = upload::check_target(&form, &file, meta, &token, existing.as_ref(), prohibited)?;
    let metadata = upload::inspect(&file, &plan).await?;
    // Only a fully validated upload may create its project (an all-projects API token).
    let project = match existing {
        Some(p) => p,
        None => {
            app.store
                .ensure_project(&plan.meta.name, &plan.normalized)
                .await?
        }
    };
    let attestations = attestations(app, &form, &token, &file).await?;
    let new_file = NewFile {
        project_id: project.id,
        version: plan.meta.version.clone(),
        release_metadata: plan.meta.release_json(&form),
        filename: file.filename.clone(),
        packagetype: plan.meta.filetype.clone(),
        python_version: plan.meta.pyversion.clone(),
        requires_python: form.get("requires_python").map(str::to_owned),
        path: BlobStore::relative_path(&file.staged.digests.blake2_256, &file.filename),
        metadata,
        token_id: Some(token.id.clone()),
        release_cutoff: (app.settings.max_release_age > 0)
            .then(|| crate::util::now() - app.settings.max_release_age),
        attestations,
    };
    let filename = file.filename.clone();
    let after = match handler_fault(app, &project.normalized_name, &filename).await {
        FaultTurn::AnswerNow(r) => return Ok(Some(r)),
        FaultTurn::AnswerAfterStoring(r) => Some(r),
        FaultTurn::Carry => None,
    };
    let outcome = app.store.store_file(file.staged, new_file).await?;
    upload::answer(outcome, app.settings.max_release_age / 86_400)?;
    tracing::info!(file = %filename, project = %project.normalized_name, token = %token.id, "upload stored");
    Ok(after)
}

/// What an upload fault fired in the handler leaves the handler to do.
enum FaultTurn {
    /// Answer this instead of storing.
    AnswerNow(Response),
    /// Store the file, then answer this (stored-then-5xx).
    AnswerAfterStoring(Response),
    /// Store and answer as usual (nothing fired, or a delay or a stale window).
    Carry,
}

/// Faults that need the form fire here, just before the file is stored.
async fn handler_fault(app: &AppState, project: &str, filename: &str) -> FaultTurn {
    let ctx = MatchCtx {
        project: Some(project),
        filename: Some(filename),
        provider: None,
    };
    let Some(f) = app.faults.pick(Route::Upload, ctx, true) else {
        return FaultTurn::Carry;
    };
    crate::faults::record(app, &f, "POST", "/legacy/", Some((project, filename))).await;
    match f.action.clone() {
        Action::Status { .. } => FaultTurn::AnswerNow(layer::injected(Route::Upload, &f)),
        Action::Delay { ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            FaultTurn::Carry
        }
        Action::StoredThenStatus { .. } => {
            FaultTurn::AnswerAfterStoring(layer::injected(Route::Upload, &f))
        }
        Action::StaleFor { seconds } => {
            app.stale
                .hide(project, filename, crate::util::now() + seconds as i64);
            FaultTurn::Carry
        }
        _ => FaultTurn::Carry,
    }
}

/// The `attestations` field checked (off the reactor: it is signature checks), or the
/// reason it is refused; `Ok(None)` when there is none.
async fn attestations(
    app: &AppState,
    form: &upload::form::Form,
    token: &TokenRow,
    file: &upload::form::UploadedFile,
) -> Result<Result<Option<StoredAttestations>, String>, UploadError> {
    let Some(field) = form.get("attestations").map(str::to_owned) else {
        return Ok(Ok(None));
    };
    let publisher = match token.publisher_id {
        Some(id) if token.kind == "oidc" => app
            .store
            .publisher_by_id(id)
            .await?
            .and_then(|r| crate::oidc::publisher::Publisher::try_from(r).ok()),
        _ => None,
    };
    let (roots, oidc) = (app.sigstore_roots.clone(), token.kind == "oidc");
    let (filename, sha256) = (file.filename.clone(), file.staged.digests.sha256.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let uploader = upload::attestations::Uploader {
            oidc,
            publisher: publisher.as_ref(),
        };
        upload::attestations::check(&field, &uploader, &roots, &filename, &sha256)
    })
    .await
    .map_err(UploadError::internal)?;
    if let Err(reason) = &checked {
        tracing::info!(file = %file.filename, %reason, "attestations refused");
    }
    Ok(checked.map(Some))
}

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
    crate::tokens::authenticate(&app.store, &presented)
        .await?
        .map_err(upload::refusal_for)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.trim_start().starts_with("application/json"))
}

/// `GET /legacy/`: a short note instead of Warehouse's HTML page.
pub async fn info() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This is the mock-pypi upload endpoint. POST a multipart form with :action=file_upload.\n",
    )
}
