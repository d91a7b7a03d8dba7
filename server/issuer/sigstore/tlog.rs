//! The transparency log in Rekor's image: an append-only list of `dsse` entries kept
//! as JSON lines in the data directory, an RFC 6962 tree over them, a signed
//! checkpoint for every tree head, and a signed entry timestamp (SET) per entry.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sigstore::keys::EcKey;
use crate::sigstore::merkle::{self, Hash};
use crate::sigstore::wire::{ORIGIN, checkpoint_note, set_payload};

#[derive(Serialize, Deserialize)]
struct Stored {
    index: u64,
    integrated_time: i64,
    /// The canonicalized body, base64.
    body: String,
}

/// One entry with its proof against a tree head.
#[derive(Clone, Debug)]
pub struct Entry {
    pub index: u64,
    pub integrated_time: i64,
    pub body: Vec<u8>,
    pub set: Vec<u8>,
    pub tree_size: u64,
    pub root: Hash,
    pub hashes: Vec<Hash>,
    pub checkpoint: String,
}

struct State {
    leaves: Vec<Hash>,
    entries: Vec<Stored>,
    /// How far into the file `entries` reach (complete lines only).
    read_to: u64,
}

/// The log is its file: every process that shares the data directory (replicas, a
/// restarted server) appends under a lock on it and reads what the others appended, so
/// they all serve one log with one numbering.
pub struct TransparencyLog {
    pub key: EcKey,
    path: PathBuf,
    state: tokio::sync::Mutex<State>,
}

/// What a read of the file's tail found.
struct Tail {
    /// Complete lines after the point read from.
    text: String,
    /// Where the complete lines end.
    end: u64,
}

impl TransparencyLog {
    /// The log kept at `path` (created empty the first time).
    pub async fn open(path: &Path, key: EcKey) -> anyhow::Result<Self> {
        let mut state = State {
            leaves: Vec::new(),
            entries: Vec::new(),
            read_to: 0,
        };
        let p = path.to_owned();
        let tail = tokio::task::spawn_blocking(move || read_tail(&p, 0)).await??;
        state.absorb(path, tail)?;
        Ok(Self {
            key,
            path: path.to_owned(),
            state: tokio::sync::Mutex::new(state),
        })
    }

    pub fn log_id(&self) -> [u8; 32] {
        self.key.key_id()
    }

    /// Record `body` (a canonicalized Rekor entry body); its entry, proven against the
    /// tree that ends with it.
    pub async fn append(&self, body: Vec<u8>, integrated_time: i64) -> anyhow::Result<Entry> {
        let mut state = self.state.lock().await;
        let (path, from, known) = (self.path.clone(), state.read_to, state.entries.len());
        let encoded = STANDARD.encode(&body);
        let (tail, line) = tokio::task::spawn_blocking(move || {
            append_locked(&path, from, known, integrated_time, encoded)
        })
        .await??;
        state.absorb(&self.path, tail)?;
        state.absorb(&self.path, line)?;
        let index = state.entries.len() as u64 - 1;
        self.entry_in(&state, index)
    }

    /// Entry `index`, proven against the current tree.
    pub async fn entry(&self, index: u64) -> anyhow::Result<Option<Entry>> {
        let state = self.caught_up().await?;
        if index >= state.entries.len() as u64 {
            return Ok(None);
        }
        self.entry_in(&state, index).map(Some)
    }

    /// Tree size, root and signed checkpoint of the current tree.
    pub async fn head(&self) -> anyhow::Result<(u64, Hash, String)> {
        let state = self.caught_up().await?;
        let size = state.leaves.len() as u64;
        let root = merkle::root(&state.leaves);
        Ok((size, root, self.checkpoint(size, &root)?))
    }

    /// The state with whatever other processes appended since it was last read.
    async fn caught_up(&self) -> anyhow::Result<tokio::sync::MutexGuard<'_, State>> {
        let mut state = self.state.lock().await;
        let grown = tokio::fs::metadata(&self.path)
            .await
            .map(|m| m.len() > state.read_to)
            .unwrap_or(false);
        if grown {
            let (path, from) = (self.path.clone(), state.read_to);
            let tail = tokio::task::spawn_blocking(move || read_tail(&path, from)).await??;
            state.absorb(&self.path, tail)?;
        }
        Ok(state)
    }

    fn entry_in(&self, state: &State, index: u64) -> anyhow::Result<Entry> {
        let i = usize::try_from(index)?;
        let stored = &state.entries[i];
        let body = STANDARD.decode(&stored.body)?;
        let size = state.leaves.len() as u64;
        let root = merkle::root(&state.leaves);
        let set = self.key.sign(&set_payload(
            &stored.body,
            stored.integrated_time,
            &hex::encode(self.log_id()),
            index,
        ))?;
        Ok(Entry {
            index,
            integrated_time: stored.integrated_time,
            body,
            set,
            tree_size: size,
            root,
            hashes: merkle::audit_path(i, &state.leaves),
            checkpoint: self.checkpoint(size, &root)?,
        })
    }

    fn checkpoint(&self, size: u64, root: &Hash) -> anyhow::Result<String> {
        let note = checkpoint_note(size, root);
        let signature = self.key.sign(note.as_bytes())?;
        let mut hinted = self.log_id()[..4].to_vec();
        hinted.extend_from_slice(&signature);
        Ok(format!(
            "{note}\n\u{2014} {ORIGIN} {}\n",
            STANDARD.encode(hinted)
        ))
    }
}

impl State {
    /// Take in lines read from the file, each the next entry in order.
    fn absorb(&mut self, path: &Path, tail: Tail) -> anyhow::Result<()> {
        for line in tail.text.lines().filter(|l| !l.trim().is_empty()) {
            let n = self.entries.len();
            let stored: Stored = serde_json::from_str(line)
                .with_context(|| format!("{}: entry {n}", path.display()))?;
            anyhow::ensure!(
                stored.index == n as u64,
                "{}: entry {} is out of order (expected {n})",
                path.display(),
                stored.index
            );
            let body = STANDARD
                .decode(&stored.body)
                .with_context(|| format!("{}: entry {n} has an unreadable body", path.display()))?;
            self.leaves.push(merkle::leaf_hash(&body));
            self.entries.push(stored);
        }
        self.read_to = tail.end;
        Ok(())
    }
}

/// The complete lines of `path` from byte `from` on (none if it does not exist). A line
/// still being written by another process (no newline yet) is left for the next read.
fn read_tail(path: &Path, from: u64) -> anyhow::Result<Tail> {
    use std::io::{Read, Seek};
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Tail {
                text: String::new(),
                end: from,
            });
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    file.seek(std::io::SeekFrom::Start(from))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    text.truncate(complete);
    Ok(Tail {
        end: from + complete as u64,
        text,
    })
}

/// Under an exclusive lock on the file: what others appended since `from`, then our
/// entry, numbered after all of them. A torn tail (a writer that died mid-line: nobody
/// else writes while we hold the lock) is cut off, never numbered.
fn append_locked(
    path: &Path,
    from: u64,
    known: usize,
    integrated_time: i64,
    body: String,
) -> anyhow::Result<(Tail, Tail)> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()?;
    let tail = read_tail(path, from)?;
    if file.metadata()?.len() > tail.end {
        tracing::warn!(log = %path.display(), at = tail.end, "cutting off a torn entry");
        file.set_len(tail.end)?;
    }
    let others = tail.text.lines().filter(|l| !l.trim().is_empty()).count();
    let stored = Stored {
        index: (known + others) as u64,
        integrated_time,
        body,
    };
    let mut line = serde_json::to_string(&stored)?;
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()?;
    let end = tail.end + line.len() as u64;
    Ok((tail, Tail { text: line, end }))
}

impl Entry {
    /// Rekor v1's answer for the entry (`POST /api/v1/log/entries`, `GET …?logIndex=`).
    pub fn to_rekor(&self, log_id: &[u8; 32]) -> Value {
        let uuid = hex::encode(merkle::leaf_hash(&self.body));
        json!({ uuid: {
            "body": STANDARD.encode(&self.body),
            "integratedTime": self.integrated_time,
            "logID": hex::encode(log_id),
            "logIndex": self.index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": self.checkpoint,
                    "hashes": self.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                    "logIndex": self.index,
                    "rootHash": hex::encode(self.root),
                    "treeSize": self.tree_size,
                },
                "signedEntryTimestamp": STANDARD.encode(&self.set),
            },
        }})
    }

    /// The entry as a Sigstore bundle carries it (`TransparencyLogEntry`: u64 fields as
    /// strings, bytes as base64), which is what a PEP 740 attestation embeds.
    pub fn to_bundle(&self, log_id: &[u8; 32]) -> Value {
        json!({
            "logIndex": self.index.to_string(),
            "logId": {"keyId": STANDARD.encode(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": self.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": STANDARD.encode(&self.set)},
            "inclusionProof": {
                "logIndex": self.index.to_string(),
                "rootHash": STANDARD.encode(self.root),
                "treeSize": self.tree_size.to_string(),
                "hashes": self.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": self.checkpoint},
            },
            "canonicalizedBody": STANDARD.encode(&self.body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EcKey {
        EcKey::generate().unwrap()
    }

    #[tokio::test]
    async fn two_processes_on_one_file_serve_one_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rekor-log.jsonl");
        let pem = key().to_pem().unwrap();
        let a = TransparencyLog::open(&path, EcKey::from_pem(&pem).unwrap())
            .await
            .unwrap();
        let b = TransparencyLog::open(&path, EcKey::from_pem(&pem).unwrap())
            .await
            .unwrap();
        let first = a.append(b"one".to_vec(), 1).await.unwrap();
        let second = b.append(b"two".to_vec(), 2).await.unwrap();
        let third = a.append(b"three".to_vec(), 3).await.unwrap();
        assert_eq!((first.index, second.index, third.index), (0, 1, 2));
        // B numbered after A's entry, and A after B's: one tree, seen alike by both.
        assert_eq!(second.tree_size, 2);
        assert_eq!(third.tree_size, 3);
        let (size_a, root_a, _) = a.head().await.unwrap();
        let (size_b, root_b, _) = b.head().await.unwrap();
        assert_eq!((size_a, root_a), (size_b, root_b));
        assert_eq!(size_b, 3);
        let seen = b.entry(2).await.unwrap().expect("B serves A's entry");
        assert_eq!(seen.body, b"three");
        merkle::verify_inclusion(&merkle::leaf_hash(&seen.body), 2, 3, &seen.hashes, &root_b)
            .unwrap();
        // A fresh process reads the same log back.
        let c = TransparencyLog::open(&path, key()).await.unwrap();
        assert_eq!(c.head().await.unwrap().1, root_a);
    }

    #[tokio::test]
    async fn a_torn_tail_is_never_served_and_is_cut_at_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rekor-log.jsonl");
        let log = TransparencyLog::open(&path, key()).await.unwrap();
        log.append(b"kept".to_vec(), 1).await.unwrap();
        // A writer that died mid-line.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, b"{\"index\":1,\"integ").unwrap();
        drop(file);
        let reopened = TransparencyLog::open(&path, key()).await.unwrap();
        assert_eq!(
            reopened.head().await.unwrap().0,
            1,
            "the torn line is not an entry"
        );
        assert!(reopened.entry(1).await.unwrap().is_none());
        let next = reopened.append(b"next".to_vec(), 2).await.unwrap();
        assert_eq!(next.index, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            !text.contains("integ\""),
            "the torn line was cut off: {text}"
        );
    }

    #[tokio::test]
    async fn an_entry_out_of_order_is_refused_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rekor-log.jsonl");
        std::fs::write(
            &path,
            "{\"index\":3,\"integrated_time\":1,\"body\":\"AA==\"}\n",
        )
        .unwrap();
        let err = TransparencyLog::open(&path, key())
            .await
            .err()
            .expect("refused");
        assert!(format!("{err:#}").contains("out of order"), "{err:#}");
    }
}
