//! Projects, releases and files.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::blobs::StagedFile;
use super::{Store, StoreResult};
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub created_at: i64,
    pub last_serial: i64,
}

#[derive(Clone, Debug)]
pub struct ReleaseRow {
    pub id: i64,
    pub version: String,
    pub metadata: serde_json::Value,
    pub created_at: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FileRow {
    pub id: i64,
    pub version: String,
    pub filename: String,
    pub packagetype: String,
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
}

/// A validated upload, ready to be recorded.
pub struct NewFile {
    pub project_id: i64,
    pub version: String,
    pub release_metadata: serde_json::Value,
    pub filename: String,
    pub packagetype: String,
    pub python_version: String,
    pub requires_python: Option<String>,
    pub path: String,
    pub metadata: Option<WheelMetadata>,
    pub token_id: Option<String>,
}

pub struct WheelMetadata {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub blake2_256: String,
}

/// What happened to an upload at the database.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreFileOutcome {
    Stored,
    /// Same filename and same content: PyPI answers 200 and changes nothing.
    Identical,
    /// Same filename or same content as another file.
    Exists {
        filename: String,
        blake2_256: String,
    },
    SecondSdist,
}

fn project_row(row: &AnyRow) -> Result<ProjectRow, sqlx::Error> {
    Ok(ProjectRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        normalized_name: row.try_get(2)?,
        created_at: row.try_get(3)?,
        last_serial: row.try_get(4)?,
    })
}

const FILE_COLUMNS: &str = "f.id, r.version, f.filename, f.packagetype, f.python_version, f.requires_python, f.size, \
     f.md5_digest, f.sha256_digest, f.blake2_256_digest, f.path, f.metadata_sha256, f.metadata_blake2_256, \
     f.upload_time, f.token_id";

fn file_row(row: &AnyRow) -> Result<FileRow, sqlx::Error> {
    Ok(FileRow {
        id: row.try_get(0)?,
        version: row.try_get(1)?,
        filename: row.try_get(2)?,
        packagetype: row.try_get(3)?,
        python_version: row.try_get(4)?,
        requires_python: row.try_get(5)?,
        size: row.try_get(6)?,
        md5_digest: row.try_get(7)?,
        sha256_digest: row.try_get(8)?,
        blake2_256_digest: row.try_get(9)?,
        path: row.try_get(10)?,
        metadata_sha256: row.try_get(11)?,
        metadata_blake2_256: row.try_get(12)?,
        upload_time: row.try_get(13)?,
        token_id: row.try_get(14)?,
    })
}

impl Store {
    pub async fn project_by_normalized_name(
        &self,
        normalized: &str,
    ) -> StoreResult<Option<ProjectRow>> {
        let row = sqlx::query("SELECT id, name, normalized_name, created_at, last_serial FROM projects WHERE normalized_name = $1")
            .bind(normalized)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(project_row).transpose()?)
    }

    /// Create the project unless it exists; either way return it.
    pub async fn ensure_project(&self, name: &str, normalized: &str) -> StoreResult<ProjectRow> {
        let inserted = sqlx::query(
            "INSERT INTO projects (name, normalized_name, created_at, last_serial) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (normalized_name) DO NOTHING",
        )
        .bind(name)
        .bind(normalized)
        .bind(now())
        .execute(&self.write)
        .await?;
        if inserted.rows_affected() > 0 {
            self.changed().await;
        }
        let row = sqlx::query("SELECT id, name, normalized_name, created_at, last_serial FROM projects WHERE normalized_name = $1")
            .bind(normalized)
            .fetch_one(&self.write)
            .await?;
        Ok(project_row(&row)?)
    }

    pub async fn list_projects(&self) -> StoreResult<Vec<ProjectRow>> {
        let rows = sqlx::query("SELECT id, name, normalized_name, created_at, last_serial FROM projects ORDER BY normalized_name")
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(project_row).collect::<Result<_, _>>()?)
    }

    pub async fn project_files(&self, project_id: i64) -> StoreResult<Vec<FileRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM files f JOIN releases r ON r.id = f.release_id \
             WHERE r.project_id = $1 ORDER BY f.filename"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(file_row).collect::<Result<_, _>>()?)
    }

    /// The files uploaded with one token, with their project's normalized name.
    pub async fn files_by_token(&self, token_id: &str) -> StoreResult<Vec<(String, FileRow)>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS}, p.normalized_name FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = r.project_id WHERE f.token_id = $1 ORDER BY f.upload_time, f.filename"
        )))
        .bind(token_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(15)?, file_row(row)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn project_releases(&self, project_id: i64) -> StoreResult<Vec<ReleaseRow>> {
        let rows = sqlx::query(
            "SELECT id, version, metadata, created_at FROM releases WHERE project_id = $1",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let metadata: String = row.try_get(2)?;
                Ok(ReleaseRow {
                    id: row.try_get(0)?,
                    version: row.try_get(1)?,
                    metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
                    created_at: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Record an upload and move its bytes into place, all or nothing (group-committed
    /// with concurrent uploads; see `file_writer`).
    pub async fn store_file(
        &self,
        staged: StagedFile,
        file: NewFile,
    ) -> StoreResult<StoreFileOutcome> {
        self.files.store(file, staged).await
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
