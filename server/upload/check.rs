//! The upload decision: every check that needs no I/O, in Warehouse's order, then the
//! archive inspection (blocking, off the reactor) and the answer for what the store did.

use axum::http::StatusCode;

use super::form::{Form, UploadedFile};
use super::validate::{self, FormMetadata, WheelParts};
use crate::error::UploadError;
use crate::error::{HELP, prohibited_name};
use crate::packaging::{self, FileType, metadata::Archive};
use crate::store::{
    ProjectRow, ProjectStatus, ReleaseStatus, StoreFileOutcome, TokenKind, TokenRow, WheelMetadata,
};
use crate::tokens::Refusal;

/// What a valid upload will store.
#[derive(Debug)]
pub struct Plan {
    pub meta: FormMetadata,
    pub normalized: String,
    /// The wheel's name parts, to find its `.dist-info` (sdists: `None`).
    pub wheel: Option<WheelParts>,
}

/// Why a presented token cannot upload, in Warehouse's words.
pub fn refusal_for(refusal: Refusal) -> UploadError {
    match refusal {
        Refusal::Unknown => UploadError::forbidden(format!(
            "Invalid or non-existent authentication information. {HELP}"
        )),
        Refusal::Expired => UploadError::forbidden("Invalid API Token: token is expired"),
        // PyPI deletes a burned token's macaroon, so it is refused as a token it never
        // knew (the burn's audit row says what happened).
        Refusal::Burned(TokenKind::Oidc) => UploadError::forbidden(format!(
            "Invalid or non-existent authentication information. {HELP}"
        )),
        Refusal::Used => UploadError::forbidden(
            "Invalid API Token: this single-use token was already used for an upload (PEP 807 single-use-token); mint a new one",
        ),
        Refusal::Burned(_) => UploadError::forbidden(
            "Invalid API Token: token was revoked (DELETE /_mock/api/tokens/ID); create a new one",
        ),
    }
}

/// The action and the form's metadata fields.
pub fn check_form(action: &str, form: &Form) -> Result<FormMetadata, UploadError> {
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
    let meta = validate::form_metadata(form)?;
    if form.file.is_none() {
        return Err(UploadError::bad_request(
            "Upload payload does not have a file.",
        ));
    }
    Ok(meta)
}

/// Who may upload what: the project (existing or not), the token's scope, then the
/// file's name, digests and name parts.
pub fn check_target(
    form: &Form,
    file: &UploadedFile,
    meta: FormMetadata,
    token: &TokenRow,
    existing: Option<&ProjectRow>,
    prohibited: bool,
) -> Result<Plan, UploadError> {
    let normalized = packaging::normalize_name(&meta.name);
    if existing.is_none() && token.kind == TokenKind::Oidc {
        return Err(UploadError::bad_request(
            "Non-user identities cannot create new projects. This was probably caused by successfully using a pending \
             publisher but specifying the project name incorrectly (either in the publisher or in your project's metadata). \
             Please ensure that both match.",
        ));
    }
    if existing.is_none() && prohibited {
        return Err(UploadError::bad_request(prohibited_name(&meta.name)));
    }
    // Scope first: a refused upload must not create the project it names.
    if !crate::tokens::allows_project(token, &normalized) {
        let what = if token.kind == TokenKind::Oidc {
            "OIDC scoped token"
        } else {
            "project-scoped token"
        };
        let name = existing.map_or(meta.name.as_str(), |p| p.name.as_str());
        return Err(UploadError::forbidden(format!(
            "Invalid API Token: {what} is not valid for project '{name}'"
        )));
    }
    if let Some(project) = existing {
        check_status(project, token)?;
    }
    validate::filename(&file.filename, meta.filetype, file.content_type.as_deref())?;
    validate::digests(form, &file.staged.digests)?;
    let wheel = validate::distribution(&file.filename, &meta, &normalized)?;
    Ok(Plan {
        meta,
        normalized,
        wheel,
    })
}

/// PEP 792 statuses as PyPI's permissions apply them: an archived project takes no
/// uploads; a quarantined one takes none from trusted publishers (its owners may
/// still upload to fix it).
fn check_status(project: &ProjectRow, token: &TokenRow) -> Result<(), UploadError> {
    let refused = match project.status() {
        ProjectStatus::Archived | ProjectStatus::ArchivedNoindex => true,
        ProjectStatus::Quarantined => token.kind == TokenKind::Oidc,
        ProjectStatus::Active | ProjectStatus::Deprecated => false,
    };
    if refused {
        return Err(UploadError::forbidden(format!(
            "The given token isn't allowed to upload to project '{}'. {HELP}",
            project.name
        )));
    }
    Ok(())
}

/// A release's lifecycle status as PyPI's permissions would apply it (derived from the
/// project-level rules): an archived release takes no new files; a quarantined one
/// none from trusted publishers.
pub fn check_release_status(
    project: &str,
    plan: &Plan,
    status: ReleaseStatus,
    token: &TokenRow,
) -> Result<(), UploadError> {
    let refused = match status {
        ReleaseStatus::Archived | ReleaseStatus::ArchivedNoindex => true,
        ReleaseStatus::Quarantined => token.kind == TokenKind::Oidc,
        ReleaseStatus::Active => false,
    };
    if refused {
        tracing::info!(
            project = %plan.normalized,
            version = %plan.meta.version,
            status = status.as_str(),
            "upload refused: the release's lifecycle status"
        );
        return Err(UploadError::forbidden(format!(
            "The given token isn't allowed to upload to project '{project}'. {HELP}"
        )));
    }
    Ok(())
}

/// Open the archive (blocking work, off the reactor); a wheel's METADATA must agree
/// with its name and version.
pub async fn inspect(
    file: &UploadedFile,
    plan: &Plan,
) -> Result<Option<WheelMetadata>, UploadError> {
    let (filetype, wheel) = (plan.meta.filetype, plan.wheel.clone());
    let metadata = match (file.staged.bytes(), file.staged.path()) {
        // A tiny wheel's central directory and METADATA are read in microseconds:
        // less than the hand-off to a blocking thread. Sdists always go off the
        // reactor (decompression is bounded, but not by microseconds).
        (Some(bytes), _) if bytes.len() <= INLINE_INSPECT && filetype == FileType::BdistWheel => {
            validate::archive(Archive::Bytes(bytes), filetype, wheel.as_ref())?
        }
        (Some(bytes), _) => {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || {
                validate::archive(Archive::Bytes(&bytes), filetype, wheel.as_ref())
            })
            .await
            .map_err(UploadError::internal)??
        }
        (None, Some(path)) => {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || {
                validate::archive(Archive::File(&path), filetype, wheel.as_ref())
            })
            .await
            .map_err(UploadError::internal)??
        }
        (None, None) => return Err(UploadError::internal("staged file vanished")),
    };
    if let Some(bytes) = &metadata {
        validate::wheel_metadata_matches(bytes, &plan.normalized, &plan.meta.version)?;
    }
    Ok(metadata.map(validate::wheel_metadata_record))
}

/// Wheels up to this size are inspected on the reactor.
const INLINE_INSPECT: usize = 16 * 1024;

/// PyPI's refusal for attestations that did not verify (`reason` follows its prefix).
pub fn attestations_refused(reason: &str) -> UploadError {
    UploadError::bad_request(format!("{}{reason}", super::attestations::PREFIX))
}

/// The answer for what the store did with a valid upload (`refused`: why its
/// attestations were refused, if they were).
pub fn answer(
    outcome: StoreFileOutcome,
    max_age_days: i64,
    refused: Option<&str>,
) -> Result<(), UploadError> {
    match outcome {
        StoreFileOutcome::Stored | StoreFileOutcome::Identical => Ok(()),
        StoreFileOutcome::Exists {
            filename,
            blake2_256,
        } => Err(UploadError::bad_request(format!(
            "File already exists ('{filename}', with blake2_256 hash '{blake2_256}'). {HELP}"
        ))),
        StoreFileOutcome::SecondSdist => Err(UploadError::bad_request(
            "Only one sdist may be uploaded per release.",
        )),
        StoreFileOutcome::AttestationsRefused => {
            Err(attestations_refused(refused.unwrap_or_default()))
        }
        StoreFileOutcome::ReleaseTooOld => Err(UploadError::bad_request(format!(
            "Uploading new files to releases older than {max_age_days} days is not allowed."
        ))),
    }
}
