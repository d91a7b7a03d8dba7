//! The failure kit's state as replicas share it: armed faults, their counters and the
//! hidden files live in the database (`store::armed_faults`); this process keeps a
//! view (`faults::Faults`) reloaded whenever the store's fault counter moves, so the
//! common case (nothing armed) costs an atomic load. A matching request takes the
//! fault's counters in one locked step and decides with the pure `faults::engine::due`.

use crate::faults::engine::{Armed, Fired, MatchCtx, due, initial_rng};
use crate::faults::{FaultSpec, Route};
use crate::state::App;
use crate::store::{ArmedRow, StoreResult};

/// Bring this process's view up to the store's (one read, only when it moved).
pub async fn refresh(app: &App) -> StoreResult<()> {
    let at = app.store.faults_generation();
    if app.faults.is_current(at) {
        return Ok(());
    }
    let rows = app.store.armed_faults().await?;
    let hidden = app.store.hidden_files().await?;
    app.faults.replace(parsed(rows), hidden, at);
    Ok(())
}

/// Stored definitions back into faults; one that no longer parses (written by another
/// version) is skipped and logged rather than stopping every request.
fn parsed(rows: Vec<ArmedRow>) -> Vec<Armed> {
    rows.into_iter()
        .filter_map(|row| {
            let spec = serde_json::from_str(&row.definition)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    FaultSpec::parse(&v).map_err(|e| format!("{}: {}", e.field, e.message))
                });
            match spec {
                Ok(spec) => Some(Armed::new(
                    row.id as u64,
                    spec,
                    row.seen,
                    row.fired,
                    row.armed_at,
                )),
                Err(e) => {
                    tracing::warn!(fault = row.id, "an armed fault does not parse: {e}");
                    None
                }
            }
        })
        .collect()
}

pub async fn arm(app: &App, spec: FaultSpec) -> StoreResult<Armed> {
    let definition = serde_json::to_string(&spec).map_err(|e| anyhow::anyhow!(e))?;
    let row = app.store.arm_fault(&definition, initial_rng(&spec)).await?;
    refresh(app).await?;
    Ok(Armed::new(row.id as u64, spec, 0, 0, row.armed_at))
}

/// The armed faults with their counters as the database holds them now.
pub async fn list(app: &App) -> StoreResult<Vec<Armed>> {
    Ok(parsed(app.store.armed_faults().await?))
}

pub async fn remove(app: &App, id: u64) -> StoreResult<bool> {
    let removed = app.store.disarm_fault(id as i64).await?;
    refresh(app).await?;
    Ok(removed)
}

/// Disarm everything (on every replica), end stale-page windows, and zero this
/// process's request counters; how many were armed.
pub async fn clear(app: &App) -> StoreResult<u64> {
    let n = app.store.disarm_all_faults().await?;
    app.faults.clear_requests();
    refresh(app).await?;
    Ok(n)
}

/// The first fault for `route` that matches `ctx` and is due, counting the request
/// against every matching fault it reaches (as one process's engine counted it).
pub async fn pick(
    app: &App,
    route: Route,
    ctx: MatchCtx<'_>,
    in_handler: bool,
) -> StoreResult<Option<Fired>> {
    refresh(app).await?;
    for armed in app.faults.candidates(route, ctx, in_handler) {
        let spec = &armed.spec;
        let step = app
            .store
            .step_fault(armed.id as i64, |seen, fired, mut rng| {
                let fires = due(&spec.when, seen, fired, spec.times, &mut rng);
                (fires, rng)
            })
            .await?;
        if step == Some(true) {
            return Ok(Some(armed.fired(route)));
        }
    }
    Ok(None)
}

/// Keep a file off the simple pages until `until` (on every replica).
pub async fn hide(app: &App, project: &str, filename: &str, until: i64) -> StoreResult<()> {
    app.store.hide_file(project, filename, until).await?;
    refresh(app).await
}

/// The files of `project` hidden now.
pub async fn hidden(app: &App, project: &str) -> StoreResult<Vec<String>> {
    refresh(app).await?;
    Ok(app.faults.hidden(project))
}
