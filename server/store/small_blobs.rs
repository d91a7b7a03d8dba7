//! Small distributions' bytes (see `blobs.rs`): read by digest for downloads, and the
//! migration of data directories written before they moved into the database.

use std::path::{Path, PathBuf};

use sqlx::Row;

use super::blobs::{BlobStore, SMALL_BLOB};
use super::{Store, StoreResult};
use crate::util::now;

/// A small blob as the download handler serves it.
pub struct SmallBlob {
    pub content: Vec<u8>,
    /// When it was stored (seconds): its `Last-Modified`.
    pub created_at: i64,
}

impl Store {
    /// The bytes of a small file, by its BLAKE2b-256 digest; `None` if it is not a small
    /// file (a large one lives under `files/`) or does not exist.
    pub async fn small_blob(&self, blake2_256: &str) -> StoreResult<Option<SmallBlob>> {
        let row = sqlx::query("SELECT content, created_at FROM small_blobs WHERE blake2_256 = $1")
            .bind(blake2_256)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SmallBlob {
            content: row.try_get("content")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// How many small files the database holds, and their bytes.
    pub async fn small_blob_totals(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(LENGTH(content)), 0) AS BIGINT) AS bytes FROM small_blobs",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((row.try_get("n")?, row.try_get("bytes")?))
    }

    /// Data directories written before small files moved into the database hold them
    /// under `files/`: each one whose bytes still match its digest is copied into
    /// `small_blobs`, then its file removed (the copy commits first, so a crash between
    /// the two leaves both, and a later start finishes). Replicas starting together
    /// may both copy a file: the insert keeps the first. Returns how many moved.
    pub async fn migrate_small_files(&self, blobs: &BlobStore) -> anyhow::Result<usize> {
        let root = blobs.root().to_path_buf();
        let found = tokio::task::spawn_blocking(move || small_files(&root)).await??;
        let mut moved = 0;
        for chunk in found.chunks(64) {
            let chunk = chunk.to_vec();
            let loaded = tokio::task::spawn_blocking(move || load(chunk)).await?;
            let mut tx = self.write.begin().await?;
            for (_, digest, content, at) in &loaded {
                sqlx::query("INSERT INTO small_blobs (blake2_256, content, created_at) VALUES ($1, $2, $3) ON CONFLICT (blake2_256) DO NOTHING")
                    .bind(digest.as_str())
                    .bind(content.as_slice())
                    .bind(*at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            for (path, ..) in &loaded {
                if std::fs::remove_file(path).is_ok() {
                    moved += 1;
                }
                if let Some(dir) = path.parent() {
                    // Only succeeds once the directory is empty.
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
        Ok(moved)
    }
}

/// Files under `files/<2>/<2>/<60>` small enough for the database, with their digests.
fn small_files(root: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    let dirs = |p: &Path| -> std::io::Result<Vec<std::fs::DirEntry>> {
        match std::fs::read_dir(p) {
            Ok(entries) => entries.collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    for a in dirs(root)? {
        for b in dirs(&a.path())? {
            for blob in dirs(&b.path())? {
                let name = format!(
                    "{}{}{}",
                    a.file_name().to_string_lossy(),
                    b.file_name().to_string_lossy(),
                    blob.file_name().to_string_lossy()
                );
                let small = blob
                    .metadata()
                    .is_ok_and(|m| m.is_file() && m.len() <= SMALL_BLOB as u64);
                if small && name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()) {
                    found.push((blob.path(), name));
                }
            }
        }
    }
    Ok(found)
}

/// Read and check a chunk of old small files (blocking): a file whose bytes are not
/// what its name promises is left where it is and never served from the database.
fn load(chunk: Vec<(PathBuf, String)>) -> Vec<(PathBuf, String, Vec<u8>, i64)> {
    let mut loaded = Vec::with_capacity(chunk.len());
    for (path, digest) in chunk {
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        if super::digests::digests(&content).blake2_256 != digest {
            tracing::warn!(
                "{}: contents do not match its digest; left in place",
                path.display()
            );
            continue;
        }
        let at = modified(&path).unwrap_or_else(now);
        loaded.push((path, digest, content, at));
    }
    loaded
}

fn modified(path: &Path) -> Option<i64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}
