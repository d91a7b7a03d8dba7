//! Trusted publishers. Provider-specific fields are kept as canonical JSON text (keys
//! sorted), so every provider shares one table and replicas compare configurations byte
//! for byte; the verifier parses them (`oidc::publisher`).

use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::util::now;

/// A publisher as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PublisherRecord {
    pub id: i64,
    pub provider: String,
    pub project: String,
    /// 1 while pending (BIGINT, as both backends read it).
    pub pending: i64,
    /// Canonical JSON of the provider's fields.
    pub config: String,
    pub created_at: i64,
}

pub(super) const PUBLISHER_COLUMNS: &str = "id, provider, project, pending, config, created_at";

impl Store {
    pub async fn insert_publisher(
        &self,
        provider: &str,
        project: &str,
        pending: bool,
        config: &str,
    ) -> StoreResult<PublisherRecord> {
        let inserted = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO publishers (provider, project, pending, config, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {PUBLISHER_COLUMNS}"
        )))
        .bind(provider)
        .bind(project)
        .bind(i64::from(pending))
        .bind(config)
        .bind(now())
        .fetch_one(&self.write)
        .await;
        match inserted {
            Ok(row) => {
                self.changed().await;
                Ok(row)
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_publishers(
        &self,
        provider: Option<&str>,
    ) -> StoreResult<Vec<PublisherRecord>> {
        let rows = match provider {
            Some(p) => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT {PUBLISHER_COLUMNS} FROM publishers WHERE provider = $1 ORDER BY id"
                )))
                .bind(p)
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT {PUBLISHER_COLUMNS} FROM publishers ORDER BY id"
                )))
                .fetch_all(&self.read)
                .await?
            }
        };
        Ok(rows)
    }

    pub async fn publisher_by_id(&self, id: i64) -> StoreResult<Option<PublisherRecord>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {PUBLISHER_COLUMNS} FROM publishers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn delete_publisher(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM publishers WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }

    /// Replace a publisher's configuration (a Buildkite publisher pinning its ids);
    /// only while it still has the configuration `from`, so a concurrent pin wins once.
    pub async fn repin_publisher(&self, id: i64, from: &str, to: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE publishers SET config = $1 WHERE id = $2 AND config = $3")
            .bind(to)
            .bind(id)
            .bind(from)
            .execute(&self.write)
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }

    /// Move a publisher's creation time (to reach the pending-publisher expiry without
    /// waiting); the new time, or `None` if there is no such publisher.
    pub async fn set_publisher_created(
        &self,
        id: i64,
        created_at: i64,
    ) -> StoreResult<Option<i64>> {
        let set: Option<i64> = sqlx::query_scalar(
            "UPDATE publishers SET created_at = $1 WHERE id = $2 RETURNING created_at",
        )
        .bind(created_at)
        .bind(id)
        .fetch_optional(&self.write)
        .await?;
        self.changed().await;
        Ok(set)
    }
}

/// What turning a pending publisher into a normal one did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reified {
    /// The project was created and the publisher now serves it.
    Created { project: String },
    /// Another exchange reified it first (or it was removed): look again.
    AlreadyDone,
    /// A project with that name exists; the pending publisher was deleted, as PyPI does.
    ProjectExists { project: String },
    /// The name is prohibited: no project is created; the publisher stays pending.
    Prohibited { name: String },
}

impl Store {
    /// Create the pending publisher's project and make the publisher a normal one, in
    /// one transaction: concurrent exchanges on any replica reify it exactly once.
    pub async fn reify_pending(&self, publisher_id: i64) -> StoreResult<Reified> {
        let mut tx = self.begin_write().await?;
        let name: Option<String> =
            sqlx::query_scalar("SELECT project FROM publishers WHERE id = $1 AND pending = 1")
                .bind(publisher_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(name) = name else {
            tx.rollback().await?;
            return Ok(Reified::AlreadyDone);
        };
        let normalized = crate::packaging::normalize_name(&name);
        let prohibited: Option<String> =
            sqlx::query_scalar("SELECT name FROM prohibited_names WHERE name = $1")
                .bind(&normalized)
                .fetch_optional(&mut *tx)
                .await?;
        if prohibited.is_some() {
            tx.rollback().await?;
            return Ok(Reified::Prohibited { name });
        }
        let claimed = sqlx::query(
            "UPDATE publishers SET pending = 0, project = $2 WHERE id = $1 AND pending = 1",
        )
        .bind(publisher_id)
        .bind(&normalized)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Reified::AlreadyDone);
        }
        let created = sqlx::query(
            "INSERT INTO projects (name, normalized_name, created_at, last_serial) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (normalized_name) DO NOTHING",
        )
        .bind(&name)
        .bind(&normalized)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if created.rows_affected() == 0 {
            tx.rollback().await?;
            sqlx::query("DELETE FROM publishers WHERE id = $1 AND pending = 1")
                .bind(publisher_id)
                .execute(&self.write)
                .await?;
            self.changed().await;
            return Ok(Reified::ProjectExists {
                project: normalized,
            });
        }
        tx.commit().await?;
        self.changed().await;
        Ok(Reified::Created {
            project: normalized,
        })
    }
}
