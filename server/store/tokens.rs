//! API tokens (only their SHA-256 is stored): the short-lived ones minted by an
//! exchange and the long-lived ones of the control API; and the `jti` replay records.

use sqlx::AssertSqlSafe;

use super::sql::AnyQuery;
use super::{Store, StoreResult};
use crate::util::now;

/// Who made a token: a trusted-publishing exchange, or the control API (a user's
/// long-lived API token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Oidc,
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Api => "api",
        }
    }
}

impl TryFrom<String> for TokenKind {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "oidc" => Ok(Self::Oidc),
            "api" => Ok(Self::Api),
            _ => Err(format!("unknown token kind '{text}'")),
        }
    }
}

pub struct NewToken {
    pub id: String,
    pub token_hash: String,
    pub kind: TokenKind,
    pub publisher_id: Option<i64>,
    /// Normalized project names; `None` means every project.
    pub projects: Option<Vec<String>>,
    pub description: String,
    pub expires_at: Option<i64>,
    /// PEP 807's `single-use-token`: good for one upload.
    pub single_use: bool,
}

/// A token's project list as stored: JSON text, or NULL for every project.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Projects(pub Option<Vec<String>>);

impl TryFrom<Option<String>> for Projects {
    type Error = serde_json::Error;
    fn try_from(text: Option<String>) -> Result<Self, Self::Error> {
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map(Projects)
    }
}

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: TokenKind,
    pub publisher_id: Option<i64>,
    #[sqlx(try_from = "Option<String>")]
    pub projects: Projects,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub burned_at: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub single_use: Flag,
    /// When a single-use token was used.
    pub used_at: Option<i64>,
}

/// A 0/1 column as a boolean (SQLite has no boolean type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Flag(pub bool);

impl From<i64> for Flag {
    fn from(v: i64) -> Self {
        Self(v != 0)
    }
}

const TOKEN_COLUMNS: &str = "id, kind, publisher_id, projects, description, created_at, expires_at, burned_at, single_use, used_at";

fn projects_text(projects: &Option<Vec<String>>) -> Option<String> {
    projects
        .as_ref()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
}

/// Bind a token's nine columns (in the order of the INSERTs that store them).
pub(super) fn bind_token<'q>(query: AnyQuery<'q>, t: NewToken, created_at: i64) -> AnyQuery<'q> {
    let projects = projects_text(&t.projects);
    query
        .bind(t.id)
        .bind(t.token_hash)
        .bind(t.kind.as_str())
        .bind(t.publisher_id)
        .bind(projects)
        .bind(t.description)
        .bind(created_at)
        .bind(t.expires_at)
        .bind(i64::from(t.single_use))
}

impl Store {
    pub async fn purge_expired_jti(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM oidc_jti WHERE expires_at < $1")
            .bind(now())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Revoke a token (a second burn keeps the first time). The token as it is now, or
    /// `None` if unknown.
    pub async fn burn_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE api_tokens SET burned_at = COALESCE(burned_at, $1) WHERE token_hash = $2 RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(now())
        .bind(token_hash)
        .fetch_optional(&self.write)
        .await?)
    }

    /// Store a token created outside an exchange (a long-lived API token).
    pub async fn insert_token(&self, token: &NewToken) -> StoreResult<TokenRow> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO api_tokens (id, token_hash, kind, publisher_id, projects, description, created_at, expires_at, single_use) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(token.kind.as_str())
        .bind(token.publisher_id)
        .bind(projects_text(&token.projects))
        .bind(&token.description)
        .bind(now())
        .bind(token.expires_at)
        .bind(i64::from(token.single_use))
        .fetch_one(&self.write)
        .await?)
    }

    /// Use up a single-use token: `true` for the first use only (on any replica).
    pub async fn use_single_use_token(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET used_at = $1 WHERE id = $2 AND single_use = 1 AND used_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tokens of one kind, newest first.
    pub async fn list_tokens(&self, kind: TokenKind) -> StoreResult<Vec<TokenRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE kind = $1 ORDER BY created_at DESC, id"
        )))
        .bind(kind.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    /// Revoke a token by its public id; the token as it is now, or `None` if unknown.
    pub async fn revoke_token(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE api_tokens SET burned_at = COALESCE(burned_at, $1) WHERE id = $2 RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(now())
        .bind(id)
        .fetch_optional(&self.write)
        .await?)
    }
}
