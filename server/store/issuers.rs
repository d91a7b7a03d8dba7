//! Trusted OIDC issuers: the allowlist consulted before any key is fetched.

use sqlx::AssertSqlSafe;

use super::publishers::PublisherRecord;
use super::{Store, StoreResult};
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct TrustedIssuerRow {
    pub id: i64,
    pub provider: String,
    pub url: String,
    pub jwks_url: Option<String>,
    pub created_at: i64,
}

const ISSUER_COLUMNS: &str = "id, provider, url, jwks_url, created_at";

/// One row of the issuer ⟕ publishers join.
#[derive(sqlx::FromRow)]
struct IssuerPublisher {
    #[sqlx(flatten)]
    issuer: TrustedIssuerRow,
    p_id: Option<i64>,
    p_provider: Option<String>,
    p_project: Option<String>,
    p_pending: Option<i64>,
    p_config: Option<String>,
    p_created_at: Option<i64>,
}

impl Store {
    /// Add an issuer, or update the provider and key URL of one with the same `url`.
    pub async fn upsert_issuer(
        &self,
        provider: &str,
        url: &str,
        jwks_url: Option<&str>,
    ) -> StoreResult<TrustedIssuerRow> {
        let row = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO trusted_issuers (provider, url, jwks_url, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO UPDATE SET provider = excluded.provider, jwks_url = excluded.jwks_url \
             RETURNING {ISSUER_COLUMNS}"
        )))
        .bind(provider)
        .bind(url)
        .bind(jwks_url)
        .bind(now())
        .fetch_one(&self.write)
        .await?;
        self.changed().await;
        Ok(row)
    }

    /// The trusted issuer for `url` (exact, as PyPI matches `iss`) with every publisher
    /// of its provider, in one round trip (the exchange's only read).
    /// Trusted issuers whose URL is a pattern (one `*`: a Semaphore organisation).
    pub async fn pattern_issuers(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT url FROM trusted_issuers WHERE url LIKE '%*%' ORDER BY id")
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn issuer_with_publishers(
        &self,
        url: &str,
    ) -> StoreResult<Option<(TrustedIssuerRow, Vec<PublisherRecord>)>> {
        let rows: Vec<IssuerPublisher> = sqlx::query_as(AssertSqlSafe(
            "SELECT i.id, i.provider, i.url, i.jwks_url, i.created_at, p.id AS p_id, p.provider AS p_provider, \
             p.project AS p_project, p.pending AS p_pending, p.config AS p_config, p.created_at AS p_created_at \
             FROM trusted_issuers i LEFT JOIN publishers p ON p.provider = i.provider WHERE i.url = $1 ORDER BY p.id",
        ))
        .bind(url)
        .fetch_all(&self.read)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let issuer = first.issuer.clone();
        let publishers = rows
            .into_iter()
            .filter_map(|r| {
                Some(PublisherRecord {
                    id: r.p_id?,
                    provider: r.p_provider?,
                    project: r.p_project?,
                    pending: r.p_pending?,
                    config: r.p_config?,
                    created_at: r.p_created_at?,
                })
            })
            .collect();
        Ok(Some((issuer, publishers)))
    }

    pub async fn list_issuers(&self) -> StoreResult<Vec<TrustedIssuerRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ISSUER_COLUMNS} FROM trusted_issuers ORDER BY id"
        )))
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn issuer_by_id(&self, id: i64) -> StoreResult<Option<TrustedIssuerRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ISSUER_COLUMNS} FROM trusted_issuers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn delete_issuer(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM trusted_issuers WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }
}
