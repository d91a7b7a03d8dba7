//! The issuer's control state (its key ring and JWKS mode) shared through a file in the
//! data directory: every process serving that directory (replicas, a restarted server)
//! signs with the same key and fails its key set the same way. A change is made under a
//! lock and written whole; each read checks the file's stamp and loads it only when it
//! changed, so the cost of sharing is one `stat` per use.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::JwksMode;
use super::keys::SavedKey;

/// What the file holds.
#[derive(Serialize, Deserialize)]
pub struct Saved {
    pub jwks_mode: JwksMode,
    /// The ring, signer first.
    pub keys: Vec<SavedKey>,
}

/// Which version of the file was last read: inode, modification time, length (an
/// atomic rename makes a new inode; the time and length tell a reused one apart).
type Stamp = (u64, i64, i64, u64);

pub struct ControlFile {
    path: PathBuf,
    seen: Mutex<Option<Stamp>>,
}

impl ControlFile {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            seen: Mutex::new(None),
        }
    }

    fn stamp(&self) -> Option<Stamp> {
        // A `stat` of a local file: microseconds, so it stays on the reactor.
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
    }

    /// The saved state if another process (or this one, before a restart) changed it
    /// since it was last read here.
    pub fn changed(&self) -> anyhow::Result<Option<Saved>> {
        let Some(stamp) = self.stamp() else {
            return Ok(None);
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == Some(stamp) {
            return Ok(None);
        }
        let saved = self.read()?;
        *seen = Some(stamp);
        Ok(Some(saved))
    }

    fn read(&self) -> anyhow::Result<Saved> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", self.path.display()))
    }

    /// Change the state under the file's lock: `edit` gets the latest saved state (or
    /// none yet) and returns what to save.
    pub async fn update(
        &self,
        edit: impl FnOnce(Option<Saved>) -> anyhow::Result<Saved>,
    ) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let lock_name = format!(
            "{}.lock",
            self.path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("issuer-control")
        );
        let _lock = crate::util::lock_in(dir, &lock_name).await?;
        let current = match self.stamp() {
            Some(_) => Some(self.read()?),
            None => None,
        };
        let saved = edit(current)?;
        // Private keys: the owner alone reads the file.
        crate::util::write_private(&self.path, &serde_json::to_vec(&saved)?).await?;
        // Not marked as seen: the next use loads what was written, as any process would.
        Ok(())
    }
}
