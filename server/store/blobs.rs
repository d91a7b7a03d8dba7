//! Content-addressed file store. Uploads are streamed into a temporary file by a
//! blocking worker that hashes as it writes (so memory stays flat and hashing stays
//! off the reactor), then renamed atomically to `files/<b2[..2]>/<b2[2..4]>/<b2[4..]>`.
//! URLs keep PyPI's shape, `/files/<b2[..2]>/<b2[2..4]>/<b2[4..]>/<filename>`: the
//! filename is for installers (pip reads it from the URL), the blob is found by hash.
//! A file that fits in one staging batch (`SMALL_BLOB`, most distributions) never
//! touches the file system: its bytes stay in memory until the upload's transaction
//! stores them in the database (`small_blobs`), because an inode per small file was
//! most of a small upload's cost. Larger files get one inode each, under `files/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use super::digests::Digests;
use super::digests::{Hasher, Partial, Share, digests};

/// Batches in flight between the request and the workers; bounds memory per upload
/// (at most CHANNEL_DEPTH × BATCH_BYTES, plus the batch being filled).
const CHANNEL_DEPTH: usize = 8;
/// Network chunks are small; handing each to a thread costs a wake-up, so they are
/// gathered into batches of this size first. Copied, not kept as the chunks: a
/// chunk can hold on to a much larger read buffer, and memory would grow with it.
const BATCH_BYTES: usize = 512 * 1024;

/// Files up to this size are kept in the database rather than in a file of their own:
/// they are in memory anyway (one batch), and a row costs no inode. Larger ones are
/// streamed to disk by the workers as they arrive.
pub const SMALL_BLOB: usize = BATCH_BYTES - 1;

/// Up to this size a small file's digests are computed on the reactor: a few
/// microseconds, less than the thread hand-off that would move them off it.
const INLINE_DIGESTS: usize = 16 * 1024;

/// Network chunks gathered for one hand-over; `Bytes` clones share it between workers.
type Batch = Bytes;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// A fully received upload: a small one's bytes, or a larger one's temporary file
/// (removed on drop unless placed).
#[derive(Debug)]
pub struct StagedFile {
    path: Option<PathBuf>,
    memory: Option<Bytes>,
    pub digests: Digests,
}

/// Receives the chunks of one upload. A file that fits in one batch (most
/// distributions) is created, written and hashed in a single blocking call when the
/// upload ends. A larger one is handed to blocking workers as it arrives: with one
/// core, one worker writes and computes all three digests in one pass over each
/// batch; with more, one writes and computes MD5 while the other computes SHA-256 and
/// BLAKE2b (all three on one core cap an upload near 350 MB/s).
pub struct StagingWriter {
    batch: bytes::BytesMut,
    workers: Vec<Worker>,
    /// Cores to plan the workers for; `None` asks the system when a large file starts.
    cores: Option<usize>,
    path: PathBuf,
    /// Set when the upload is abandoned; whoever touches the file last removes it.
    cancelled: Arc<AtomicBool>,
    done: bool,
}

struct Worker {
    batches: Option<mpsc::Sender<Batch>>,
    result: JoinHandle<std::io::Result<Partial>>,
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

    /// Where large files live (`files/` in the data directory).
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

    /// Where the bytes behind a `/files/` URL path live on disk (if they are large), if
    /// the path has PyPI's shape.
    pub fn blob_for_url(&self, url_path: &str) -> Option<PathBuf> {
        let (a, b, rest) = url_parts(url_path)?;
        Some(self.root.join(a).join(b).join(rest))
    }

    /// The BLAKE2b-256 digest a `/files/` URL path names, if it has PyPI's shape.
    pub fn digest_of_url(url_path: &str) -> Option<String> {
        let (a, b, rest) = url_parts(url_path)?;
        Some(format!("{a}{b}{rest}"))
    }

    /// Start a new staged upload (nothing touches the disk yet).
    pub fn staging_writer(&self) -> StagingWriter {
        StagingWriter {
            batch: bytes::BytesMut::new(),
            workers: Vec::new(),
            cores: None,
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
        // A batch of small files only: no thread hop for nothing.
        if moves.is_empty() {
            return Ok(Vec::new());
        }
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

    /// How many large files are stored under `files/`, and their bytes.
    pub async fn large_file_totals(&self) -> std::io::Result<(u64, u64)> {
        fn walk(dir: &Path, totals: &mut (u64, u64)) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let meta = entry.metadata()?;
                if meta.is_dir() {
                    walk(&entry.path(), totals)?;
                } else {
                    totals.0 += 1;
                    totals.1 += meta.len();
                }
            }
            Ok(())
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut totals = (0, 0);
            walk(&root, &mut totals).map(|()| totals)
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

/// The three parts of a blob's digest in a `/files/` URL path.
fn url_parts(url_path: &str) -> Option<(&str, &str, &str)> {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match url_path.split('/').collect::<Vec<_>>().as_slice() {
        [a, b, rest, name] if hex(a, 2) && hex(b, 2) && hex(rest, 60) && !name.is_empty() => {
            Some((a, b, rest))
        }
        _ => None,
    }
}

impl StagingWriter {
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        if self.batch.is_empty() {
            self.batch.reserve(BATCH_BYTES);
        }
        self.batch.extend_from_slice(&chunk);
        if self.batch.len() < BATCH_BYTES {
            return Ok(());
        }
        if self.workers.is_empty() {
            let cores = self
                .cores
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            self.workers = self.start_workers(cores);
        }
        let full = self.take_batch();
        self.send(full).await
    }

    fn take_batch(&mut self) -> Batch {
        self.batch.split().freeze()
    }

    fn start_workers(&self, cores: usize) -> Vec<Worker> {
        let shares: &[(Share, bool)] = if cores > 1 {
            &[(Share::Md5, true), (Share::ShaAndBlake2, false)]
        } else {
            &[(Share::All, true)]
        };
        shares
            .iter()
            .map(|&(share, writes)| {
                let (batches, rx) = mpsc::channel::<Batch>(CHANNEL_DEPTH);
                let file = writes.then(|| (self.path.clone(), self.cancelled.clone()));
                let result = tokio::task::spawn_blocking(move || work(share, file, rx));
                Worker {
                    batches: Some(batches),
                    result,
                }
            })
            .collect()
    }

    async fn send(&mut self, batch: Batch) -> std::io::Result<()> {
        let mut sent = true;
        for worker in &self.workers {
            if let Some(to) = &worker.batches {
                // Clones of the `Bytes`: every worker reads the same batch.
                sent &= to.send(batch.clone()).await.is_ok();
            }
        }
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
        let mut found = Partial::default();
        for worker in &mut self.workers {
            worker.batches = None;
        }
        for worker in std::mem::take(&mut self.workers) {
            found = found.merge(worker.result.await.map_err(std::io::Error::other)??);
        }
        found.complete()
    }

    pub async fn finish(mut self) -> std::io::Result<StagedFile> {
        let digests = if !self.workers.is_empty() {
            if !self.batch.is_empty() {
                let rest = self.take_batch();
                self.send(rest).await?;
            }
            self.join().await?
        } else {
            // Small file: it stays in memory, copied out of the batch's large buffer.
            let bytes = Bytes::copy_from_slice(&self.batch);
            self.batch = bytes::BytesMut::new();
            self.done = true;
            let digests = if bytes.len() <= INLINE_DIGESTS {
                digests(&bytes)
            } else {
                let b = bytes.clone();
                tokio::task::spawn_blocking(move || digests(&b))
                    .await
                    .map_err(std::io::Error::other)?
            };
            return Ok(StagedFile {
                path: None,
                memory: Some(bytes),
                digests,
            });
        };
        self.done = true;
        Ok(StagedFile {
            path: Some(self.path.clone()),
            memory: None,
            digests,
        })
    }
}

/// One blocking worker: hash its share of every batch and, if given the file, write
/// the batch to it.
fn work(
    share: Share,
    file: Option<(PathBuf, Arc<AtomicBool>)>,
    mut batches: mpsc::Receiver<Batch>,
) -> std::io::Result<Partial> {
    let mut hasher = Hasher::new(share);
    let mut out = match &file {
        Some((path, _)) => Some(std::fs::File::create(path)?),
        None => None,
    };
    while let Some(batch) = batches.blocking_recv() {
        if let Some(out) = &mut out {
            out.write_all(&batch)?;
        }
        hasher.update(&batch);
    }
    if let Some((path, cancelled)) = &file
        && cancelled.load(Ordering::Acquire)
    {
        let _ = std::fs::remove_file(path);
    }
    Ok(hasher.finish())
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
    /// A large file's temporary file (until placed).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A small file's bytes.
    pub fn bytes(&self) -> Option<&Bytes> {
        self.memory.as_ref()
    }

    /// A large file's temporary file, for [`BlobStore::place_all`].
    pub fn on_disk(&self) -> bool {
        self.path.is_some()
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

    /// Large files take the worker path: one worker on one core, two otherwise. Both
    /// must store the bytes as sent and agree with independent digests.
    #[tokio::test(flavor = "multi_thread")]
    async fn staged_files_hold_the_bytes_and_their_digests() {
        use blake2::Blake2b;
        use blake2::digest::consts::U32;
        use md5::Md5;
        use sha2::{Digest, Sha256};

        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path()).unwrap();
        let mut x: u32 = 2463534242;
        let data: Vec<u8> = (0..(3 << 20) + 12345)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for (cores, size) in [
            (1, data.len()),
            (2, data.len()),
            (2, 1000),
            (1, 100_000),
            (2, SMALL_BLOB),
            (2, SMALL_BLOB + 1),
        ] {
            let data = &data[..size];
            let mut writer = store.staging_writer();
            writer.cores = Some(cores);
            // Uneven network-sized chunks.
            for chunk in data.chunks(16_411) {
                writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
            }
            let staged = writer.finish().await.unwrap();
            let d = &staged.digests;
            // Small files stay in memory (for the database), large ones are on disk.
            match staged.bytes() {
                Some(bytes) => {
                    assert!(size <= SMALL_BLOB && staged.path().is_none());
                    assert_eq!(bytes.as_ref(), data);
                }
                None => {
                    assert!(size > SMALL_BLOB);
                    assert_eq!(std::fs::read(staged.path().unwrap()).unwrap(), data);
                }
            }
            assert_eq!(d.size, size as u64);
            assert_eq!(d.md5, hex::encode(Md5::digest(data)), "{cores} cores");
            assert_eq!(d.sha256, hex::encode(Sha256::digest(data)));
            assert_eq!(d.blake2_256, hex::encode(Blake2b::<U32>::digest(data)));
        }
    }

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
