//! Trusted OIDC issuers: the allowlist consulted before any key is fetched.

use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{PublisherRow, Store, StoreResult};
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrustedIssuerRow {
    pub id: i64,
    pub provider: String,
    pub url: String,
    pub jwks_url: Option<String>,
    pub created_at: i64,
}

fn issuer_row(row: &AnyRow) -> Result<TrustedIssuerRow, sqlx::Error> {
    Ok(TrustedIssuerRow {
        id: row.try_get(0)?,
        provider: row.try_get(1)?,
        url: row.try_get(2)?,
        jwks_url: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

impl Store {
    /// Add an issuer, or update the provider and key URL of one with the same `url`.
    pub async fn upsert_issuer(
        &self,
        provider: &str,
        url: &str,
        jwks_url: Option<&str>,
    ) -> StoreResult<TrustedIssuerRow> {
        sqlx::query(
            "INSERT INTO trusted_issuers (provider, url, jwks_url, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO UPDATE SET provider = excluded.provider, jwks_url = excluded.jwks_url",
        )
        .bind(provider)
        .bind(url)
        .bind(jwks_url)
        .bind(now())
        .execute(&self.write)
        .await?;
        self.changed().await;
        let row = sqlx::query(
            "SELECT id, provider, url, jwks_url, created_at FROM trusted_issuers WHERE url = $1",
        )
        .bind(url)
        .fetch_one(&self.write)
        .await?;
        Ok(issuer_row(&row)?)
    }

    /// Exact-string lookup, as PyPI matches `iss`.
    pub async fn trusted_issuer(&self, url: &str) -> StoreResult<Option<TrustedIssuerRow>> {
        let row = sqlx::query(
            "SELECT id, provider, url, jwks_url, created_at FROM trusted_issuers WHERE url = $1",
        )
        .bind(url)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.as_ref().map(issuer_row).transpose()?)
    }

    /// The trusted issuer for `url` with every publisher of its provider, in one
    /// round trip (the exchange's only read).
    pub async fn issuer_with_publishers(
        &self,
        url: &str,
    ) -> StoreResult<Option<(TrustedIssuerRow, Vec<PublisherRow>)>> {
        let rows = sqlx::query(
            "SELECT i.id, i.provider, i.url, i.jwks_url, i.created_at, p.id, p.provider, p.project, p.pending, p.config, p.created_at \
             FROM trusted_issuers i LEFT JOIN publishers p ON p.provider = i.provider WHERE i.url = $1 ORDER BY p.id",
        )
        .bind(url)
        .fetch_all(&self.read)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let issuer = issuer_row(first)?;
        let mut publishers = Vec::new();
        for row in &rows {
            let Some(id) = row.try_get::<Option<i64>, _>(5)? else {
                continue;
            };
            let config: String = row.try_get(9)?;
            publishers.push(PublisherRow {
                id,
                provider: row.try_get(6)?,
                project: row.try_get(7)?,
                pending: row.try_get::<i64, _>(8)? != 0,
                config: serde_json::from_str(&config).unwrap_or_default(),
                created_at: row.try_get(10)?,
            });
        }
        Ok(Some((issuer, publishers)))
    }

    /// [`Store::issuer_with_publishers`], served from memory while nothing changed.
    pub async fn issuer_with_publishers_cached(
        &self,
        url: &str,
    ) -> StoreResult<Arc<Option<(TrustedIssuerRow, Vec<PublisherRow>)>>> {
        // Read the counter before the query: a change racing it leaves an old tag.
        let generation = self.generation();
        if let Some(g) = generation
            && let Ok(entries) = self.issuer_cache.entries.read()
            && let Some((tag, hit)) = entries.get(url)
            && *tag == g
        {
            return Ok(hit.clone());
        }
        let fresh = Arc::new(self.issuer_with_publishers(url).await?);
        if let Some(g) = generation
            && let Ok(mut entries) = self.issuer_cache.entries.write()
        {
            // Unknown issuers are cached too; bound the map against `iss` spraying.
            if entries.len() >= 1024 {
                entries.clear();
            }
            entries.insert(url.to_owned(), (g, fresh.clone()));
        }
        Ok(fresh)
    }

    pub async fn list_issuers(&self) -> StoreResult<Vec<TrustedIssuerRow>> {
        let rows = sqlx::query(
            "SELECT id, provider, url, jwks_url, created_at FROM trusted_issuers ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(issuer_row).collect::<Result<_, _>>()?)
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
