//! Prohibited project names (PyPI's admin list): nobody may create these projects,
//! by upload or through a pending publisher. Names are kept normalized.

use super::{Store, StoreResult};
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct ProhibitedName {
    pub name: String,
    pub comment: String,
    pub created_at: i64,
}

impl Store {
    pub async fn list_prohibited(&self) -> StoreResult<Vec<ProhibitedName>> {
        Ok(
            sqlx::query_as("SELECT name, comment, created_at FROM prohibited_names ORDER BY name")
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Add a name (normalized by the caller); adding it again keeps the first entry.
    pub async fn add_prohibited(
        &self,
        normalized: &str,
        comment: &str,
    ) -> StoreResult<ProhibitedName> {
        Ok(sqlx::query_as(
            "INSERT INTO prohibited_names (name, comment, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING name, comment, created_at",
        )
        .bind(normalized)
        .bind(comment)
        .bind(now())
        .fetch_one(&self.write)
        .await?)
    }

    /// `true` if the name was on the list.
    pub async fn remove_prohibited(&self, normalized: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM prohibited_names WHERE name = $1")
            .bind(normalized)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn is_prohibited(&self, normalized: &str) -> StoreResult<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM prohibited_names WHERE name = $1")
                .bind(normalized)
                .fetch_optional(&self.read)
                .await?;
        Ok(found.is_some())
    }
}
