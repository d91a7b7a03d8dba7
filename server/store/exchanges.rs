//! The audit log (one row per mint attempt, accepted or refused), written by the
//! exchange path's group commit together with the `jti` claim and the minted token.
//! The `jti` claim stays a database decision (`ON CONFLICT DO NOTHING`), so a replay is
//! refused exactly once on any number of replicas.

use std::collections::HashSet;

use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Row};

use super::Backend;
use super::batcher::{Batcher, Dedicated, fail_all};
use super::sql::{AnyQuery, placeholders_from};
use super::tokens::NewToken;
use super::tokens::bind_token;
use super::{Store, StoreResult};
use crate::audit::{Detail, ExchangeOutcome};
use crate::util::now;

#[derive(Clone, Debug)]
pub struct NewExchange {
    pub issuer: Option<String>,
    pub provider: Option<String>,
    pub outcome: ExchangeOutcome,
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
    #[sqlx(try_from = "String")]
    pub outcome: ExchangeOutcome,
    pub description: String,
    pub publisher_id: Option<i64>,
    pub project: Option<String>,
    pub token_id: Option<String>,
    pub token_expires: Option<i64>,
    #[sqlx(try_from = "String")]
    pub detail: StoredDetail,
}

pub(super) const EXCHANGE_COLUMNS: &str = "id, created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail";

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
// Both variants are common and each is moved once, into the batch queue: boxing the
// larger would add an allocation per mint for nothing.
#[allow(clippy::large_enum_variant)]
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

pub(super) fn writer(pool: AnyPool, backend: Backend) -> Batcher<ExchangeRecord, Recorded> {
    let conn = Arc::new(tokio::sync::Mutex::new(Dedicated::new(pool)));
    Batcher::spawn("exchanges", 4096, move |records: Vec<ExchangeRecord>| {
        let conn = conn.clone();
        async move {
            let jobs = records.len();
            let mut conn = conn.lock().await;
            let batch = Batch::settle(records);
            let written = match conn.get().await {
                Ok(c) if backend == Backend::Sqlite => write_sqlite(c, batch).await,
                Ok(c) => write_postgres(c, batch).await,
                Err(e) => Err(e),
            };
            match written {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(e) => {
                    // It may have left a transaction open.
                    conn.discard();
                    fail_all("exchanges", jobs, e)
                }
            }
        }
    })
}

/// What one record will become once the batch's jti claims are known.
enum Pending {
    Refusal,
    /// Minted if its token (this id) was stored.
    Token(String),
    Replayed,
}

/// A batch sorted into rows, with replays inside the batch already settled (the first
/// claimant of a jti keeps it), so the database decides only against earlier batches.
struct Batch {
    pending: Vec<Pending>,
    /// Each claim with the id of the token it would mint.
    claims: Vec<(JtiClaim, String)>,
    /// Each token with its claim's (issuer, jti), if it has one.
    tokens: Vec<(NewToken, Option<(String, String)>)>,
    exchanges: Vec<NewExchange>,
}

impl Batch {
    fn settle(records: Vec<ExchangeRecord>) -> Self {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut batch = Batch {
            pending: Vec::with_capacity(records.len()),
            claims: Vec::new(),
            tokens: Vec::new(),
            exchanges: Vec::with_capacity(records.len()),
        };
        for record in records {
            match record {
                ExchangeRecord::Refused(e) => {
                    batch.pending.push(Pending::Refusal);
                    batch.exchanges.push(e);
                }
                ExchangeRecord::Accepted {
                    jti,
                    exchange,
                    token,
                } => {
                    let key = jti.as_ref().map(|c| (c.issuer.clone(), c.jti.clone()));
                    if let Some(k) = &key
                        && !seen.insert(k.clone())
                    {
                        batch.pending.push(Pending::Replayed);
                        continue;
                    }
                    batch.pending.push(Pending::Token(token.id.clone()));
                    if let Some(c) = jti {
                        batch.claims.push((c, token.id.clone()));
                    }
                    batch.tokens.push((token, key));
                    batch.exchanges.push(exchange);
                }
            }
        }
        batch
    }
}

/// Each record's outcome, given the ids of the tokens the batch stored.
fn outcomes(pending: Vec<Pending>, stored: &HashSet<String>) -> Vec<Recorded> {
    pending
        .into_iter()
        .map(|p| match p {
            Pending::Refusal => Recorded::Refusal,
            Pending::Token(id) if stored.contains(&id) => Recorded::Minted,
            Pending::Token(_) | Pending::Replayed => Recorded::Replayed,
        })
        .collect()
}

/// SQLite: the whole batch in one round trip. The jti rows name the token they mint;
/// a token is stored only if its claim was won (or it has none), an accepted audit row
/// only if its token was stored. The claims this batch won come back from RETURNING.
async fn write_sqlite(
    conn: &mut AnyConnection,
    batch: Batch,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let created_at = now();
    let mut sql = String::from("BEGIN IMMEDIATE;");
    let mut next = 0;
    if !batch.claims.is_empty() {
        sql += &format!(
            "INSERT INTO oidc_jti (issuer, jti, expires_at, token_id) VALUES {} ON CONFLICT (issuer, jti) DO NOTHING RETURNING token_id;",
            placeholders_from(next, batch.claims.len(), 4)
        );
        next += batch.claims.len() * 4;
    }
    if !batch.tokens.is_empty() {
        sql += &format!(
            "INSERT INTO api_tokens (id, token_hash, kind, publisher_id, projects, description, created_at, expires_at, single_use) \
             SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9 FROM (VALUES {}) AS v \
             WHERE v.column10 IS NULL OR EXISTS (SELECT 1 FROM oidc_jti j WHERE j.issuer = v.column10 AND j.jti = v.column11 AND j.token_id = v.column1);",
            placeholders_from(next, batch.tokens.len(), 11)
        );
        next += batch.tokens.len() * 11;
    }
    if !batch.exchanges.is_empty() {
        sql += &format!(
            "INSERT INTO exchanges (created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail) \
             SELECT * FROM (VALUES {}) AS v WHERE v.column8 IS NULL OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.id = v.column8);",
            placeholders_from(next, batch.exchanges.len(), 10)
        );
    }
    sql += "COMMIT;";

    let mut query = sqlx::query(AssertSqlSafe(sql));
    let unclaimed: Vec<String> = batch
        .tokens
        .iter()
        .filter(|(_, key)| key.is_none())
        .map(|(t, _)| t.id.clone())
        .collect();
    for (c, token_id) in &batch.claims {
        query = query
            .bind(c.issuer.clone())
            .bind(c.jti.clone())
            .bind(c.expires_at)
            .bind(token_id.clone());
    }
    let Batch {
        pending,
        tokens,
        exchanges,
        ..
    } = batch;
    for (t, key) in tokens {
        let (issuer, jti) = key.unzip();
        query = bind_token(query, t, created_at).bind(issuer).bind(jti);
    }
    for e in exchanges {
        query = bind_exchange(query, e, created_at);
    }
    let mut stored: HashSet<String> = unclaimed.into_iter().collect();
    for row in query.fetch_all(&mut *conn).await? {
        stored.insert(row.try_get("token_id")?);
    }
    Ok(outcomes(pending, &stored))
}

/// PostgreSQL: one transaction, the claims first (RETURNING names the ones won), then
/// the rows of the records that won.
async fn write_postgres(
    conn: &mut AnyConnection,
    batch: Batch,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let created_at = now();
    let mut tx = conn.begin().await?;
    let Batch {
        pending,
        claims,
        tokens,
        exchanges,
    } = batch;
    let mut won: HashSet<String> = HashSet::new();
    if !claims.is_empty() {
        let sql = format!(
            "INSERT INTO oidc_jti (issuer, jti, expires_at, token_id) VALUES {} ON CONFLICT (issuer, jti) DO NOTHING RETURNING token_id",
            placeholders_from(0, claims.len(), 4)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (c, token_id) in claims {
            query = query
                .bind(c.issuer)
                .bind(c.jti)
                .bind(c.expires_at)
                .bind(token_id);
        }
        for row in query.fetch_all(&mut *tx).await? {
            won.insert(row.try_get("token_id")?);
        }
    }
    let tokens: Vec<NewToken> = tokens
        .into_iter()
        .filter(|(t, key)| key.is_none() || won.contains(&t.id))
        .map(|(t, _)| t)
        .collect();
    let stored: HashSet<String> = tokens.iter().map(|t| t.id.clone()).collect();
    let exchanges: Vec<NewExchange> = exchanges
        .into_iter()
        .filter(|e| e.token_id.as_ref().is_none_or(|id| stored.contains(id)))
        .collect();
    if !tokens.is_empty() {
        let sql = format!(
            "INSERT INTO api_tokens (id, token_hash, kind, publisher_id, projects, description, created_at, expires_at, single_use) VALUES {}",
            placeholders_from(0, tokens.len(), 9)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in tokens {
            query = bind_token(query, t, created_at);
        }
        query.execute(&mut *tx).await?;
    }
    if !exchanges.is_empty() {
        let sql = format!(
            "INSERT INTO exchanges (created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail) VALUES {}",
            placeholders_from(0, exchanges.len(), 10)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for e in exchanges {
            query = bind_exchange(query, e, created_at);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(outcomes(pending, &stored))
}

fn bind_exchange(query: AnyQuery<'_>, e: NewExchange, created_at: i64) -> AnyQuery<'_> {
    query
        .bind(created_at)
        .bind(e.issuer)
        .bind(e.provider)
        .bind(e.outcome.as_str())
        .bind(e.description)
        .bind(e.publisher_id)
        .bind(e.project)
        .bind(e.token_id)
        .bind(e.token_expires)
        .bind(e.detail)
}
