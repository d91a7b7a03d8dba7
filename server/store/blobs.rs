//! Content-addressed file store. Uploads are streamed into a temporary file by a
//! blocking worker that hashes as it writes (so memory stays flat and hashing stays
//! off the reactor), then renamed atomically into `files/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<name>`.

use std::io::Write;
use std::path::{Path, PathBuf};

use blake2::Blake2b;
use blake2::digest::consts::U32;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

type Blake2b256 = Blake2b<U32>;

/// Chunks in flight between the request and the writer; bounds memory per upload.
const CHANNEL_DEPTH: usize = 16;

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

/// Receives the chunks of one upload and hands them to the blocking writer.
pub struct StagingWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    worker: Option<JoinHandle<std::io::Result<Digests>>>,
    path: PathBuf,
    done: bool,
}

impl BlobStore {
    pub fn new(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&tmp)?;
        // Leftovers from a crash mid-upload are never referenced by a row.
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self { root, tmp })
    }

    pub fn root(&self) -> &Path {
        &self.root
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

    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Start a new staged upload.
    pub async fn staging_writer(&self) -> std::io::Result<StagingWriter> {
        let path = self.tmp.join(format!("upload-{}", random_hex(12)));
        let file = tokio::fs::File::create(&path).await?.into_std().await;
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let worker = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let (mut md5, mut sha, mut b2) = (Md5::new(), Sha256::new(), Blake2b256::new());
            let mut size = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all(&chunk)?;
                md5.update(&chunk);
                sha.update(&chunk);
                b2.update(&chunk);
                size += chunk.len() as u64;
            }
            file.flush()?;
            Ok(Digests {
                size,
                md5: hex::encode(md5.finalize()),
                sha256: hex::encode(sha.finalize()),
                blake2_256: hex::encode(b2.finalize()),
            })
        });
        Ok(StagingWriter {
            tx: Some(tx),
            worker: Some(worker),
            path,
            done: false,
        })
    }

    /// Write small bytes (wheel METADATA) next to a stored file, atomically.
    pub async fn write_sidecar(&self, relative: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        let target = self.absolute(relative);
        let tmp = self.tmp.join(format!("sidecar-{}", random_hex(12)));
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &target).await
    }

    /// Remove a stored file and its sidecar (used to undo a failed commit).
    pub async fn remove(&self, relative: &str) {
        let _ = tokio::fs::remove_file(self.absolute(relative)).await;
        let _ = tokio::fs::remove_file(self.absolute(&format!("{relative}.metadata"))).await;
    }
}

impl StagingWriter {
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let Some(tx) = &self.tx else { return Ok(()) };
        if tx.send(chunk).await.is_err() {
            // The worker stopped early: surface its I/O error.
            self.tx = None;
            return match self.join().await {
                Err(e) => Err(e),
                Ok(_) => Err(std::io::Error::other("upload writer stopped")),
            };
        }
        Ok(())
    }

    async fn join(&mut self) -> std::io::Result<Digests> {
        match self.worker.take() {
            Some(worker) => worker.await.map_err(std::io::Error::other)?,
            None => Err(std::io::Error::other("upload writer already finished")),
        }
    }

    pub async fn finish(mut self) -> std::io::Result<StagedFile> {
        self.tx = None;
        let digests = self.join().await?;
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
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl StagedFile {
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Move into the content-addressed store. Returns true if this call created the
    /// target (false: identical content was already there).
    pub async fn persist(&mut self, store: &BlobStore, relative: &str) -> std::io::Result<bool> {
        let target = store.absolute(relative);
        let existed = tokio::fs::try_exists(&target).await.unwrap_or(false);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if let Some(path) = self.path.take()
            && let Err(e) = tokio::fs::rename(&path, &target).await
        {
            self.path = Some(path);
            return Err(e);
        }
        Ok(!existed)
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
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
