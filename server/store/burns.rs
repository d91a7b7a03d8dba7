//! The burn-token audit: one row per `POST /_/oidc/burn-token`, with what it did.

use sqlx::AssertSqlSafe;

use super::{Store, StoreResult};
use crate::audit::BurnOutcome;
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct BurnRow {
    pub id: i64,
    pub created_at: i64,
    /// The token burned or refused; `None` for a token this index does not know.
    pub token_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub outcome: BurnOutcome,
}

impl Store {
    pub async fn record_burn(
        &self,
        token_id: Option<&str>,
        outcome: BurnOutcome,
    ) -> StoreResult<BurnRow> {
        Ok(sqlx::query_as(
            "INSERT INTO token_burns (created_at, token_id, outcome) VALUES ($1, $2, $3) \
             RETURNING id, created_at, token_id, outcome",
        )
        .bind(now())
        .bind(token_id)
        .bind(outcome.as_str())
        .fetch_one(&self.write)
        .await?)
    }

    /// Newest first; only those of one token when `token_id` is given.
    pub async fn burns(&self, token_id: Option<&str>, limit: i64) -> StoreResult<Vec<BurnRow>> {
        const COLUMNS: &str = "SELECT id, created_at, token_id, outcome FROM token_burns";
        let limit = limit.clamp(1, 1000);
        let rows = match token_id {
            Some(id) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "{COLUMNS} WHERE token_id = $1 ORDER BY id DESC LIMIT $2"
                )))
                .bind(id)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "{COLUMNS} ORDER BY id DESC LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        Ok(rows)
    }
}
