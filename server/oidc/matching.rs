//! Matching verified claims against trusted publishers, recording a verdict for every
//! claim of every candidate so a refusal can say exactly what differed.

use serde::Serialize;
use serde_json::{Map, Value};

use super::github::{self, GitHubConfig};
use crate::store::PublisherRow;

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
    /// The publisher names an environment and the token's matches it.
    pub env_specific: bool,
    /// The publisher accepts any environment.
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

/// Choose the GitHub publisher for these claims, Warehouse's way: required claims
/// present; candidates by exact repository, owner id and workflow; the one whose
/// environment matches wins over the one with none; then every check must pass.
pub fn match_github(publishers: &[PublisherRow], claims: &Map<String, Value>) -> MatchOutcome {
    let mut evaluated: Vec<(&PublisherRow, GitHubConfig, Evaluation)> = publishers
        .iter()
        .filter(|p| p.provider == "github")
        .filter_map(|p| GitHubConfig::from_json(&p.config).ok().map(|c| (p, c)))
        .map(|(p, c)| {
            let e = github::evaluate(&c, claims);
            (p, c, e)
        })
        .collect();
    let report = |evaluated: &[(&PublisherRow, GitHubConfig, Evaluation)],
                  selected: Option<i64>|
     -> Vec<Candidate> {
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

    for claim in github::REQUIRED_CLAIMS {
        if matches!(claims.get(claim), None | Some(Value::Null)) {
            return MatchOutcome::NoMatch {
                reason: format!("Missing claim '{claim}'"),
                explanation: format!(
                    "The token has no '{claim}' claim, which PyPI requires from GitHub."
                ),
                candidates: report(&evaluated, None),
            };
        }
    }
    if let Some(reason) = github::lookup_precondition(claims) {
        return MatchOutcome::NoMatch {
            reason: reason.into(),
            explanation: format!(
                "job_workflow_ref '{}' names no .yml/.yaml workflow file.",
                claim_str(claims, "job_workflow_ref").unwrap_or("")
            ),
            candidates: report(&evaluated, None),
        };
    }

    let chosen = {
        let in_lookup = || evaluated.iter().filter(|(_, _, e)| e.lookup_ok());
        in_lookup()
            .find(|(_, _, e)| e.env_specific)
            .or_else(|| in_lookup().find(|(_, _, e)| e.wildcard))
            .map(|(p, _, _)| p.id)
    };
    let Some(chosen_id) = chosen else {
        let explanation = closest_explanation(&evaluated);
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

fn closest_explanation(evaluated: &[(&PublisherRow, GitHubConfig, Evaluation)]) -> String {
    let closest = evaluated
        .iter()
        .max_by_key(|(p, _, e)| (e.passed(), std::cmp::Reverse(p.id)));
    match closest {
        None => {
            "No GitHub publisher is registered; add one (mock-pypi publisher add github …).".into()
        }
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
        let config = GitHubConfig::from_json(
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
        match match_github(&pubs, &claims(json!({}))) {
            MatchOutcome::Matched { publisher, .. } => assert_eq!(publisher.id, 2),
            MatchOutcome::NoMatch { reason, .. } => panic!("{reason}"),
        }
        match match_github(&pubs, &claims(json!({"environment": null}))) {
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
        match match_github(&pubs, &c) {
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
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"environment": "staging"}))
            )),
            "Publisher with matching claims was not found"
        );
        assert_eq!(
            no_match_reason(match_github(&pubs, &claims(json!({"jti": null})))),
            "Missing claim 'jti'"
        );
        assert_eq!(
            no_match_reason(match_github(&pubs, &claims(json!({"sha": null})))),
            "Missing claim 'sha'"
        );
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"repository_owner_id": "43"}))
            )),
            "Publisher with matching claims was not found"
        );
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"event_name": "pull_request_target"}))
            )),
            "Publishing from a workflow invoked via 'pull_request_target' is not supported."
        );
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"repository_owner": "Octo"}))
            )),
            "Check failed for required claim 'repository_owner'"
        );
        assert_eq!(
            no_match_reason(match_github(&pubs, &claims(json!({"ref": "", "sha": ""})))),
            "The ref and sha claims are empty"
        );
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(
                    json!({"job_workflow_ref": "octo/demo/.github/workflows/release.yml@refs/heads/other"})
                )
            )),
            "The job_workflow_ref claim does not match, expecting one of ['octo/demo/.github/workflows/release.yml@refs/heads/main', 'octo/demo/.github/workflows/release.yml@abc'], got 'octo/demo/.github/workflows/release.yml@refs/heads/other'"
        );
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"job_workflow_ref": "octo/demo/.github/workflows/release@x"}))
            )),
            "Could not job extract workflow filename from OIDC claims"
        );
        // Matching by sha works as well as by ref.
        assert!(matches!(
            match_github(
                &pubs,
                &claims(json!({"job_workflow_ref": "octo/demo/.github/workflows/release.yml@abc"}))
            ),
            MatchOutcome::Matched { .. }
        ));
        // A repository name in another case never matches: the lookup is exact.
        assert_eq!(
            no_match_reason(match_github(
                &pubs,
                &claims(json!({"repository": "octo/Demo"}))
            )),
            "Publisher with matching claims was not found"
        );
    }
}
