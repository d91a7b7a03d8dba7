//! The audit log: one row per mint attempt, accepted or refused.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreResult};

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
    /// JSON text: serialised once, by the caller, from borrowed data.
    pub detail: String,
}

#[derive(Clone, Debug, serde::Serialize)]
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
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ExchangeFilter {
    pub project: Option<String>,
    pub publisher: Option<i64>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<i64>,
}

fn exchange_row(row: &AnyRow) -> Result<ExchangeRow, sqlx::Error> {
    let detail: String = row.try_get(10)?;
    Ok(ExchangeRow {
        id: row.try_get(0)?,
        created_at: row.try_get(1)?,
        issuer: row.try_get(2)?,
        provider: row.try_get(3)?,
        outcome: row.try_get(4)?,
        description: row.try_get(5)?,
        publisher_id: row.try_get(6)?,
        project: row.try_get(7)?,
        token_id: row.try_get(8)?,
        token_expires: row.try_get(9)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}

impl Store {
    /// Newest first.
    pub async fn list_exchanges(&self, filter: &ExchangeFilter) -> StoreResult<Vec<ExchangeRow>> {
        let mut sql = String::from(
            "SELECT id, created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail \
             FROM exchanges WHERE 1 = 1",
        );
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
        let mut query = sqlx::query(AssertSqlSafe(sql));
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
        let rows = query.fetch_all(&self.read).await?;
        Ok(rows.iter().map(exchange_row).collect::<Result<_, _>>()?)
    }

    pub async fn exchange(&self, id: i64) -> StoreResult<Option<ExchangeRow>> {
        let row = sqlx::query(
            "SELECT id, created_at, issuer, provider, outcome, description, publisher_id, project, token_id, token_expires, detail \
             FROM exchanges WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.as_ref().map(exchange_row).transpose()?)
    }
}
