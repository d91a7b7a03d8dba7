//! Projects, releases and files.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::blobs::{BlobStore, StagedFile};
use super::{Store, StoreError, StoreResult, is_unique_violation, now};

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
            self.bump_generation();
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
        let rows = sqlx::query(
            "SELECT f.id, r.version, f.filename, f.packagetype, f.python_version, f.requires_python, f.size, \
             f.md5_digest, f.sha256_digest, f.blake2_256_digest, f.path, f.metadata_sha256, f.metadata_blake2_256, \
             f.upload_time, f.token_id FROM files f JOIN releases r ON r.id = f.release_id \
             WHERE r.project_id = $1 ORDER BY f.filename",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(file_row).collect::<Result<_, _>>()?)
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

    /// Record an upload and move its bytes into place, all or nothing: the blob is
    /// placed inside the transaction and removed again if the commit fails. Four
    /// statements in the common case, since every round trip to the database costs.
    pub async fn store_file(
        &self,
        blobs: &BlobStore,
        staged: &mut StagedFile,
        file: NewFile,
    ) -> StoreResult<StoreFileOutcome> {
        let digests = staged.digests.clone();
        let mut tx = self.write.begin().await?;

        // Get or create the release in one statement (the no-op update makes RETURNING
        // answer on conflict too).
        let release_id: i64 = sqlx::query_scalar(
            "INSERT INTO releases (project_id, version, metadata, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id, version) DO UPDATE SET version = excluded.version RETURNING id",
        )
        .bind(file.project_id)
        .bind(&file.version)
        .bind(file.release_metadata.to_string())
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;

        if file.packagetype == "sdist" {
            let sdists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE release_id = $1 AND packagetype = 'sdist' AND filename <> $2")
                .bind(release_id)
                .bind(&file.filename)
                .fetch_one(&mut *tx)
                .await?;
            if sdists > 0 {
                return Ok(StoreFileOutcome::SecondSdist);
            }
        }

        // Filename and content are both unique: a conflict on either is PyPI's
        // "already exists" (or, byte-identical, its silent 200).
        let inserted = sqlx::query(
            "INSERT INTO files (release_id, filename, packagetype, python_version, requires_python, size, \
             md5_digest, sha256_digest, blake2_256_digest, path, metadata_sha256, metadata_blake2_256, upload_time, token_id, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING",
        )
        .bind(release_id)
        .bind(&file.filename)
        .bind(&file.packagetype)
        .bind(&file.python_version)
        .bind(&file.requires_python)
        .bind(digests.size as i64)
        .bind(&digests.md5)
        .bind(&digests.sha256)
        .bind(&digests.blake2_256)
        .bind(&file.path)
        .bind(file.metadata.as_ref().map(|m| m.sha256.clone()))
        .bind(file.metadata.as_ref().map(|m| m.blake2_256.clone()))
        .bind(now())
        .bind(&file.token_id)
        .bind(file.metadata.as_ref().map(|m| m.bytes.clone()))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                drop(tx);
                return self
                    .classify_existing(&file.filename, &digests.sha256, &digests.blake2_256)
                    .await;
            }
            // PostgreSQL replicas racing on one name can still surface as an error.
            Err(err) if is_unique_violation(&err) => {
                drop(tx);
                return self
                    .classify_existing(&file.filename, &digests.sha256, &digests.blake2_256)
                    .await;
            }
            Err(err) => return Err(err.into()),
        }
        sqlx::query("UPDATE projects SET last_serial = last_serial + 1 WHERE id = $1")
            .bind(file.project_id)
            .execute(&mut *tx)
            .await?;

        let created = blobs
            .place(staged, &file.path)
            .await
            .map_err(anyhow::Error::from)?;
        if let Err(e) = tx.commit().await {
            if created {
                blobs.remove(&file.path).await;
            }
            return Err(e.into());
        }
        self.bump_generation();
        Ok(StoreFileOutcome::Stored)
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

    /// Decide as PyPI does once a file with this name or content exists.
    async fn classify_existing(
        &self,
        filename: &str,
        sha256: &str,
        blake2: &str,
    ) -> StoreResult<StoreFileOutcome> {
        let row = sqlx::query(
            "SELECT filename, sha256_digest, blake2_256_digest FROM files WHERE filename = $1 OR blake2_256_digest = $2",
        )
        .bind(filename)
        .bind(blake2)
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::Conflict)?;
        let (f, s, b): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        Ok(if f == filename && s == sha256 && b == blake2 {
            StoreFileOutcome::Identical
        } else {
            StoreFileOutcome::Exists {
                filename: f,
                blake2_256: b,
            }
        })
    }
}
