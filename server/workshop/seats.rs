//! The room's seats as `<data dir>/workshop.json` keeps them: each seat's token,
//! whether someone joined it, and where its progress starts (after a reset). Written
//! whole, atomically, on every change; kept across restarts.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

/// Where a seat's progress starts: exchanges and fault events after these ids, files
/// uploaded from this time.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Marks {
    pub exchange: i64,
    pub fault: i64,
    pub reset_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeatRecord {
    pub seat: u32,
    pub token: String,
    pub joined_at: Option<i64>,
    #[serde(default)]
    pub marks: Marks,
}

#[derive(Default, Serialize, Deserialize)]
struct SeatFile {
    seats: Vec<SeatRecord>,
}

pub struct Seats {
    path: PathBuf,
    records: RwLock<Vec<SeatRecord>>,
    /// One writer of the file at a time.
    writing: tokio::sync::Mutex<()>,
}

/// What an attendee gets for joining.
#[derive(Clone, Debug)]
pub struct Joined {
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("there is no seat {seat}: this room has seats 1 to {seats}")]
    NoSuchSeat { seat: u32, seats: u32 },
    #[error("seat {seat} is taken (joined {at}): pick another, or ask the instructor to reset it")]
    Taken { seat: u32, at: String },
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// A seat token: says what it is, names its seat, and is long enough not to guess.
fn new_token(seat: u32) -> String {
    format!("mpws-{seat}-{}", crate::util::random_hex(20))
}

impl Seats {
    pub const FILE: &'static str = "workshop.json";

    pub async fn open(data_dir: &Path, seats: u32) -> anyhow::Result<Self> {
        let path = data_dir.join(Self::FILE);
        let mut file: SeatFile = match tokio::fs::read_to_string(&path).await {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e} (delete it to start the room afresh)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SeatFile::default(),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        // Seats keep their records by number; a larger room adds seats, a smaller
        // one drops the last.
        file.seats.retain(|r| (1..=seats).contains(&r.seat));
        for seat in 1..=seats {
            if !file.seats.iter().any(|r| r.seat == seat) {
                file.seats.push(SeatRecord {
                    seat,
                    token: new_token(seat),
                    joined_at: None,
                    marks: Marks::default(),
                });
            }
        }
        file.seats.sort_by_key(|r| r.seat);
        let this = Self {
            path,
            records: RwLock::new(file.seats),
            writing: tokio::sync::Mutex::new(()),
        };
        this.save().await?;
        Ok(this)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<SeatRecord>> {
        self.records.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<SeatRecord>> {
        self.records.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, seat: u32) -> Option<SeatRecord> {
        self.read().iter().find(|r| r.seat == seat).cloned()
    }

    pub fn by_token(&self, token: &str) -> Option<u32> {
        // Every comparison runs: which seat matched takes no longer than none.
        self.read().iter().fold(None, |found, r| {
            if crate::util::constant_time_eq(token, &r.token) {
                Some(r.seat)
            } else {
                found
            }
        })
    }

    async fn save(&self) -> anyhow::Result<()> {
        let _one = self.writing.lock().await;
        let text = serde_json::to_vec_pretty(&SeatFile {
            seats: self.read().clone(),
        })?;
        crate::util::write_private(&self.path, &text)
            .await
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", self.path.display()))
    }

    pub async fn join(&self, seat: u32) -> Result<Joined, JoinError> {
        let seats = self.read().len() as u32;
        let token = {
            let mut records = self.write();
            let record = records
                .iter_mut()
                .find(|r| r.seat == seat)
                .ok_or(JoinError::NoSuchSeat { seat, seats })?;
            if let Some(at) = record.joined_at {
                return Err(JoinError::Taken {
                    seat,
                    at: crate::dashboard::time::When::at(at, 0).text,
                });
            }
            record.joined_at = Some(crate::util::now());
            record.token.clone()
        };
        if let Err(e) = self.save().await {
            // Not saved: the seat is not taken either.
            if let Some(r) = self.write().iter_mut().find(|r| r.seat == seat) {
                r.joined_at = None;
            }
            return Err(JoinError::Io(e));
        }
        Ok(Joined { token })
    }

    /// A seat starts again: free to join, a new token, progress counted from `marks`.
    pub async fn reset(&self, seat: u32, marks: Marks) -> anyhow::Result<()> {
        {
            let mut records = self.write();
            if let Some(r) = records.iter_mut().find(|r| r.seat == seat) {
                r.token = new_token(seat);
                r.joined_at = None;
                r.marks = marks;
            }
        }
        self.save().await
    }
}
