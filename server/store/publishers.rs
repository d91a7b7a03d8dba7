//! Trusted publishers. Provider-specific fields are kept as canonical JSON so every
//! provider shares one table and replicas compare configurations byte for byte.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::util::now;

#[derive(Clone, Debug, serde::Serialize)]
pub struct PublisherRow {
    pub id: i64,
    pub provider: String,
    pub project: String,
    pub pending: bool,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub created_at: i64,
}

fn publisher_row(row: &AnyRow) -> Result<PublisherRow, sqlx::Error> {
    let config: String = row.try_get(4)?;
    Ok(PublisherRow {
        id: row.try_get(0)?,
        provider: row.try_get(1)?,
        project: row.try_get(2)?,
        pending: row.try_get::<i64, _>(3)? != 0,
        config: serde_json::from_str(&config).unwrap_or_default(),
        created_at: row.try_get(5)?,
    })
}

impl Store {
    pub async fn insert_publisher(
        &self,
        provider: &str,
        project: &str,
        pending: bool,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<PublisherRow> {
        // serde_json's Map is ordered by key, so equal configs serialise identically.
        let config_text = serde_json::Value::Object(config.clone()).to_string();
        let created_at = now();
        let id: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO publishers (provider, project, pending, config, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(provider)
        .bind(project)
        .bind(i64::from(pending))
        .bind(&config_text)
        .bind(created_at)
        .fetch_one(&self.write)
        .await;
        if id.is_ok() {
            self.changed().await;
        }
        match id {
            Ok(id) => Ok(PublisherRow {
                id,
                provider: provider.to_owned(),
                project: project.to_owned(),
                pending,
                config: config.clone(),
                created_at,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_publishers(&self, provider: Option<&str>) -> StoreResult<Vec<PublisherRow>> {
        let rows = match provider {
            Some(p) => {
                sqlx::query("SELECT id, provider, project, pending, config, created_at FROM publishers WHERE provider = $1 ORDER BY id")
                    .bind(p)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query("SELECT id, provider, project, pending, config, created_at FROM publishers ORDER BY id")
                    .fetch_all(&self.read)
                    .await?
            }
        };
        Ok(rows.iter().map(publisher_row).collect::<Result<_, _>>()?)
    }

    pub async fn delete_publisher(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM publishers WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changed().await;
        Ok(done.rows_affected() > 0)
    }

    /// Every project served by a publisher with this exact configuration: PyPI scopes a
    /// minted token to all of them.
    pub async fn projects_for_config(
        &self,
        provider: &str,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<Vec<String>> {
        let config_text = serde_json::Value::Object(config.clone()).to_string();
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT project FROM publishers WHERE provider = $1 AND config = $2 AND pending = 0 ORDER BY project",
        )
        .bind(provider)
        .bind(config_text)
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
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
}

impl Store {
    /// Create the pending publisher's project and make the publisher a normal one, in
    /// one transaction: concurrent exchanges on any replica reify it exactly once.
    pub async fn reify_pending(&self, publisher_id: i64) -> StoreResult<Reified> {
        let mut tx = self.write.begin().await?;
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
