//! Group commit for the token-exchange path. Concurrent exchanges are written in one
//! transaction of multi-row INSERTs: a database round trip costs far more than the
//! SQL itself, so batching is what lets one SQLite writer keep up. The `jti` claim
//! stays a database decision (`ON CONFLICT DO NOTHING`), so replays are refused
//! exactly once on any number of replicas.

use std::collections::HashSet;

use sqlx::{AnyPool, AssertSqlSafe, Row};
use tokio::sync::{mpsc, oneshot};

use super::exchanges::NewExchange;
use super::tokens::NewToken;
use super::{StoreError, StoreResult};
use crate::util::now;

/// Most exchanges written in one transaction.
const MAX_BATCH: usize = 64;
const QUEUE_DEPTH: usize = 4096;

/// A `jti` to claim, remembered until `expires_at`.
#[derive(Clone, Debug)]
pub struct JtiClaim {
    pub issuer: String,
    pub jti: String,
    pub expires_at: i64,
}

/// What one exchange leaves behind.
pub enum ExchangeRecord {
    Refused(NewExchange),
    /// Claim the `jti`; if that succeeds record `exchange` and store `token`. A lost
    /// claim writes nothing: the caller records the refusal (replays are rare).
    Accepted {
        jti: Option<JtiClaim>,
        exchange: NewExchange,
        token: NewToken,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    Refusal,
    Minted,
    Replayed,
}

struct Job {
    record: ExchangeRecord,
    reply: oneshot::Sender<StoreResult<Recorded>>,
}

#[derive(Clone)]
pub struct ExchangeWriter {
    queue: mpsc::Sender<Job>,
}

impl ExchangeWriter {
    pub fn spawn(pool: AnyPool) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(pool, rx));
        Self { queue }
    }

    pub async fn record(&self, record: ExchangeRecord) -> StoreResult<Recorded> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { record, reply })
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the exchange writer has stopped")))?;
        answer.await.map_err(|_| {
            StoreError::Other(anyhow::anyhow!("the exchange writer dropped a request"))
        })?
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // Wait for one request, then take whatever else is queued: one transaction for all.
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let records: Vec<&ExchangeRecord> = jobs.iter().map(|j| &j.record).collect();
        match write_batch(&pool, &records).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = jobs.len(), "writing a batch of exchanges failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Other(anyhow::anyhow!(
                        "writing the exchange failed: {e}"
                    ))));
                }
            }
        }
    }
}

/// `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `columns` columns.
pub(super) fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=columns)
                    .map(|c| format!("${}", r * columns + c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn write_batch(
    pool: &AnyPool,
    records: &[&ExchangeRecord],
) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut tx = pool.begin().await?;

    // 1. Claim every jti at once; RETURNING names the ones this batch won.
    let claims: Vec<&JtiClaim> = records
        .iter()
        .filter_map(|r| match r {
            ExchangeRecord::Accepted { jti: Some(c), .. } => Some(c),
            _ => None,
        })
        .collect();
    let mut won: HashSet<(String, String)> = HashSet::new();
    if !claims.is_empty() {
        let sql = format!(
            "INSERT INTO oidc_jti (issuer, jti, expires_at) VALUES {} ON CONFLICT (issuer, jti) DO NOTHING RETURNING issuer, jti",
            placeholders(claims.len(), 3)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for c in &claims {
            query = query
                .bind(c.issuer.clone())
                .bind(c.jti.clone())
                .bind(c.expires_at);
        }
        for row in query.fetch_all(&mut *tx).await? {
            won.insert((row.try_get(0)?, row.try_get(1)?));
        }
    }

    // 2. Decide each record; within a batch the first claimant of a jti wins.
    let mut outcomes = Vec::with_capacity(records.len());
    let mut exchanges: Vec<&NewExchange> = Vec::with_capacity(records.len());
    let mut tokens: Vec<&NewToken> = Vec::new();
    for record in records {
        match record {
            ExchangeRecord::Refused(e) => {
                outcomes.push(Recorded::Refusal);
                exchanges.push(e);
            }
            ExchangeRecord::Accepted {
                jti,
                exchange,
                token,
            } => {
                let fresh = match jti {
                    Some(c) => won.remove(&(c.issuer.clone(), c.jti.clone())),
                    None => true,
                };
                if fresh {
                    outcomes.push(Recorded::Minted);
                    exchanges.push(exchange);
                    tokens.push(token);
                } else {
                    outcomes.push(Recorded::Replayed);
                }
            }
        }
    }

    // 3. One INSERT for the audit rows, one for the tokens.
    let created_at = now();
    if exchanges.is_empty() {
        tx.commit().await?;
        return Ok(outcomes);
    }
    let sql = format!(
        "INSERT INTO exchanges (created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail) VALUES {}",
        placeholders(exchanges.len(), 10)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for e in &exchanges {
        query = query
            .bind(created_at)
            .bind(e.issuer.clone())
            .bind(e.provider.clone())
            .bind(e.outcome.clone())
            .bind(e.description.clone())
            .bind(e.publisher_id)
            .bind(e.project.clone())
            .bind(e.token_id.clone())
            .bind(e.token_expires)
            .bind(e.detail.clone());
    }
    query.execute(&mut *tx).await?;
    if !tokens.is_empty() {
        let sql = format!(
            "INSERT INTO api_tokens (id, token_hash, kind, publisher_id, projects, description, created_at, expires_at) VALUES {}",
            placeholders(tokens.len(), 8)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in &tokens {
            query = query
                .bind(t.id.clone())
                .bind(t.token_hash.clone())
                .bind(t.kind)
                .bind(t.publisher_id)
                .bind(
                    t.projects
                        .as_ref()
                        .map(|p| serde_json::to_string(p).unwrap_or_default()),
                )
                .bind(t.description.clone())
                .bind(created_at)
                .bind(t.expires_at);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
