//! Everything persistent: SQL (SQLite or PostgreSQL through `sqlx::Any`) and the
//! content-addressed file store. SQL strings live only under this module; rows are
//! mapped by column name.

mod armed_faults;
mod batcher;
mod blobs;
mod burns;
mod changes;
pub(crate) mod digests;
mod exchanges;
mod fault_events;
mod files;
mod issuers;
mod prohibited;
mod projects;
mod publishers;
mod small_blobs;
mod sql;
mod tokens;
mod workshop;

pub use armed_faults::ArmedRow;
pub use blobs::{BlobStore, Digests, SMALL_BLOB, StagedFile};
pub use burns::BurnRow;
pub use changes::Changes;
pub use exchanges::{ExchangeFilter, ExchangeRecord, ExchangeRow, JtiClaim, NewExchange, Recorded};
pub use fault_events::{FaultEventRow, NewFaultEvent};
pub use files::{Attestations, NewFile, StoreFileOutcome, StoredAttestations, WheelMetadata};
pub use issuers::TrustedIssuerRow;
pub use projects::{FileRow, ProjectRow, ProjectStatus, ReleaseRow, ReleaseStatus};
pub use publishers::{PublisherRecord, Reified};
#[cfg(test)]
pub use tokens::{Flag, Projects};
pub use tokens::{NewToken, TokenKind, TokenRow};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

use self::batcher::Batcher;
use self::files::FileJob;

/// Which SQL engine the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Database handle. SQLite allows one writer at a time, so writes go through a
/// one-connection pool (no `SQLITE_BUSY` storms) while reads use several; on
/// PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    exchanges: Batcher<ExchangeRecord, Recorded>,
    files: Batcher<FileJob, StoreFileOutcome>,
    /// Bumped by every write that changes what the index shows (in this process).
    changes: Arc<Changes>,
}

/// A storage failure. Unique-key conflicts are told apart because callers turn
/// them into PyPI-shaped answers ("File already exists", replayed jti).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflicts with an existing row")]
    Conflict,
    /// The data directory's (or the database's) file system has no space left.
    #[error("no space left on the data directory's file system")]
    DiskFull,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db
                    .code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Whether an error (or any error under it) says the disk is full: ENOSPC from the file
/// system, SQLite's SQLITE_FULL (13), PostgreSQL's disk_full (53100).
pub(crate) fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::StorageFull;
        }
        match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(db)) => db.code().is_some_and(|c| c == "13" || c == "53100"),
            Some(sqlx::Error::Io(io)) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    })
}

/// PostgreSQL connections per process when not configured: two per core. Each is a
/// CPU-bound backend process on the database side, and replicas multiply the count, so
/// more only adds context switches (measured: 4 per replica beat 8 and 16 on 2 cores).
pub fn default_pool_size() -> u32 {
    std::thread::available_parallelism().map_or(4, |n| 2 * n.get() as u32)
}

impl Store {
    /// Connect and apply the embedded migrations for the backend named by `url`
    /// (`sqlite://…` or `postgres://…`).
    /// `pool_size` applies to PostgreSQL (SQLite has one writer and four readers).
    pub async fn connect(url: &str, blobs: BlobStore, pool_size: u32) -> anyhow::Result<Self> {
        Self::connect_in(url, None, blobs, pool_size).await
    }

    /// [`Store::connect`], in its own PostgreSQL schema when `schema` is given (created
    /// if missing): a second index (TestPyPI) in the same database. SQLite has one
    /// database per file, so a second index there is a second URL instead.
    pub async fn connect_in(
        url: &str,
        schema: Option<&'static str>,
        blobs: BlobStore,
        pool_size: u32,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…");
        };
        let opts = AnyConnectOptions::from_str(url)
            .with_context(|| format!("parsing database URL {url:?}"))?
            .disable_statement_logging();
        let (read, write) = match backend {
            Backend::Sqlite => sqlite_pools(url, opts).await?,
            Backend::Postgres => postgres_pool(url, schema, opts, pool_size).await?,
        };
        let changes = match backend {
            Backend::Sqlite => Changes::single_process(),
            Backend::Postgres => Changes::replicated(url, write.clone())
                .await
                .context("listening for other replicas' changes")?,
        };
        let exchanges = exchanges::writer(write.clone(), backend);
        let files = files::writer(write.clone(), blobs.clone(), changes.clone());
        let store = Store {
            read,
            write,
            backend,
            exchanges,
            files,
            changes,
        };
        let moved = store
            .migrate_small_files(&blobs)
            .await
            .context("moving small files into the database")?;
        if moved > 0 {
            tracing::info!("moved {moved} small files from files/ into the database");
        }
        Ok(store)
    }

    /// Record one token exchange (batched with concurrent ones; see `exchanges`).
    pub async fn record_exchange(&self, record: ExchangeRecord) -> StoreResult<Recorded> {
        self.exchanges.submit(record).await
    }

    /// One round trip to the database.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Moves whenever any process changes projects, files, publishers or issuers;
    /// `None` while that cannot be known (see `changes`), when nothing may be cached.
    pub fn generation(&self) -> Option<u64> {
        self.changes.current()
    }

    /// What a cached page of `project` (`""`: the project list) is valid for; `None`
    /// when nothing may be cached.
    pub fn page_stamp(&self, project: &str) -> Option<(u64, u64)> {
        self.changes.page_stamp(project)
    }

    async fn changed(&self) {
        self.changes.changed().await;
    }

    /// A write transaction that reads first. On SQLite it takes the write lock at
    /// BEGIN: a deferred one that reads, then writes while another connection (the
    /// batch writers have their own) committed, fails at once with "database is
    /// locked" instead of waiting its turn.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// Delete everything a user created: projects, files, publishers, tokens,
    /// exchanges, replay records, issuers and prohibited names. Configured fixtures are re-applied by the caller.
    pub async fn reset(&self) -> StoreResult<()> {
        // One round trip for every table, in one transaction.
        let mut tx = self.write.begin().await?;
        let statements = [
            "DELETE FROM files",
            "DELETE FROM releases",
            "DELETE FROM projects",
            "DELETE FROM publishers",
            "DELETE FROM api_tokens",
            "DELETE FROM oidc_jti",
            "DELETE FROM exchanges",
            "DELETE FROM trusted_issuers",
            "DELETE FROM prohibited_names",
            "DELETE FROM fault_events",
            "DELETE FROM token_burns",
            "DELETE FROM release_statuses",
            "DELETE FROM small_blobs",
        ]
        .join("; ");
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed().await;
        Ok(())
    }
}

async fn migrate(backend: Backend, pool: &AnyPool) -> anyhow::Result<()> {
    let result = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(pool).await,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(pool).await,
    };
    result.context("applying database migrations")
}

fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        // A ping before every acquire doubles the cost of short queries; a broken
        // local file connection fails its next query anyway.
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// WAL lets readers run beside the single writer; NORMAL sync survives process
/// crashes, which is all a mock needs. The writer never checkpoints on commit: a
/// checkpoint copies megabytes and made one commit in a hundred take milliseconds;
/// `checkpoints` does it beside the writer instead.
/// `synchronous` comes first: a new database's switch to WAL is then not synced at
/// FULL (a dozen fsyncs of a fresh data directory's start).
const WRITER_PRAGMAS: &str = "PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;";
const READER_PRAGMAS: &str =
    "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";

async fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    pragmas: &'static str,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(pragmas).execute(&mut *conn).await?;
    Ok(())
}

/// Move the WAL into the database file every second, without blocking the writer or
/// the readers (PASSIVE), so no commit pays for it. PASSIVE never rewinds the WAL, and
/// SQLite rewinds it only at a moment with no reader on it, which a steady read load
/// never gives: the file then grows without end (9 GB in a 2.5-minute soak). So once it
/// holds more than `WAL_LIMIT_FRAMES`, a TRUNCATE checkpoint waits for the readers of
/// the moment, holds new ones back for the few milliseconds left to copy, and empties it.
async fn checkpoints(read: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let frames = match sqlx::query("PRAGMA wal_checkpoint(PASSIVE);")
            .fetch_one(&read)
            .await
            .and_then(|row| sqlx::Row::try_get::<i64, _>(&row, 1))
        {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, "checkpointing the SQLite WAL failed");
                continue;
            }
        };
        if frames > WAL_LIMIT_FRAMES {
            let started = std::time::Instant::now();
            match sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE);")
                .execute(&read)
                .await
            {
                Ok(_) => {
                    tracing::debug!(frames, took = ?started.elapsed(), "emptied the SQLite WAL")
                }
                Err(e) => tracing::warn!(error = %e, frames, "emptying the SQLite WAL failed"),
            }
        }
    }
}

/// WAL frames (pages, 4 KiB each) past which it is emptied: 64 MiB.
const WAL_LIMIT_FRAMES: i64 = 16_384;

/// SQLite: one writer connection (SQLite allows one writer at a time anyway) and four
/// readers, migrated, with checkpoints off the writer's path.
async fn sqlite_pools(url: &str, opts: AnyConnectOptions) -> anyhow::Result<(AnyPool, AnyPool)> {
    let write = sqlite_pool(1)
        .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn, WRITER_PRAGMAS)))
        .connect_with(opts.clone())
        .await
        .with_context(|| format!("opening {url}"))?;
    migrate(Backend::Sqlite, &write).await?;
    let read = sqlite_pool(4)
        .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn, READER_PRAGMAS)))
        .connect_with(opts)
        .await?;
    tokio::spawn(checkpoints(read.clone()));
    Ok((read, write))
}

/// PostgreSQL: one pool for reads and writes, in `schema` when given (created here).
async fn postgres_pool(
    url: &str,
    schema: Option<&'static str>,
    opts: AnyConnectOptions,
    pool_size: u32,
) -> anyhow::Result<(AnyPool, AnyPool)> {
    // No ping before each use: a dead connection fails its query, which
    // is retried by the caller's request anyway, and the ping would be a
    // round trip per statement.
    if let Some(schema) = schema {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating the schema {schema}"))?;
        conn.close().await?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(pool_size.max(2))
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(schema) = schema {
                    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    migrate(Backend::Postgres, &pool).await?;
    Ok((pool.clone(), pool))
}
