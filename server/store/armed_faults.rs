//! The failure kit's shared state: armed faults with their counters, and the files a
//! stale-page fault hides, in the database so that every replica sees one set. Each
//! matching request takes a fault's counters under the row's lock, so "the next 2"
//! fires twice across all replicas however their requests interleave.

use sqlx::Row;

use super::{Store, StoreResult};
use crate::util::now;

/// An armed fault as stored: its definition (as `FaultSpec` serialises it) and counters.
pub struct ArmedRow {
    pub id: i64,
    pub definition: String,
    pub seen: u64,
    pub fired: u64,
    pub armed_at: i64,
}

impl Store {
    pub async fn arm_fault(&self, definition: &str, rng: u64) -> StoreResult<ArmedRow> {
        let at = now();
        let row = sqlx::query(
            "INSERT INTO armed_faults (definition, seen, fired, rng, armed_at) VALUES ($1, 0, 0, $2, $3) RETURNING id",
        )
        .bind(definition)
        .bind(rng as i64)
        .bind(at)
        .fetch_one(&self.write)
        .await?;
        self.changes.faults_changed().await;
        Ok(ArmedRow {
            id: row.try_get("id")?,
            definition: definition.to_owned(),
            seen: 0,
            fired: 0,
            armed_at: at,
        })
    }

    /// Every armed fault, in the order they were armed (the first that matches fires).
    pub async fn armed_faults(&self) -> StoreResult<Vec<ArmedRow>> {
        let rows = sqlx::query(
            "SELECT id, definition, seen, fired, armed_at FROM armed_faults ORDER BY id",
        )
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ArmedRow {
                    id: r.try_get("id")?,
                    definition: r.try_get("definition")?,
                    seen: r.try_get::<i64, _>("seen")? as u64,
                    fired: r.try_get::<i64, _>("fired")? as u64,
                    armed_at: r.try_get("armed_at")?,
                })
            })
            .collect()
    }

    pub async fn disarm_fault(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM armed_faults WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changes.faults_changed().await;
        Ok(done.rows_affected() > 0)
    }

    /// Disarm every fault and end every stale-page window; how many were armed.
    pub async fn disarm_all_faults(&self) -> StoreResult<u64> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM armed_faults")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM hidden_files")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changes.faults_changed().await;
        Ok(done.rows_affected())
    }

    /// One matching request for fault `id`: `seen` counts it, and `decide(seen, fired,
    /// rng)` says whether it fires (and the random state after). Under the row's lock
    /// (the first UPDATE takes it on PostgreSQL; SQLite has one writer). Whether it
    /// fired; `None` if the fault was disarmed meanwhile.
    pub async fn step_fault(
        &self,
        id: i64,
        decide: impl FnOnce(u64, u64, u64) -> (bool, u64),
    ) -> StoreResult<Option<bool>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "UPDATE armed_faults SET seen = seen + 1 WHERE id = $1 RETURNING seen, fired, rng",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (seen, fired, rng) = (
            row.try_get::<i64, _>("seen")? as u64,
            row.try_get::<i64, _>("fired")? as u64,
            row.try_get::<i64, _>("rng")? as u64,
        );
        let (fires, rng) = decide(seen, fired, rng);
        sqlx::query("UPDATE armed_faults SET fired = $2, rng = $3 WHERE id = $1")
            .bind(id)
            .bind((fired + u64::from(fires)) as i64)
            .bind(rng as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(fires))
    }

    /// Keep `filename` of `project` off the simple pages until `until`.
    pub async fn hide_file(&self, project: &str, filename: &str, until: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO hidden_files (project, filename, until_at) VALUES ($1, $2, $3)")
            .bind(project)
            .bind(filename)
            .bind(until)
            .execute(&self.write)
            .await?;
        self.changes.faults_changed().await;
        Ok(())
    }

    /// Every file hidden now: (project, filename, until).
    pub async fn hidden_files(&self) -> StoreResult<Vec<(String, String, i64)>> {
        let rows =
            sqlx::query("SELECT project, filename, until_at FROM hidden_files WHERE until_at > $1")
                .bind(now())
                .fetch_all(&self.write)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("project")?,
                    r.try_get("filename")?,
                    r.try_get("until_at")?,
                ))
            })
            .collect()
    }

    /// The armed faults' change counter (see `Changes::faults_current`).
    pub fn faults_generation(&self) -> Option<u64> {
        self.changes.faults_current()
    }
}
