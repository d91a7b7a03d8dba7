//! The transparency log in Rekor's image: an append-only list of `dsse` entries kept
//! as JSON lines in the data directory, an RFC 6962 tree over them, a signed
//! checkpoint for every tree head, and a signed entry timestamp (SET) per entry.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

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
}

pub struct TransparencyLog {
    pub key: EcKey,
    path: PathBuf,
    state: tokio::sync::Mutex<State>,
}

impl TransparencyLog {
    /// The log kept at `path` (created empty the first time).
    pub async fn open(path: &Path, key: EcKey) -> anyhow::Result<Self> {
        let mut entries: Vec<Stored> = Vec::new();
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let stored: Stored = serde_json::from_str(line)
                    .with_context(|| format!("{} line {}", path.display(), n + 1))?;
                anyhow::ensure!(
                    stored.index == entries.len() as u64,
                    "{}: entry {} is out of order",
                    path.display(),
                    stored.index
                );
                entries.push(stored);
            }
        }
        let leaves = entries
            .iter()
            .map(|e| STANDARD.decode(&e.body).map(|b| merkle::leaf_hash(&b)))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: unreadable body", path.display()))?;
        Ok(Self {
            key,
            path: path.to_owned(),
            state: tokio::sync::Mutex::new(State { leaves, entries }),
        })
    }

    pub fn log_id(&self) -> [u8; 32] {
        self.key.key_id()
    }

    /// Record `body` (a canonicalized Rekor entry body); its entry, proven against the
    /// tree that ends with it.
    pub async fn append(&self, body: Vec<u8>, integrated_time: i64) -> anyhow::Result<Entry> {
        let mut state = self.state.lock().await;
        let index = state.entries.len() as u64;
        let stored = Stored {
            index,
            integrated_time,
            body: STANDARD.encode(&body),
        };
        let mut line = serde_json::to_string(&stored)?;
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await?;
        file.write_all(line.as_bytes()).await?;
        file.flush().await?;
        state.leaves.push(merkle::leaf_hash(&body));
        state.entries.push(stored);
        self.entry_in(&state, index)
    }

    /// Entry `index`, proven against the current tree.
    pub async fn entry(&self, index: u64) -> anyhow::Result<Option<Entry>> {
        let state = self.state.lock().await;
        if index >= state.entries.len() as u64 {
            return Ok(None);
        }
        self.entry_in(&state, index).map(Some)
    }

    /// Tree size, root and signed checkpoint of the current tree.
    pub async fn head(&self) -> anyhow::Result<(u64, Hash, String)> {
        let state = self.state.lock().await;
        let size = state.leaves.len() as u64;
        let root = merkle::root(&state.leaves);
        Ok((size, root, self.checkpoint(size, &root)?))
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
