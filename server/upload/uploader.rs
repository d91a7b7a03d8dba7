//! The upload as one domain operation, shaped like the exchange's `Exchanger`: a thin
//! shell over the pure checks that does the I/O in PyPI's order (the project and the
//! prohibited names, the archive off the reactor, the attestations off the reactor, the
//! store's group commit) and hands back the answer. The handler only reads the request
//! and shapes the response.

use std::future::Future;
use std::sync::Arc;

use super::attestations::{self, UploadedBy};
use super::check::{self, Plan};
use super::form::{Form, UploadedFile};
use crate::error::UploadError;
use crate::oidc::publisher::Publisher;
use crate::sigstore::root::Roots;
use crate::store::{Attestations, BlobStore, NewFile, Store, TokenKind, TokenRow};

/// The index's upload rules from the settings.
#[derive(Clone, Copy, Debug)]
pub struct UploadPolicy {
    /// A release older than this many seconds takes no new files (0: no limit).
    pub max_release_age: i64,
    /// The largest file an upload may carry.
    pub max_upload_bytes: u64,
}

/// What a hook fired just before storing leaves the upload to do.
pub enum Turn<A> {
    /// Answer this instead of storing (nothing is created).
    AnswerNow(A),
    /// Store the file, then answer this.
    AnswerAfterStoring(A),
    /// Store and answer as usual.
    Carry,
}

/// Called once an upload passed every check, before its project is created or its
/// file stored (the failure kit's upload faults).
pub trait BeforeStore {
    type Answer;
    fn before_store(
        &self,
        project: &str,
        filename: &str,
    ) -> impl Future<Output = Turn<Self::Answer>> + Send;
}

pub struct Uploader<'a> {
    pub store: &'a Store,
    pub blobs: &'a BlobStore,
    pub roots: &'a Arc<Roots>,
    pub policy: UploadPolicy,
}

impl Uploader<'_> {
    /// The token presented with the upload, or PyPI's refusal.
    pub async fn authenticate(&self, presented: &str) -> Result<TokenRow, UploadError> {
        crate::tokens::authenticate(self.store, presented)
            .await?
            .map_err(|refusal| {
                // PyPI's words do not say a token was burned; the log does.
                tracing::info!(?refusal, "upload refused: the token cannot upload");
                check::refusal_for(refusal)
            })
    }

    /// Read the upload's form, streaming its file into staging (hashed as it comes).
    pub async fn read_form(
        &self,
        multipart: axum::extract::Multipart,
    ) -> Result<Form, UploadError> {
        super::form::read(multipart, self.blobs, self.policy.max_upload_bytes).await
    }

    /// Check and store an upload read into `form`. `Ok(Some(answer))` when the hook
    /// answered in the upload's place; `Ok(None)` for PyPI's plain 200.
    pub async fn accept<H: BeforeStore>(
        &self,
        token: &TokenRow,
        action: &str,
        mut form: Form,
        hook: &H,
    ) -> Result<Option<H::Answer>, UploadError> {
        let meta = check::check_form(action, &form)?;
        let file = form
            .file
            .take()
            .ok_or_else(|| UploadError::bad_request("Upload payload does not have a file."))?;
        let normalized = crate::packaging::normalize_name(&meta.name);
        let (existing, release) = match self
            .store
            .project_for_upload(&normalized, &meta.version)
            .await?
        {
            Some((project, release)) => (Some(project), release),
            None => (None, crate::store::ReleaseStatus::Active),
        };
        // Only a new project's name can be prohibited (PyPI checks it on creation).
        let prohibited = existing.is_none() && self.store.is_prohibited(&normalized).await?;
        let plan = check::check_target(&form, &file, meta, token, existing.as_ref(), prohibited)?;
        let shown = existing
            .as_ref()
            .map_or(plan.meta.name.as_str(), |p| p.name.as_str());
        check::check_release_status(shown, &plan, release, token)?;
        let metadata = check::inspect(&file, &plan).await?;
        let (attestations, refused) = self.attestations(&form, token, &file).await?;
        // A new project has no file, release or sdist that PyPI would name first.
        if existing.is_none()
            && let Some(reason) = &refused
        {
            return Err(check::attestations_refused(reason));
        }
        let after = match hook.before_store(&plan.normalized, &file.filename).await {
            Turn::AnswerNow(a) => return Ok(Some(a)),
            Turn::AnswerAfterStoring(a) => Some(a),
            Turn::Carry => None,
        };
        // Only a fully validated upload may create its project (an all-projects API token).
        let project = match existing {
            Some(p) => p,
            None => {
                self.store
                    .ensure_project(&plan.meta.name, &plan.normalized)
                    .await?
            }
        };
        let filename = file.filename.clone();
        let new_file = self.new_file(
            project.id,
            &plan,
            &form,
            &file,
            token,
            metadata,
            attestations,
        );
        let outcome = self.store.store_file(file.staged, new_file).await?;
        check::answer(
            outcome,
            self.policy.max_release_age / 86_400,
            refused.as_deref(),
        )?;
        tracing::info!(file = %filename, project = %project.normalized_name, token = %token.id, "upload stored");
        Ok(after)
    }

    /// The row the store records, with the release-age cutoff and the blob's place.
    #[allow(clippy::too_many_arguments)]
    fn new_file(
        &self,
        project_id: i64,
        plan: &Plan,
        form: &Form,
        file: &UploadedFile,
        token: &TokenRow,
        metadata: Option<crate::store::WheelMetadata>,
        attestations: Attestations,
    ) -> NewFile {
        NewFile {
            project_id,
            project: plan.normalized.clone(),
            version: plan.meta.version.clone(),
            release_metadata: plan.meta.release_json(form),
            filename: file.filename.clone(),
            packagetype: plan.meta.filetype,
            python_version: plan.meta.pyversion.clone(),
            requires_python: form.get("requires_python").map(str::to_owned),
            path: BlobStore::relative_path(&file.staged.digests.blake2_256, &file.filename),
            metadata,
            token_id: Some(token.id.clone()),
            release_cutoff: (self.policy.max_release_age > 0)
                .then(|| crate::util::now() - self.policy.max_release_age),
            attestations,
        }
    }

    /// The `attestations` field checked (off the reactor: it is signature checks): what
    /// the store keeps, and PyPI's reason when they are refused.
    async fn attestations(
        &self,
        form: &Form,
        token: &TokenRow,
        file: &UploadedFile,
    ) -> Result<(Attestations, Option<String>), UploadError> {
        let Some(field) = form.get("attestations").map(str::to_owned) else {
            return Ok((Attestations::None, None));
        };
        let oidc = token.kind == TokenKind::Oidc;
        let publisher = match token.publisher_id {
            Some(id) if oidc => self
                .store
                .publisher_by_id(id)
                .await?
                .and_then(|r| Publisher::try_from(r).ok()),
            _ => None,
        };
        let roots = self.roots.clone();
        let (filename, sha256) = (file.filename.clone(), file.staged.digests.sha256.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let by = UploadedBy {
                oidc,
                publisher: publisher.as_ref(),
            };
            attestations::check(&field, &by, &roots, &filename, &sha256)
        })
        .await
        .map_err(UploadError::internal)?;
        Ok(match checked {
            Ok(stored) => (Attestations::Verified(stored), None),
            Err(reason) => {
                tracing::info!(file = %file.filename, %reason, "attestations refused");
                (Attestations::Refused, Some(reason))
            }
        })
    }
}
