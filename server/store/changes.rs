//! The store's change counters. Caches (rendered simple pages, the issuer and its
//! publishers for the mint path) tag what they keep with them and drop anything tagged
//! with an older value. A new file moves only its project's counter (uploads are the
//! hot write, and one should not re-render every page); any other write moves the
//! global one. This process's writes move them directly; on PostgreSQL every write also
//! sends a NOTIFY (a file's names its projects), and a LISTEN connection applies the
//! other replicas' writes. While that connection is down nothing may be cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::postgres::PgListener;

const CHANNEL: &str = "mock_pypi_changes";
/// Armed faults change rarely and are read on every request while any is armed: a
/// counter of their own, so an upload elsewhere does not make every replica reload them.
const FAULTS_CHANNEL: &str = "mock_pypi_faults";
/// New files, with their projects' names (one per line) as the payload.
const FILES_CHANNEL: &str = "mock_pypi_files";
/// PostgreSQL's NOTIFY payloads stay under 8000 bytes; a longer list moves the global
/// counter instead.
const MAX_PAYLOAD: usize = 7900;

pub struct Changes {
    generation: AtomicU64,
    faults: AtomicU64,
    /// The counter covers every writer: always on SQLite (one process); on PostgreSQL
    /// only while this process is listening.
    complete: AtomicBool,
    /// Where to announce this process's writes (PostgreSQL).
    notify: Option<AnyPool>,
    /// Per project: the value of `files` when a file of it last arrived.
    projects: Mutex<HashMap<String, u64>>,
    files: AtomicU64,
}

/// What a cached page is valid for: the global counter and its project's.
pub type Stamp = (u64, u64);

impl Changes {
    pub fn single_process() -> Arc<Self> {
        Arc::new(Self {
            generation: AtomicU64::new(1),
            faults: AtomicU64::new(1),
            complete: AtomicBool::new(true),
            notify: None,
            projects: Mutex::default(),
            files: AtomicU64::new(0),
        })
    }

    /// Listen for other replicas' writes on PostgreSQL at `url`.
    pub async fn replicated(url: &str, pool: AnyPool) -> anyhow::Result<Arc<Self>> {
        let changes = Arc::new(Self {
            generation: AtomicU64::new(1),
            faults: AtomicU64::new(1),
            complete: AtomicBool::new(false),
            notify: Some(pool),
            projects: Mutex::default(),
            files: AtomicU64::new(0),
        });
        let mut listener = PgListener::connect(url).await?;
        listener
            .listen_all([CHANNEL, FAULTS_CHANNEL, FILES_CHANNEL])
            .await?;
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

    /// The counters a page of `project` (`""` for the project list) is valid for, if
    /// caching is safe right now.
    pub fn page_stamp(&self, project: &str) -> Option<Stamp> {
        let global = self.current()?;
        let projects = self.projects.lock().unwrap_or_else(|p| p.into_inner());
        Some((global, projects.get(project).copied().unwrap_or(0)))
    }

    /// Note that files of `projects` arrived (here or on another replica).
    fn note_files<'a>(&self, projects: impl IntoIterator<Item = &'a str>) {
        let mut map = self.projects.lock().unwrap_or_else(|p| p.into_inner());
        for project in projects {
            let at = self.files.fetch_add(1, Ordering::AcqRel) + 1;
            map.insert(project.to_owned(), at);
        }
    }

    /// Call after committing new files of `projects`.
    pub async fn files_changed(&self, projects: &[&str]) {
        self.note_files(projects.iter().copied());
        let payload = projects.join("\n");
        if payload.len() > MAX_PAYLOAD {
            return self.changed().await;
        }
        self.notify_with(FILES_CHANNEL, &payload).await;
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
        self.notify_with(channel, "").await;
    }

    async fn notify_with(&self, channel: &str, payload: &str) {
        if let Some(pool) = &self.notify
            && let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
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
            Ok(Some(n)) if n.channel() == FILES_CHANNEL => {
                changes.note_files(n.payload().split('\n').filter(|p| !p.is_empty()));
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
                while let Err(e) = listener
                    .listen_all([CHANNEL, FAULTS_CHANNEL, FILES_CHANNEL])
                    .await
                {
                    tracing::warn!(error = %e, "reconnecting the change-notification listener");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                changes.bump();
                changes.complete.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_moves_its_projects_pages_only_and_any_other_write_moves_all() {
        let changes = Changes::single_process();
        let (a, b, list) = (
            changes.page_stamp("a").unwrap(),
            changes.page_stamp("b").unwrap(),
            changes.page_stamp("").unwrap(),
        );
        changes.files_changed(&["b"]).await;
        assert_eq!(
            changes.page_stamp("a"),
            Some(a),
            "a file of b leaves a's pages"
        );
        assert_eq!(changes.page_stamp(""), Some(list), "and the project list");
        let b2 = changes.page_stamp("b").unwrap();
        assert_ne!(b2, b, "b's pages expire");
        changes.files_changed(&["a", "b"]).await;
        assert_ne!(changes.page_stamp("a"), Some(a));
        assert_ne!(changes.page_stamp("b"), Some(b2));
        let before = changes.page_stamp("a");
        changes.changed().await;
        assert_ne!(
            changes.page_stamp("a"),
            before,
            "any other write expires every page"
        );
        assert_ne!(changes.page_stamp(""), Some(list));
    }
}
