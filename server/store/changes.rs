//! The store's change counter. Caches (rendered simple pages, the issuer and its
//! publishers for the mint path) tag what they keep with it and drop anything tagged
//! with an older value. This process's writes bump it directly; on PostgreSQL every
//! write also sends a NOTIFY, and a LISTEN connection bumps it for the other replicas'
//! writes. While that connection is down nothing may be cached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::postgres::PgListener;

const CHANNEL: &str = "mock_pypi_changes";
/// Armed faults change rarely and are read on every request while any is armed: a
/// counter of their own, so an upload elsewhere does not make every replica reload them.
const FAULTS_CHANNEL: &str = "mock_pypi_faults";

pub struct Changes {
    generation: AtomicU64,
    faults: AtomicU64,
    /// The counter covers every writer: always on SQLite (one process); on PostgreSQL
    /// only while this process is listening.
    complete: AtomicBool,
    /// Where to announce this process's writes (PostgreSQL).
    notify: Option<AnyPool>,
}

impl Changes {
    pub fn single_process() -> Arc<Self> {
        Arc::new(Self {
            generation: AtomicU64::new(1),
            faults: AtomicU64::new(1),
            complete: AtomicBool::new(true),
            notify: None,
        })
    }

    /// Listen for other replicas' writes on PostgreSQL at `url`.
    pub async fn replicated(url: &str, pool: AnyPool) -> anyhow::Result<Arc<Self>> {
        let changes = Arc::new(Self {
            generation: AtomicU64::new(1),
            faults: AtomicU64::new(1),
            complete: AtomicBool::new(false),
            notify: Some(pool),
        });
        let mut listener = PgListener::connect(url).await?;
        listener.listen_all([CHANNEL, FAULTS_CHANNEL]).await?;
        changes.complete.store(true, Ordering::Release);
        tokio::spawn(listen(listener, changes.clone()));
        Ok(changes)
    }

    /// The counter, if caching on it is safe right now.
    pub fn current(&self) -> Option<u64> {
        self.complete
            .load(Ordering::Acquire)
            .then(|| self.generation.load(Ordering::Acquire))
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.faults.fetch_add(1, Ordering::AcqRel);
    }

    /// The armed faults' counter, if caching on it is safe right now (`None`: read
    /// them from the database every time).
    pub fn faults_current(&self) -> Option<u64> {
        self.complete
            .load(Ordering::Acquire)
            .then(|| self.faults.load(Ordering::Acquire))
    }

    /// Call after committing a change to the armed faults or the hidden files.
    pub async fn faults_changed(&self) {
        self.faults.fetch_add(1, Ordering::AcqRel);
        self.notify_on(FAULTS_CHANNEL).await;
    }

    async fn notify_on(&self, channel: &str) {
        if let Some(pool) = &self.notify
            && let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(channel)
                .execute(pool)
                .await
        {
            // Other replicas may now serve stale pages or faults: say so loudly.
            tracing::error!(error = %e, "could not notify the other replicas of a change");
        }
    }

    /// Call after committing a write that caches depend on.
    pub async fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.notify_on(CHANNEL).await;
    }
}

async fn listen(mut listener: PgListener, changes: Arc<Changes>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) if n.channel() == FAULTS_CHANNEL => {
                changes.faults.fetch_add(1, Ordering::AcqRel);
            }
            Ok(Some(_)) => {
                changes.generation.fetch_add(1, Ordering::AcqRel);
            }
            // The connection dropped: notifications may have been missed.
            Ok(None) | Err(_) => {
                changes.complete.store(false, Ordering::Release);
                changes.bump();
                tracing::warn!(
                    "lost the change-notification connection; caching is off until it is back"
                );
                while let Err(e) = listener.listen_all([CHANNEL, FAULTS_CHANNEL]).await {
                    tracing::warn!(error = %e, "reconnecting the change-notification listener");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                changes.bump();
                changes.complete.store(true, Ordering::Release);
            }
        }
    }
}
