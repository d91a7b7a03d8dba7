//! Short-lived API tokens (only their SHA-256 is stored) and OIDC `jti` replay records.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult};
use crate::util::now;

pub struct NewToken {
    pub id: String,
    pub token_hash: String,
    pub kind: &'static str,
    pub publisher_id: Option<i64>,
    /// Normalized project names; `None` means every project.
    pub projects: Option<Vec<String>>,
    pub description: String,
    pub expires_at: Option<i64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenRow {
    pub id: String,
    pub kind: String,
    pub publisher_id: Option<i64>,
    pub projects: Option<Vec<String>>,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub burned_at: Option<i64>,
}

fn token_row(row: &AnyRow) -> Result<TokenRow, sqlx::Error> {
    let projects: Option<String> = row.try_get(3)?;
    Ok(TokenRow {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        publisher_id: row.try_get(2)?,
        projects: projects.and_then(|p| serde_json::from_str(&p).ok()),
        description: row.try_get(4)?,
        created_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        burned_at: row.try_get(7)?,
    })
}

impl Store {
    /// Has this `jti` been used (and not yet expired from memory)?
    pub async fn jti_seen(&self, issuer: &str, jti: &str) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM oidc_jti WHERE issuer = $1 AND jti = $2")
                .bind(issuer)
                .bind(jti)
                .fetch_one(&self.read)
                .await?;
        Ok(n > 0)
    }

    pub async fn purge_expired_jti(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oidc_jti WHERE expires_at < $1")
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, kind, publisher_id, projects, description, created_at, expires_at, burned_at \
             FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    /// Revoke a token. Returns the token as it is now, or `None` if unknown.
    pub async fn burn_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        sqlx::query(
            "UPDATE api_tokens SET burned_at = $1 WHERE token_hash = $2 AND burned_at IS NULL",
        )
        .bind(now())
        .bind(token_hash)
        .execute(&self.write)
        .await?;
        let row = sqlx::query(
            "SELECT id, kind, publisher_id, projects, description, created_at, expires_at, burned_at \
             FROM api_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }
}

const TOKEN_COLUMNS: &str =
    "id, kind, publisher_id, projects, description, created_at, expires_at, burned_at";

impl Store {
    /// Store a token created outside an exchange (a long-lived API token).
    pub async fn insert_token(&self, token: &NewToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, kind, publisher_id, projects, description, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(token.kind)
        .bind(token.publisher_id)
        .bind(
            token
                .projects
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_default()),
        )
        .bind(&token.description)
        .bind(now())
        .bind(token.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Tokens of one kind (`api` or `oidc`), newest first.
    pub async fn list_tokens(&self, kind: &str) -> StoreResult<Vec<TokenRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE kind = $1 ORDER BY created_at DESC, id"
        )))
        .bind(kind)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
    }

    pub async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    /// Revoke a token by its public id; the token as it is now, or `None` if unknown.
    pub async fn revoke_token(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        sqlx::query("UPDATE api_tokens SET burned_at = $1 WHERE id = $2 AND burned_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.write)
            .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.write)
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }
}
