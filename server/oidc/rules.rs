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

/// A claim pinned to a workflow file at a ref or a commit: it must equal `base@<ref>`
/// or `base@<sha>` (GitHub's `job_workflow_ref`, GitLab's `ci_config_ref_uri`), with
/// Warehouse's failure texts.
pub struct Pinned<'a> {
    /// The claim judged, e.g. `job_workflow_ref`.
    pub claim: &'static str,
    /// The claim holding the ref, e.g. `ref` or `ref_path`.
    pub ref_claim: &'static str,
    /// `OWNER/REPO/.github/workflows/FILE` or `HOST/NS/PROJECT//FILE`.
    pub base: String,
    pub actual: Option<&'a str>,
    pub git_ref: &'a str,
    pub sha: &'a str,
    /// GitLab needs both the ref and the sha; GitHub is content with either.
    pub both_required: bool,
    pub rule: &'static str,
}

impl Pinned<'_> {
    pub fn verdict(&self) -> Verdict {
        let (ok, failure) = match self.actual {
            None | Some("") => (false, format!("The {} claim is empty", self.claim)),
            Some(_) if self.refs_missing() => (
                false,
                format!("The {} and sha claims are empty", self.ref_claim),
            ),
            Some(actual) => {
                let allowed = [
                    format!("{}@{}", self.base, self.git_ref),
                    format!("{}@{}", self.base, self.sha),
                ];
                (
                    allowed.iter().any(|a| a == actual),
                    format!(
                        "The {} claim does not match, expecting one of ['{}', '{}'], got '{actual}'",
                        self.claim, allowed[0], allowed[1]
                    ),
                )
            }
        };
        let expected = format!("{}@<{} or sha>", self.base, self.ref_claim);
        Verdict::check(self.claim, &expected, self.actual, self.rule, ok, &failure)
    }

    fn refs_missing(&self) -> bool {
        if self.both_required {
            self.git_ref.is_empty() || self.sha.is_empty()
        } else {
            self.git_ref.is_empty() && self.sha.is_empty()
        }
    }
}
