//! The audit log (one row per mint attempt, accepted or refused), written by the
//! exchange path's group commit together with the `jti` claim and the minted token.
//! The `jti` claim stays a database decision (`ON CONFLICT DO NOTHING`), so a replay is
//! refused exactly once on any number of replicas.

use std::collections::HashSet;

use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Row};

use super::batcher::{Batcher, Dedicated, fail_all};
use super::sql::placeholders;
use super::tokens::NewToken;
use super::{Store, StoreResult};
use crate::audit::Detail;
use crate::util::now;

#[derive(Clone, Debug, Default)]
pub struct NewExchange {
    pub issuer: Option<String>,
    pub provider: Option<String>,
    pub outcome: String,
    pub description: String,
    pub publisher_id: Option<i64>,
    pub project: Option<String>,
    pub token_id: Option<String>,
    pub token_expires: Option<i64>,
    /// The audit detail's stored form (serialised once, by the caller).
    pub detail: String,
}

/// The stored text of a detail: read leniently (see [`Detail::from_stored`]).
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct StoredDetail(pub Detail);

impl From<String> for StoredDetail {
    fn from(text: String) -> Self {
        Self(Detail::from_stored(&text))
    }
}

#[derive(Debug, sqlx::FromRow, serde::Serialize)]
pub struct ExchangeRow {
    pub id: i64,
    pub created_at: i64,
    pub issuer: Option<String>,
    pub provider: Option<String>,
    pub outcome: String,
    pub description: String,
    pub publisher_id: Option<i64>,
    pub project: Option<String>,
    pub token_id: Option<String>,
    pub token_expires: Option<i64>,
    #[sqlx(try_from = "String")]
    pub detail: StoredDetail,
}

const EXCHANGE_COLUMNS: &str = "id, created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail";

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ExchangeFilter {
    pub project: Option<String>,
    pub publisher: Option<i64>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<i64>,
}

impl Store {
    /// Newest first.
    pub async fn list_exchanges(&self, filter: &ExchangeFilter) -> StoreResult<Vec<ExchangeRow>> {
        let mut sql = format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.project.is_some() {
            sql += &format!(" AND project = ${}", next());
        }
        if filter.publisher.is_some() {
            sql += &format!(" AND publisher_id = ${}", next());
        }
        if filter.outcome.is_some() {
            sql += &format!(" AND outcome = ${}", next());
        }
        if filter.since.is_some() {
            sql += &format!(" AND created_at >= ${}", next());
        }
        if filter.until.is_some() {
            sql += &format!(" AND created_at <= ${}", next());
        }
        sql += &format!(" ORDER BY id DESC LIMIT ${}", next());
        let mut query = sqlx::query_as::<_, ExchangeRow>(AssertSqlSafe(sql));
        if let Some(p) = &filter.project {
            query = query.bind(p.clone());
        }
        if let Some(p) = filter.publisher {
            query = query.bind(p);
        }
        if let Some(o) = &filter.outcome {
            query = query.bind(o.clone());
        }
        if let Some(s) = filter.since {
            query = query.bind(s);
        }
        if let Some(u) = filter.until {
            query = query.bind(u);
        }
        query = query.bind(filter.limit.unwrap_or(100).clamp(1, 1000));
        Ok(query.fetch_all(&self.read).await?)
    }

    pub async fn exchange(&self, id: i64) -> StoreResult<Option<ExchangeRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }
}

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

pub(super) fn writer(pool: AnyPool) -> Batcher<ExchangeRecord, Recorded> {
    let conn = Arc::new(tokio::sync::Mutex::new(Dedicated::new(pool)));
    Batcher::spawn("exchanges", 4096, move |records: Vec<ExchangeRecord>| {
        let conn = conn.clone();
        async move {
            let jobs = records.len();
            let mut conn = conn.lock().await;
            let written = match conn.get().await {
                Ok(c) => write_batch(c, records).await,
                Err(e) => Err(e),
            };
            match written {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(e) => {
                    conn.discard();
                    fail_all("exchanges", jobs, e)
                }
            }
        }
    })
}

/// The batch's records are consumed: their text moves into the statements.
async fn write_batch(
    conn: &mut AnyConnection,
    records: Vec<ExchangeRecord>,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut tx = conn.begin().await?;

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
            won.insert((row.try_get("issuer")?, row.try_get("jti")?));
        }
    }

    // 2. Decide each record; within a batch the first claimant of a jti wins.
    let mut outcomes = Vec::with_capacity(records.len());
    let mut exchanges: Vec<NewExchange> = Vec::with_capacity(records.len());
    let mut tokens: Vec<NewToken> = Vec::new();
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
    if !exchanges.is_empty() {
        insert_exchanges(&mut tx, exchanges).await?;
    }
    if !tokens.is_empty() {
        super::tokens::insert_tokens(&mut tx, tokens).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn insert_exchanges(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    exchanges: Vec<NewExchange>,
) -> Result<(), sqlx::Error> {
    let created_at = now();
    let sql = format!(
        "INSERT INTO exchanges (created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail) VALUES {}",
        placeholders(exchanges.len(), 10)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for e in exchanges {
        query = query
            .bind(created_at)
            .bind(e.issuer)
            .bind(e.provider)
            .bind(e.outcome)
            .bind(e.description)
            .bind(e.publisher_id)
            .bind(e.project)
            .bind(e.token_id)
            .bind(e.token_expires)
            .bind(e.detail);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}
