//! Faults that fired (see `faults`): the audit of the failure kit.

use super::{Store, StoreResult};
use crate::util::now;

pub struct NewFaultEvent {
    pub fault_id: i64,
    pub scenario: Option<String>,
    pub route: String,
    pub method: String,
    pub path: String,
    /// The action, as JSON.
    pub action: String,
    pub project: Option<String>,
    pub filename: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct FaultEventRow {
    pub id: i64,
    pub created_at: i64,
    pub fault_id: i64,
    pub scenario: Option<String>,
    pub route: String,
    pub method: String,
    pub path: String,
    #[sqlx(try_from = "String")]
    pub action: ActionJson,
    pub project: Option<String>,
    pub filename: Option<String>,
}

/// The action as stored (JSON text), served as JSON.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(transparent)]
pub struct ActionJson(pub serde_json::Value);

impl From<String> for ActionJson {
    fn from(text: String) -> Self {
        Self(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }
}

impl Store {
    pub async fn record_fault_event(&self, e: NewFaultEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO fault_events (created_at, fault_id, scenario, route, method, path, action, project, filename) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(now())
        .bind(e.fault_id)
        .bind(e.scenario)
        .bind(e.route)
        .bind(e.method)
        .bind(e.path)
        .bind(e.action)
        .bind(e.project)
        .bind(e.filename)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn fault_events(&self, limit: i64) -> StoreResult<Vec<FaultEventRow>> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, fault_id, scenario, route, method, path, action, project, filename \
             FROM fault_events ORDER BY id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.read)
        .await?)
    }
}
