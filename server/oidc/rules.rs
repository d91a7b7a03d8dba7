//! What every provider's rules are made of: reading publisher fields and claims, the
//! per-publisher evaluation Warehouse's selection needs, and the shared phrasing.

use serde_json::{Map, Value};

pub use crate::audit::{Stage, Verdict};

/// A text field of a publisher object: trimmed (Warehouse strips whitespace from
/// publisher fields); numbers accepted as text.
pub fn field(map: &Map<String, Value>, name: &str) -> Result<String, String> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => Err(format!("'{name}' must be a string")),
    }
}

pub fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// How a publisher's environment constraint reads in summaries.
pub fn environment_phrase(environment: &str) -> String {
    if environment.is_empty() {
        "any environment".to_owned()
    } else {
        format!("environment '{environment}'")
    }
}

/// An optional environment constraint, judged: an empty publisher environment accepts
/// any; otherwise the claim must be present, non-empty and equal (`case_sensitive`:
/// GitLab's rule; GitHub compares lowercased).
pub fn environment_verdict(
    expected: &str,
    actual: Option<&str>,
    case_sensitive: bool,
    rule: &'static str,
) -> Verdict {
    let same = |a: &str| {
        if case_sensitive {
            a == expected
        } else {
            a.to_lowercase() == expected
        }
    };
    let ok = expected.is_empty() || actual.is_some_and(|a| !a.is_empty() && same(a));
    Verdict::check(
        "environment",
        if expected.is_empty() {
            "(any)"
        } else {
            expected
        },
        actual,
        rule,
        ok,
        "Check failed for optional claim 'environment'",
    )
}

/// Every verdict for one publisher, plus what Warehouse's selection needs.
pub struct Evaluation {
    pub verdicts: Vec<Verdict>,
    /// The publisher's optional constraint (environment, Google `sub`) is set and the
    /// token meets it: Warehouse prefers such a publisher.
    pub specific: bool,
    /// The publisher has no such constraint.
    pub wildcard: bool,
}

impl Evaluation {
    pub fn lookup_ok(&self) -> bool {
        self.verdicts
            .iter()
            .filter(|v| v.stage == Stage::Lookup)
            .all(|v| v.ok)
    }

    pub fn passed(&self) -> usize {
        self.verdicts.iter().filter(|v| v.ok).count()
    }

    /// What differed, joined into one sentence.
    pub fn failing(&self) -> String {
        self.verdicts
            .iter()
            .filter(|v| !v.ok)
            .map(Verdict::explain)
            .collect::<Vec<_>>()
            .join("; ")
    }
}
