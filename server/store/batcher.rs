//! Group commit. Concurrent requests queue their jobs; one task takes whatever is
//! queued (up to a batch) and hands it to a writer that commits it in one transaction
//! of multi-row statements. A database round trip costs far more than the SQL itself,
//! so batching is what lets one SQLite writer keep up. The exchange path and the upload
//! path each run one.

use std::future::Future;

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

/// Most jobs written in one transaction.
pub(crate) const MAX_BATCH: usize = 64;

type Reply<O> = oneshot::Sender<StoreResult<O>>;

pub(crate) struct Batcher<J, O> {
    queue: mpsc::Sender<(J, Reply<O>)>,
    name: &'static str,
}

impl<J, O> Clone for Batcher<J, O> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            name: self.name,
        }
    }
}

impl<J: Send + 'static, O: Send + 'static> Batcher<J, O> {
    /// `write` gets each batch in arrival order and answers one result per job, in the
    /// same order.
    pub(crate) fn spawn<F, Fut>(name: &'static str, depth: usize, mut write: F) -> Self
    where
        F: FnMut(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<StoreResult<O>>> + Send,
    {
        let (queue, mut rx) = mpsc::channel::<(J, Reply<O>)>(depth);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(MAX_BATCH);
            // Wait for one job, then take whatever else is queued: one transaction for all.
            while rx.recv_many(&mut pending, MAX_BATCH).await > 0 {
                let (jobs, replies): (Vec<J>, Vec<Reply<O>>) = pending.drain(..).unzip();
                let mut outcomes = write(jobs).await.into_iter();
                for reply in replies {
                    let outcome = outcomes.next().unwrap_or_else(|| {
                        Err(StoreError::Other(anyhow::anyhow!(
                            "the {name} writer gave no answer for a job"
                        )))
                    });
                    let _ = reply.send(outcome);
                }
            }
        });
        Self { queue, name }
    }

    /// Queue a job and wait for its batch to be written.
    pub(crate) async fn submit(&self, job: J) -> StoreResult<O> {
        let (reply, answer) = oneshot::channel();
        let name = self.name;
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the {name} writer has stopped")))?;
        answer
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the {name} writer dropped a job")))?
    }
}

/// A writer's own database connection, taken out of the pool once: a pooled
/// connection is pinged each time it is given back, a round trip per batch that the
/// writer does not need. A connection that failed is dropped and replaced on next use.
pub(crate) struct Dedicated {
    pool: AnyPool,
    conn: Option<AnyConnection>,
}

impl Dedicated {
    pub(crate) fn new(pool: AnyPool) -> Self {
        Self { pool, conn: None }
    }

    /// The connection, opened if needed.
    pub(crate) async fn get(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.acquire().await?.detach());
        }
        self.conn.as_mut().ok_or_else(|| sqlx::Error::PoolClosed)
    }

    /// Forget the connection after a failure (it may be broken).
    pub(crate) fn discard(&mut self) {
        self.conn = None;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// One failure of a whole batch, answered to each of its jobs.
pub(crate) fn fail_all<O>(
    name: &str,
    jobs: usize,
    error: impl std::fmt::Display,
) -> Vec<StoreResult<O>> {
    tracing::error!(error = %error, batch = jobs, "writing a batch of {name} failed");
    (0..jobs)
        .map(|_| {
            Err(StoreError::Other(anyhow::anyhow!(
                "writing the {name} failed: {error}"
            )))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_jobs_share_batches_and_get_their_own_answers() {
        let batcher = Batcher::spawn("test", 64, |jobs: Vec<u32>| async move {
            let size = jobs.len() as u32;
            jobs.into_iter().map(|j| Ok((j, size))).collect()
        });
        let answers = futures_util::future::join_all((0..40).map(|i| {
            let b = batcher.clone();
            async move { b.submit(i).await }
        }))
        .await;
        for (i, answer) in answers.into_iter().enumerate() {
            let (job, _batch) = answer.expect("answered");
            assert_eq!(job, i as u32);
        }
    }
}
