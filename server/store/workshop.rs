//! What a workshop room reads (everything since a point, oldest first) and the one
//! thing it deletes: a seat's projects, when the instructor resets the seat.

use sqlx::{AssertSqlSafe, Row};

use super::exchanges::EXCHANGE_COLUMNS;
use super::projects::{FILE_COLUMNS, ProjectFile};
use super::{ExchangeRow, FaultEventRow, FileRow, Store, StoreResult};

/// A room reads at most this many rows of each kind: a day's workshop of 200 seats
/// stays far below it.
const ROOM_ROWS: i64 = 50_000;

impl Store {
    /// Exchanges with an id above `after`, oldest first.
    pub async fn exchanges_after(&self, after: i64) -> StoreResult<Vec<ExchangeRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(ROOM_ROWS)
        .fetch_all(&self.read)
        .await?)
    }

    /// Every file with its project's normalized name, oldest first.
    pub async fn files_with_projects(&self) -> StoreResult<Vec<(String, FileRow)>> {
        let rows: Vec<ProjectFile> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS}, p.normalized_name FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = r.project_id ORDER BY f.id LIMIT $1"
        )))
        .bind(ROOM_ROWS)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(ProjectFile::pair).collect())
    }

    /// Fault events with an id above `after`, oldest first.
    pub async fn fault_events_after(&self, after: i64) -> StoreResult<Vec<FaultEventRow>> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, fault_id, scenario, route, method, path, action, project, filename \
             FROM fault_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(ROOM_ROWS)
        .fetch_all(&self.read)
        .await?)
    }

    /// The newest exchange and fault event ids (0 when there are none): where a reset
    /// seat starts again.
    pub async fn audit_marks(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM exchanges) AS e, \
                    (SELECT COALESCE(MAX(id), 0) FROM fault_events) AS f",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((row.try_get("e")?, row.try_get("f")?))
    }

    /// Delete these projects (normalized names) with their releases, files, small
    /// blobs and publishers, pending ones included, in one transaction. The large
    /// files' blobs stay: content-addressed, a later upload of the same bytes reuses
    /// them. How many projects there were.
    pub async fn delete_projects(&self, names: &[String]) -> StoreResult<u64> {
        if names.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write.begin().await?;
        let list = (1..=names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let in_projects = format!(
            "SELECT r.id FROM releases r JOIN projects p ON p.id = r.project_id WHERE p.normalized_name IN ({list})"
        );
        let statements = [
            format!(
                "DELETE FROM small_blobs WHERE blake2_256 IN (SELECT blake2_256_digest FROM files WHERE release_id IN ({in_projects}))"
            ),
            format!("DELETE FROM files WHERE release_id IN ({in_projects})"),
            format!("DELETE FROM release_statuses WHERE project IN ({list})"),
            format!("DELETE FROM releases WHERE id IN ({in_projects})"),
            // A pending publisher keeps the name as typed: compare case-insensitively.
            format!(
                "DELETE FROM publishers WHERE LOWER(project) IN ({list}) OR project IN ({list})"
            ),
        ];
        for sql in statements {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for n in names {
                q = q.bind(n.clone());
            }
            q.execute(&mut *tx).await?;
        }
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM projects WHERE normalized_name IN ({list})"
        )));
        for n in names {
            q = q.bind(n.clone());
        }
        let deleted = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        self.changed().await;
        Ok(deleted)
    }
}
