//! Faults on demand for the index (and the embedded issuer): armed through the control
//! API, the CLI, the config file or the Python package; named scenarios arm the
//! failures uploaders meet. Every fault that fires is recorded with the request it hit.

pub mod engine;
pub mod layer;
mod parse;
pub mod scenarios;
pub mod spec;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

pub use engine::{Faults, Fired, MatchCtx};
pub use layer::{ConnectionKill, MintTweak};
pub use spec::{Action, FaultSpec, Route};

use crate::state::App;
use crate::store::NewFaultEvent;

/// Record a fired fault next to the request it hit (a failure to record is logged:
/// the fault still fires).
pub async fn record(
    app: &App,
    fired: &Fired,
    method: &str,
    path: &str,
    file: Option<(&str, &str)>,
) {
    let event = NewFaultEvent {
        fault_id: fired.id as i64,
        scenario: fired.scenario.clone(),
        route: fired.route.as_str().to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        action: serde_json::Value::Object(fired.action.fields()).to_string(),
        project: file.map(|f| f.0.to_owned()),
        filename: file.map(|f| f.1.to_owned()),
    };
    tracing::info!(
        fault = fired.id,
        route = fired.route.as_str(),
        path,
        "fault fired"
    );
    if let Err(e) = app.store.record_fault_event(event).await {
        tracing::warn!(error = %e, "recording a fired fault failed");
    }
}

/// Files kept off the simple pages for a while (the `stale_seconds` fault).
#[derive(Default)]
pub struct StaleFiles(Mutex<Vec<(String, String, i64)>>);

impl StaleFiles {
    pub fn hide(&self, project: &str, filename: &str, until: i64) {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        list.push((project.to_owned(), filename.to_owned(), until));
    }

    /// The files of `project` hidden now (expired entries are forgotten).
    pub fn hidden(&self, project: &str) -> Vec<String> {
        let now = crate::util::now();
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|(_, _, until)| *until > now);
        list.iter()
            .filter(|(p, _, _)| p == project)
            .map(|(_, f, _)| f.clone())
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
