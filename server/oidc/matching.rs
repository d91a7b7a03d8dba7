//! Matching verified claims against trusted publishers, recording a verdict for every
//! claim of every candidate so a refusal can say exactly what differed.

use serde::Serialize;
use serde_json::{Map, Value};

use super::publisher::{self, PublisherConfig};
use crate::provider::Provider;
use crate::store::PublisherRow;

/// A text field of a publisher object: trimmed; numbers accepted as text.
pub fn field(map: &Map<String, Value>, name: &str) -> Result<String, String> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => Err(format!("'{name}' must be a string")),
    }
}

/// How a publisher's environment constraint reads in summaries.
pub fn environment_phrase(environment: &str) -> String {
    if environment.is_empty() {
        "any environment".to_owned()
    } else {
        format!("environment '{environment}'")
    }
}

pub fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// One claim judged against one publisher.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub claim: &'static str,
    pub expected: String,
    pub actual: Option<String>,
    pub rule: &'static str,
    pub ok: bool,
    /// `lookup` verdicts select candidates; `check` verdicts are then required to pass.
    pub stage: &'static str,
    #[serde(skip)]
    pub failure: String,
}

impl Verdict {
    pub fn lookup(
        claim: &'static str,
        expected: &str,
        actual: Option<&str>,
        rule: &'static str,
        ok: bool,
    ) -> Self {
        Self {
            claim,
            expected: expected.to_owned(),
            actual: actual.map(str::to_owned),
            rule,
            ok,
            stage: "lookup",
            failure: "Publisher with matching claims was not found".into(),
        }
    }

    pub fn check(
        claim: &'static str,
        expected: &str,
        actual: Option<&str>,
        rule: &'static str,
        ok: bool,
        failure: &str,
    ) -> Self {
        Self {
            stage: "check",
            failure: failure.to_owned(),
            ..Self::lookup(claim, expected, actual, rule, ok)
        }
    }

    fn explain(&self) -> String {
        match &self.actual {
            Some(actual) => format!(
                "{} is '{actual}' but the publisher expects '{}'",
                self.claim, self.expected
            ),
            None => format!(
                "the token has no '{}' (the publisher expects '{}')",
                self.claim, self.expected
            ),
        }
    }
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
    fn lookup_ok(&self) -> bool {
        self.verdicts
            .iter()
            .filter(|v| v.stage == "lookup")
            .all(|v| v.ok)
    }
    fn passed(&self) -> usize {
        self.verdicts.iter().filter(|v| v.ok).count()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub publisher_id: i64,
    pub project: String,
    pub summary: String,
    pub selected: bool,
    pub verdicts: Vec<Verdict>,
}

pub enum MatchOutcome {
    Matched {
        publisher: PublisherRow,
        candidates: Vec<Candidate>,
    },
    /// `reason` is Warehouse's text; `explanation` says what to change.
    NoMatch {
        reason: String,
        explanation: String,
        candidates: Vec<Candidate>,
    },
}

type Evaluated<'a> = (&'a PublisherRow, PublisherConfig, Evaluation);

/// Choose the publisher for these claims, Warehouse's way: required claims present;
/// candidates by the provider's exact lookup; the one whose optional constraint
/// (environment, sub) matches wins over the unconstrained one; then every check must
/// pass. `publishers` are the provider's publishers of one kind (pending or not).
pub fn match_publishers(
    provider: Provider,
    publishers: &[PublisherRow],
    claims: &Map<String, Value>,
    iss: &str,
) -> MatchOutcome {
    let mut evaluated: Vec<Evaluated<'_>> = publishers
        .iter()
        .filter(|p| p.provider == provider.as_str())
        .filter_map(|p| {
            PublisherConfig::parse(provider, &p.config, None)
                .ok()
                .map(|c| (p, c))
        })
        .map(|(p, c)| {
            let e = c.evaluate(claims, iss);
            (p, c, e)
        })
        .collect();
    let report = |evaluated: &[Evaluated<'_>], selected: Option<i64>| -> Vec<Candidate> {
        evaluated
            .iter()
            .map(|(p, c, e)| Candidate {
                publisher_id: p.id,
                project: p.project.clone(),
                summary: c.describe(),
                selected: Some(p.id) == selected,
                verdicts: e.verdicts.clone(),
            })
            .collect()
    };

    for claim in provider.required_claims() {
        if matches!(claims.get(*claim), None | Some(Value::Null)) {
            return MatchOutcome::NoMatch {
                reason: format!("Missing claim '{claim}'"),
                explanation: format!(
                    "The token has no '{claim}' claim, which PyPI requires from {}.",
                    provider.display()
                ),
                candidates: report(&evaluated, None),
            };
        }
    }
    if let Some((reason, explanation)) = publisher::precondition(provider, claims) {
        return MatchOutcome::NoMatch {
            reason: reason.into(),
            explanation,
            candidates: report(&evaluated, None),
        };
    }

    let chosen = {
        let in_lookup = || evaluated.iter().filter(|(_, _, e)| e.lookup_ok());
        in_lookup()
            .find(|(_, _, e)| e.specific)
            .or_else(|| in_lookup().find(|(_, _, e)| e.wildcard))
            .map(|(p, _, _)| p.id)
    };
    let Some(chosen_id) = chosen else {
        let explanation = closest_explanation(provider, &evaluated);
        return MatchOutcome::NoMatch {
            reason: "Publisher with matching claims was not found".into(),
            explanation,
            candidates: report(&evaluated, None),
        };
    };
    evaluated.sort_by_key(|(p, _, _)| p.id != chosen_id);
    let (publisher, config, evaluation) = &evaluated[0];
    if let Some(failed) = evaluation.verdicts.iter().find(|v| !v.ok) {
        return MatchOutcome::NoMatch {
            reason: failed.failure.clone(),
            explanation: format!(
                "Publisher {} for project '{}' ({}): {}.",
                publisher.id,
                publisher.project,
                config.describe(),
                failing(evaluation)
            ),
            candidates: report(&evaluated, Some(chosen_id)),
        };
    }
    let publisher = (*publisher).clone();
    MatchOutcome::Matched {
        candidates: report(&evaluated, Some(chosen_id)),
        publisher,
    }
}

fn failing(evaluation: &Evaluation) -> String {
    evaluation
        .verdicts
        .iter()
        .filter(|v| !v.ok)
        .map(Verdict::explain)
        .collect::<Vec<_>>()
        .join("; ")
}

fn closest_explanation(provider: Provider, evaluated: &[Evaluated<'_>]) -> String {
    let closest = evaluated
        .iter()
        .max_by_key(|(p, _, e)| (e.passed(), std::cmp::Reverse(p.id)));
    match closest {
        None => format!(
            "No {} publisher is registered; add one (mock-pypi publisher add {provider} …).",
            provider.display()
        ),
        Some((p, c, e)) => format!(
            "Closest is publisher {} for project '{}' ({}): {}.",
            p.id,
            p.project,
            c.describe(),
            failing(e)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn publisher(id: i64, env: &str, workflow: &str) -> PublisherRow {
        let config = super::super::github::GitHubConfig::from_json(
            json!({"repository": "octo/demo", "workflow_filename": workflow, "environment": env, "repository_owner_id": "42"})
                .as_object()
                .unwrap(),
        )
        .unwrap()
        .to_json();
        PublisherRow {
            id,
            provider: "github".into(),
            project: "demo".into(),
            pending: false,
            config,
            created_at: 0,
        }
    }

    fn claims(overrides: Value) -> Map<String, Value> {
        let mut c = json!({
            "repository": "octo/demo", "repository_owner": "octo", "repository_owner_id": "42",
            "job_workflow_ref": "octo/demo/.github/workflows/release.yml@refs/heads/main",
            "ref": "refs/heads/main", "sha": "abc", "jti": "j", "event_name": "push", "environment": "PyPI"
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c.as_object().unwrap().clone()
    }

    fn m(pubs: &[PublisherRow], claims: &Map<String, Value>) -> MatchOutcome {
        match_publishers(Provider::GitHub, pubs, claims, "https://iss")
    }

    fn no_match_reason(outcome: MatchOutcome) -> String {
        match outcome {
            MatchOutcome::NoMatch { reason, .. } => reason,
            MatchOutcome::Matched { publisher, .. } => {
                panic!("unexpectedly matched {}", publisher.id)
            }
        }
    }

    #[test]
    fn environment_specific_publisher_wins_over_wildcard() {
        let pubs = [
            publisher(1, "", "release.yml"),
            publisher(2, "pypi", "release.yml"),
        ];
        match m(&pubs, &claims(json!({}))) {
            MatchOutcome::Matched { publisher, .. } => assert_eq!(publisher.id, 2),
            MatchOutcome::NoMatch { reason, .. } => panic!("{reason}"),
        }
        match m(&pubs, &claims(json!({"environment": null}))) {
            MatchOutcome::Matched { publisher, .. } => assert_eq!(publisher.id, 1),
            MatchOutcome::NoMatch { reason, .. } => panic!("{reason}"),
        }
    }

    #[test]
    fn wrong_workflow_is_not_found_and_explained() {
        let pubs = [publisher(1, "pypi", "release.yml")];
        let c = claims(
            json!({"job_workflow_ref": "octo/demo/.github/workflows/other.yml@refs/heads/main"}),
        );
        match m(&pubs, &c) {
            MatchOutcome::NoMatch {
                reason,
                explanation,
                candidates,
            } => {
                assert_eq!(reason, "Publisher with matching claims was not found");
                assert!(
                    explanation.contains(
                        "workflow is 'other.yml' but the publisher expects 'release.yml'"
                    ),
                    "{explanation}"
                );
                assert!(
                    candidates[0]
                        .verdicts
                        .iter()
                        .any(|v| v.claim == "workflow" && !v.ok)
                );
            }
            MatchOutcome::Matched { .. } => panic!("matched"),
        }
    }

    #[test]
    fn each_rule_refuses_with_warehouse_text() {
        let pubs = [publisher(1, "pypi", "release.yml")];
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"environment": "staging"})))),
            "Publisher with matching claims was not found"
        );
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"jti": null})))),
            "Missing claim 'jti'"
        );
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"sha": null})))),
            "Missing claim 'sha'"
        );
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"repository_owner_id": "43"})))),
            "Publisher with matching claims was not found"
        );
        assert_eq!(
            no_match_reason(m(
                &pubs,
                &claims(json!({"event_name": "pull_request_target"}))
            )),
            "Publishing from a workflow invoked via 'pull_request_target' is not supported."
        );
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"repository_owner": "Octo"})))),
            "Check failed for required claim 'repository_owner'"
        );
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"ref": "", "sha": ""})))),
            "The ref and sha claims are empty"
        );
        assert_eq!(
            no_match_reason(m(
                &pubs,
                &claims(
                    json!({"job_workflow_ref": "octo/demo/.github/workflows/release.yml@refs/heads/other"})
                )
            )),
            "The job_workflow_ref claim does not match, expecting one of ['octo/demo/.github/workflows/release.yml@refs/heads/main', 'octo/demo/.github/workflows/release.yml@abc'], got 'octo/demo/.github/workflows/release.yml@refs/heads/other'"
        );
        assert_eq!(
            no_match_reason(m(
                &pubs,
                &claims(json!({"job_workflow_ref": "octo/demo/.github/workflows/release@x"}))
            )),
            "Could not job extract workflow filename from OIDC claims"
        );
        // Matching by sha works as well as by ref.
        assert!(matches!(
            m(
                &pubs,
                &claims(json!({"job_workflow_ref": "octo/demo/.github/workflows/release.yml@abc"}))
            ),
            MatchOutcome::Matched { .. }
        ));
        // A repository name in another case never matches: the lookup is exact.
        assert_eq!(
            no_match_reason(m(&pubs, &claims(json!({"repository": "octo/Demo"})))),
            "Publisher with matching claims was not found"
        );
    }
}
