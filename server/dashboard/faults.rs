//! The Faults page: armed faults in words, the faults that fired, the scenarios.

use askama::Template;
use serde_json::Value;

use super::When;
use super::views::{Frame, text};
use crate::faults::engine::Armed;
use crate::store::FaultEventRow;

/// One armed fault.
pub struct FaultLine {
    pub id: u64,
    pub route: &'static str,
    pub matching: String,
    pub when: String,
    pub action: String,
    pub scenario: String,
    pub seen: u64,
    pub fired: u64,
    pub armed: When,
}

impl FaultLine {
    pub fn new(a: &Armed, now: i64) -> Self {
        let m = &a.spec.matching;
        let mut matching = Vec::new();
        if let Some(p) = &m.project {
            matching.push(format!("project {p}"));
        }
        if let Some(f) = &m.filename {
            matching.push(format!("files {f}"));
        }
        if let Some(p) = m.provider {
            matching.push(format!("{} tokens", p.display()));
        }
        let mut when = a.spec.when.describe();
        if let Some(t) = a.spec.times {
            when += &format!(", at most {t} times");
        }
        Self {
            id: a.id,
            route: a.spec.route.as_str(),
            matching: if matching.is_empty() {
                "any".into()
            } else {
                matching.join(", ")
            },
            when,
            action: a.spec.action.describe(),
            scenario: a.spec.scenario.clone().unwrap_or_default(),
            seen: a.seen,
            fired: a.fired,
            armed: When::at(a.armed_at, now),
        }
    }
}

/// One fault that fired, and the request it hit.
pub struct FaultEventLine {
    pub id: i64,
    pub when: When,
    pub fault_id: i64,
    pub scenario: String,
    pub route: String,
    pub request: String,
    pub action: String,
    pub subject: String,
}

impl FaultEventLine {
    pub fn new(e: &FaultEventRow, now: i64) -> Self {
        let action = match &e.action.0 {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect::<Vec<_>>()
                .join(", "),
            other => text(other),
        };
        let subject = [e.project.as_deref(), e.filename.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ");
        Self {
            id: e.id,
            when: When::at(e.created_at, now),
            fault_id: e.fault_id,
            scenario: e.scenario.clone().unwrap_or_default(),
            route: e.route.clone(),
            request: format!("{} {}", e.method, e.path),
            action,
            subject,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/faults.html")]
pub struct FaultsPage {
    pub frame: Frame,
    pub faults: Vec<FaultLine>,
    pub events: Vec<FaultEventLine>,
    pub scenarios: Vec<(&'static str, &'static str)>,
}
