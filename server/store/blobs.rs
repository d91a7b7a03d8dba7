//! Content-addressed file store. Uploads are streamed into a temporary file by a
//! blocking worker that hashes as it writes (so memory stays flat and hashing stays
//! off the reactor), then renamed atomically to `files/<b2[..2]>/<b2[2..4]>/<b2[4..]>`.
//! URLs keep PyPI's shape, `/files/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<filename>`: the
//! filename is for installers (pip reads it from the URL), the blob is found by hash.
//! One inode per distribution: creating files is the dominant cost of small uploads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use blake2::Blake2b;
use blake2::digest::consts::U32;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

type Blake2b256 = Blake2b<U32>;

/// Chunks in flight between the request and the workers; bounds memory per upload
/// (at most CHANNEL_DEPTH × BATCH_BYTES, plus the batch being filled).
const CHANNEL_DEPTH: usize = 8;
/// Network chunks are small; handing each to a thread costs a wake-up, so they are
/// gathered into batches of this size first.
const BATCH_BYTES: usize = 512 * 1024;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// Digests of a staged file, lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
}

/// A fully written temporary file. Removed on drop unless persisted.
#[derive(Debug)]
pub struct StagedFile {
    path: Option<PathBuf>,
    pub digests: Digests,
}

/// Receives the chunks of one upload. A file that fits in one batch (most
/// distributions) is created, written and hashed in a single blocking call when the
/// upload ends. A larger one is handed to two blocking workers as it arrives: one
/// writes and computes md5, the other SHA-256 and BLAKE2b (three digests on one core
/// would cap uploads near 280 MB/s).
pub struct StagingWriter {
    batch: bytes::BytesMut,
    workers: Option<Workers>,
    path: PathBuf,
    /// Set when the upload is abandoned; whoever touches the file last removes it.
    cancelled: Arc<AtomicBool>,
    done: bool,
}

struct Workers {
    senders: Option<[mpsc::Sender<Bytes>; 2]>,
    writer: JoinHandle<std::io::Result<(u64, String)>>,
    hasher: JoinHandle<(String, String)>,
}

/// A staging file untouched this long belongs to an upload that died.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl BlobStore {
    pub fn new(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&tmp)?;
        // Leftovers from a crash mid-upload are never referenced by a row. Replicas
        // share this directory, so only files nobody has written to for a while go:
        // an upload in progress keeps its file's mtime fresh.
        let stale = std::time::SystemTime::now() - STALE_STAGING;
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < stale);
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self { root, tmp })
    }

    /// Relative path (URL path below `/files/`) for a file with this blake2 digest.
    pub fn relative_path(blake2_256: &str, filename: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            &blake2_256[..2],
            &blake2_256[2..4],
            &blake2_256[4..],
            filename
        )
    }

    /// Where the bytes behind a `/files/` URL path live, if the path has PyPI's shape.
    pub fn blob_for_url(&self, url_path: &str) -> Option<PathBuf> {
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match url_path.split('/').collect::<Vec<_>>().as_slice() {
            [a, b, rest, name] if hex(a, 2) && hex(b, 2) && hex(rest, 60) && !name.is_empty() => {
                Some(self.root.join(a).join(b).join(rest))
            }
            _ => None,
        }
    }

    /// Start a new staged upload (nothing touches the disk yet).
    pub fn staging_writer(&self) -> StagingWriter {
        StagingWriter {
            batch: bytes::BytesMut::with_capacity(BATCH_BYTES),
            workers: None,
            path: self
                .tmp
                .join(format!("upload-{}", crate::util::random_hex(12))),
            cancelled: Arc::new(AtomicBool::new(false)),
            done: false,
        }
    }

    /// Move staged files into the store in one blocking call (each `tokio::fs` call
    /// would be a thread hop of its own). Returns the URL paths of the blobs this call
    /// created; on failure every move is undone and every staged file removed.
    pub async fn place_all(
        &self,
        moves: Vec<(&mut StagedFile, &str)>,
    ) -> std::io::Result<Vec<String>> {
        let mut targets = Vec::with_capacity(moves.len());
        for (_, url) in &moves {
            targets.push(
                self.blob_for_url(url)
                    .ok_or_else(|| std::io::Error::other("malformed blob path"))?,
            );
        }
        let mut work = Vec::with_capacity(moves.len());
        for ((staged, url), target) in moves.into_iter().zip(targets) {
            let source = staged
                .path
                .take()
                .ok_or_else(|| std::io::Error::other("the staged file was already placed"))?;
            work.push((source, target, url.to_owned()));
        }
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut created: Vec<usize> = Vec::new();
            for (i, (source, target, _)) in work.iter().enumerate() {
                let existed = target.exists();
                let moved = match target.parent() {
                    Some(parent) => std::fs::create_dir_all(parent)
                        .and_then(|_| std::fs::rename(source, target)),
                    None => Err(std::io::Error::other("blob path without a parent")),
                };
                if let Err(e) = moved {
                    for (source, _, _) in &work[i..] {
                        let _ = std::fs::remove_file(source);
                    }
                    for &c in &created {
                        let _ = std::fs::remove_file(&work[c].1);
                    }
                    return Err(e);
                }
                if !existed {
                    created.push(i);
                }
            }
            Ok(created.into_iter().map(|c| work[c].2.clone()).collect())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Remove a stored blob (used to undo a failed commit).
    pub async fn remove(&self, url_path: &str) {
        if let Some(path) = self.blob_for_url(url_path) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

impl StagingWriter {
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.batch.extend_from_slice(&chunk);
        if self.batch.len() < BATCH_BYTES {
            return Ok(());
        }
        let full = self.batch.split().freeze();
        self.batch.reserve(BATCH_BYTES);
        if self.workers.is_none() {
            self.workers = Some(self.start_workers());
        }
        self.send(full).await
    }

    fn start_workers(&self) -> Workers {
        let (to_writer, mut writer_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let (to_hasher, mut hasher_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let (path, cancelled) = (self.path.clone(), self.cancelled.clone());
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::create(&path)?;
            let mut md5 = Md5::new();
            let mut size = 0u64;
            while let Some(chunk) = writer_rx.blocking_recv() {
                file.write_all(&chunk)?;
                md5.update(&chunk);
                size += chunk.len() as u64;
            }
            file.flush()?;
            if cancelled.load(Ordering::Acquire) {
                let _ = std::fs::remove_file(&path);
            }
            Ok((size, hex::encode(md5.finalize())))
        });
        let hasher = tokio::task::spawn_blocking(move || {
            let (mut sha, mut b2) = (Sha256::new(), Blake2b256::new());
            while let Some(chunk) = hasher_rx.blocking_recv() {
                sha.update(&chunk);
                b2.update(&chunk);
            }
            (hex::encode(sha.finalize()), hex::encode(b2.finalize()))
        });
        Workers {
            senders: Some([to_writer, to_hasher]),
            writer,
            hasher,
        }
    }

    async fn send(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let Some(Workers {
            senders: Some([to_writer, to_hasher]),
            ..
        }) = &self.workers
        else {
            return Ok(());
        };
        // `Bytes` clones share the buffer: both workers read the same chunk.
        let sent =
            to_hasher.send(chunk.clone()).await.is_ok() && to_writer.send(chunk).await.is_ok();
        if !sent {
            // A worker stopped early: surface the writer's I/O error.
            return match self.join().await {
                Err(e) => Err(e),
                Ok(_) => Err(std::io::Error::other("upload writer stopped")),
            };
        }
        Ok(())
    }

    async fn join(&mut self) -> std::io::Result<Digests> {
        let Some(mut workers) = self.workers.take() else {
            return Err(std::io::Error::other("upload writer already finished"));
        };
        workers.senders = None;
        let (size, md5) = workers.writer.await.map_err(std::io::Error::other)??;
        let (sha256, blake2_256) = workers.hasher.await.map_err(std::io::Error::other)?;
        Ok(Digests {
            size,
            md5,
            sha256,
            blake2_256,
        })
    }

    pub async fn finish(mut self) -> std::io::Result<StagedFile> {
        let digests = if self.workers.is_some() {
            if !self.batch.is_empty() {
                let rest = self.batch.split().freeze();
                self.send(rest).await?;
            }
            self.join().await?
        } else {
            // Small file: one thread hop for the whole job.
            let (bytes, path, cancelled) = (
                self.batch.split().freeze(),
                self.path.clone(),
                self.cancelled.clone(),
            );
            tokio::task::spawn_blocking(move || -> std::io::Result<Digests> {
                std::fs::write(&path, &bytes)?;
                if cancelled.load(Ordering::Acquire) {
                    let _ = std::fs::remove_file(&path);
                }
                Ok(Digests {
                    size: bytes.len() as u64,
                    md5: hex::encode(Md5::digest(&bytes)),
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    blake2_256: hex::encode(Blake2b256::digest(&bytes)),
                })
            })
            .await
            .map_err(std::io::Error::other)??
        };
        self.done = true;
        Ok(StagedFile {
            path: Some(self.path.clone()),
            digests,
        })
    }
}

impl Drop for StagingWriter {
    fn drop(&mut self) {
        if !self.done {
            self.cancelled.store(true, Ordering::Release);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl StagedFile {
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl BlobStore {
    /// Delete every stored file (reset).
    pub async fn clear(&self) -> std::io::Result<()> {
        if tokio::fs::try_exists(&self.root).await? {
            tokio::fs::remove_dir_all(&self.root).await?;
        }
        tokio::fs::create_dir_all(&self.root).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_blobs_only_in_pypis_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        let b2 = "ab".repeat(32);
        let url = BlobStore::relative_path(&b2, "demo-1.0-py3-none-any.whl");
        assert_eq!(url, format!("ab/ab/{}/demo-1.0-py3-none-any.whl", &b2[4..]));
        assert_eq!(
            store.blob_for_url(&url),
            Some(dir.path().join("files/ab/ab").join(&b2[4..]))
        );
        for bad in [
            "../../etc/passwd",
            "ab/ab/../x",
            &format!("AB/ab/{}/x.whl", &b2[4..]),
            &format!("ab/ab/{}/", &b2[4..]),
            &format!("ab/ab/{}/x/y", &b2[4..]),
            "ab/ab/short/x.whl",
        ] {
            assert_eq!(store.blob_for_url(bad), None, "{bad}");
        }
    }
}
