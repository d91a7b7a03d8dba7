//! Projects, releases and files (the rows; the upload path's writer is in `files`).

use sqlx::AssertSqlSafe;

use super::{Store, StoreResult};
use crate::audit::AttestationReport;
use crate::packaging::FileType;
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub created_at: i64,
    pub last_serial: i64,
    /// PEP 792: `active`, `archived`, `quarantined` or `deprecated`.
    pub status: String,
    pub status_reason: Option<String>,
}

impl ProjectRow {
    pub fn status(&self) -> ProjectStatus {
        self.status.parse().unwrap_or(ProjectStatus::Active)
    }
}

const PROJECT_COLUMNS: &str =
    "id, name, normalized_name, created_at, last_serial, status, status_reason";

/// A project's PEP 792 status marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    Active,
    Archived,
    /// What archiving a project sets on PyPI since 2025: archived, and left out of
    /// PyPI's search index (which mock-pypi does not have). PEP 792 calls it `archived`.
    ArchivedNoindex,
    Quarantined,
    Deprecated,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::ArchivedNoindex => "archived-noindex",
            Self::Quarantined => "quarantined",
            Self::Deprecated => "deprecated",
        }
    }

    /// The PEP 792 marker the index serves (`archived-noindex` is `archived` there).
    pub fn marker(self) -> &'static str {
        match self {
            Self::ArchivedNoindex => "archived",
            other => other.as_str(),
        }
    }
}

/// A release's lifecycle status (Warehouse's `Release.lifecycle_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    Active,
    /// No new files; still installable.
    Archived,
    ArchivedNoindex,
    /// Off the index and the JSON API; trusted publishers may not add files to it.
    Quarantined,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::ArchivedNoindex => "archived-noindex",
            Self::Quarantined => "quarantined",
        }
    }
}

impl std::str::FromStr for ReleaseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "active" => Self::Active,
            "archived" => Self::Archived,
            "archived-noindex" => Self::ArchivedNoindex,
            "quarantined" => Self::Quarantined,
            other => {
                return Err(format!(
                    "unknown release status '{other}' (one of: active, archived, archived-noindex, quarantined)"
                ));
            }
        })
    }
}

impl std::str::FromStr for ProjectStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "active" => Self::Active,
            "archived" => Self::Archived,
            "archived-noindex" => Self::ArchivedNoindex,
            "quarantined" => Self::Quarantined,
            "deprecated" => Self::Deprecated,
            other => {
                return Err(format!(
                    "unknown project status '{other}' (one of: active, archived, archived-noindex, quarantined, deprecated)"
                ));
            }
        })
    }
}

/// Release metadata as stored (JSON text), read leniently: unreadable text is `null`.
#[derive(Clone, Debug)]
pub struct ReleaseMetadata(pub serde_json::Value);

impl From<String> for ReleaseMetadata {
    fn from(text: String) -> Self {
        Self(serde_json::from_str(&text).unwrap_or_default())
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReleaseRow {
    pub version: String,
    #[sqlx(try_from = "String")]
    pub metadata: ReleaseMetadata,
}

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct FileRow {
    pub id: i64,
    pub version: String,
    pub filename: String,
    #[sqlx(try_from = "String")]
    pub packagetype: FileType,
    pub python_version: String,
    pub requires_python: Option<String>,
    pub size: i64,
    pub md5_digest: String,
    pub sha256_digest: String,
    pub blake2_256_digest: String,
    pub path: String,
    pub metadata_sha256: Option<String>,
    pub metadata_blake2_256: Option<String>,
    pub upload_time: i64,
    pub token_id: Option<String>,
    /// The verification report of its attestations, if it had any.
    #[sqlx(try_from = "Option<String>")]
    pub attestations: Report,
}

/// A file's stored attestation report (JSON text): `None` when it had none, or when
/// the text cannot be read (a row from a future version, say).
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Report(pub Option<AttestationReport>);

impl From<Option<String>> for Report {
    fn from(text: Option<String>) -> Self {
        Self(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}

pub(super) const FILE_COLUMNS: &str = "f.id, r.version, f.filename, f.packagetype, f.python_version, f.requires_python, f.size, \
     f.md5_digest, f.sha256_digest, f.blake2_256_digest, f.path, f.metadata_sha256, f.metadata_blake2_256, \
     f.upload_time, f.token_id, f.attestations";

/// A file with its project's normalized name.
#[derive(sqlx::FromRow)]
pub(super) struct ProjectFile {
    #[sqlx(flatten)]
    file: FileRow,
    normalized_name: String,
}

impl ProjectFile {
    pub(super) fn pair(self) -> (String, FileRow) {
        (self.normalized_name, self.file)
    }
}

impl Store {
    pub async fn project_by_normalized_name(
        &self,
        normalized: &str,
    ) -> StoreResult<Option<ProjectRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE normalized_name = $1"
        )))
        .bind(normalized)
        .fetch_optional(&self.read)
        .await?)
    }

    /// The project an upload names, with its release's lifecycle status: the upload's
    /// first read, in one round trip.
    pub async fn project_for_upload(
        &self,
        normalized: &str,
        version: &str,
    ) -> StoreResult<Option<(ProjectRow, ReleaseStatus)>> {
        use sqlx::{FromRow, Row};
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS}, \
             (SELECT r.status FROM release_statuses r WHERE r.project = $1 AND r.version = $2) AS release_status \
             FROM projects WHERE normalized_name = $1"
        )))
        .bind(normalized)
        .bind(version)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: Option<String> = row.try_get("release_status")?;
        let status = status
            .and_then(|s| s.parse().ok())
            .unwrap_or(ReleaseStatus::Active);
        Ok(Some((ProjectRow::from_row(&row)?, status)))
    }

    /// Create the project unless it exists; either way return it.
    pub async fn ensure_project(&self, name: &str, normalized: &str) -> StoreResult<ProjectRow> {
        // The no-op update makes RETURNING answer for an existing row too.
        let row = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO projects (name, normalized_name, created_at, last_serial) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (normalized_name) DO UPDATE SET normalized_name = excluded.normalized_name \
             RETURNING {PROJECT_COLUMNS}"
        )))
        .bind(name)
        .bind(normalized)
        .bind(now())
        .fetch_one(&self.write)
        .await?;
        self.changed().await;
        Ok(row)
    }

    pub async fn list_projects(&self) -> StoreResult<Vec<ProjectRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects ORDER BY normalized_name"
        )))
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn project_files(&self, project_id: i64) -> StoreResult<Vec<FileRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM files f JOIN releases r ON r.id = f.release_id \
             WHERE r.project_id = $1 ORDER BY f.filename"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    /// The files uploaded with one token, with their project's normalized name.
    pub async fn files_by_token(&self, token_id: &str) -> StoreResult<Vec<(String, FileRow)>> {
        let rows: Vec<ProjectFile> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS}, p.normalized_name FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = r.project_id WHERE f.token_id = $1 ORDER BY f.upload_time, f.filename"
        )))
        .bind(token_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(ProjectFile::pair).collect())
    }

    /// The newest uploads across projects, with their project's normalized name.
    pub async fn recent_files(&self, limit: i64) -> StoreResult<Vec<(String, FileRow)>> {
        let rows: Vec<ProjectFile> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS}, p.normalized_name FROM files f JOIN releases r ON r.id = f.release_id              JOIN projects p ON p.id = r.project_id ORDER BY f.upload_time DESC, f.id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(ProjectFile::pair).collect())
    }

    pub async fn project_releases(&self, project_id: i64) -> StoreResult<Vec<ReleaseRow>> {
        Ok(
            sqlx::query_as("SELECT version, metadata FROM releases WHERE project_id = $1")
                .bind(project_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Set a project's PEP 792 status; the project as it is now, if it exists.
    pub async fn set_project_status(
        &self,
        normalized: &str,
        status: ProjectStatus,
        reason: Option<&str>,
    ) -> StoreResult<Option<ProjectRow>> {
        let row = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE projects SET status = $1, status_reason = $2, last_serial = last_serial + 1 \
             WHERE normalized_name = $3 RETURNING {PROJECT_COLUMNS}"
        )))
        .bind(status.as_str())
        .bind(reason)
        .bind(normalized)
        .fetch_optional(&self.write)
        .await?;
        self.changed().await;
        Ok(row)
    }

    /// Set a release's lifecycle status (`active` clears it); the release need not
    /// exist yet.
    pub async fn set_release_status(
        &self,
        normalized: &str,
        version: &str,
        status: ReleaseStatus,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        if status == ReleaseStatus::Active {
            sqlx::query("DELETE FROM release_statuses WHERE project = $1 AND version = $2")
                .bind(normalized)
                .bind(version)
                .execute(&self.write)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO release_statuses (project, version, status, reason) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (project, version) DO UPDATE SET status = excluded.status, reason = excluded.reason",
            )
            .bind(normalized)
            .bind(version)
            .bind(status.as_str())
            .bind(reason)
            .execute(&self.write)
            .await?;
        }
        // The project's pages change: bump its serial so cached pages are rebuilt.
        sqlx::query("UPDATE projects SET last_serial = last_serial + 1 WHERE normalized_name = $1")
            .bind(normalized)
            .execute(&self.write)
            .await?;
        self.changed().await;
        Ok(())
    }

    /// The releases of a project that are not active: (version, status, reason).
    pub async fn release_statuses(
        &self,
        normalized: &str,
    ) -> StoreResult<Vec<(String, ReleaseStatus, Option<String>)>> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT version, status, reason FROM release_statuses WHERE project = $1 ORDER BY version",
        )
        .bind(normalized)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(v, s, r)| (v, s.parse().unwrap_or(ReleaseStatus::Active), r))
            .collect())
    }

    /// Move a release's creation time (to reach the release-age rule without waiting);
    /// the new time, or `None` if there is no such release.
    pub async fn set_release_created(
        &self,
        normalized: &str,
        version: &str,
        created_at: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE releases SET created_at = $1 WHERE version = $2 AND project_id = \
             (SELECT id FROM projects WHERE normalized_name = $3) RETURNING created_at",
        )
        .bind(created_at)
        .bind(version)
        .bind(normalized)
        .fetch_optional(&self.write)
        .await?)
    }

    /// Every release of a project in upload order, with each file's provenance document
    /// (`None`: the file has none; a release without files has one `None` row).
    pub async fn releases_provenance(
        &self,
        normalized: &str,
    ) -> StoreResult<Vec<(String, Option<String>, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT r.version, f.filename, f.provenance FROM releases r \
             JOIN projects p ON p.id = r.project_id LEFT JOIN files f ON f.release_id = r.id \
             WHERE p.normalized_name = $1 ORDER BY r.id, f.filename",
        )
        .bind(normalized)
        .fetch_all(&self.read)
        .await?)
    }

    /// A file's provenance (PEP 740), by project, canonical version and filename: `None`
    /// if there is no such file, `Some(None)` if it has none.
    pub async fn provenance(
        &self,
        normalized: &str,
        version: &str,
        filename: &str,
    ) -> StoreResult<Option<Option<String>>> {
        Ok(sqlx::query_scalar(
            "SELECT f.provenance FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = r.project_id \
             WHERE p.normalized_name = $1 AND r.version = $2 AND f.filename = $3",
        )
        .bind(normalized)
        .bind(version)
        .bind(filename)
        .fetch_optional(&self.read)
        .await?)
    }

    /// The core metadata (PEP 658) of the wheel served at `path`.
    pub async fn file_metadata(&self, path: &str) -> StoreResult<Option<Vec<u8>>> {
        let bytes: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT metadata FROM files WHERE path = $1")
                .bind(path)
                .fetch_optional(&self.read)
                .await?;
        Ok(bytes.flatten())
    }
}
