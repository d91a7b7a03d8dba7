//! Matching verified claims against trusted publishers, recording a verdict for every
//! claim of every candidate so a refusal can say exactly what differed.

use serde_json::{Map, Value};

use super::publisher::{self, Publisher};
use super::rules::Evaluation;
use crate::audit::{Candidate, REPORTED_CANDIDATES};
use crate::provider::Provider;

pub enum MatchOutcome {
    Matched {
        publisher: Publisher,
        candidates: Candidates,
    },
    /// `reason` is Warehouse's text; `explanation` says what to change.
    NoMatch {
        reason: String,
        explanation: String,
        candidates: Candidates,
    },
}

/// The publishers worth reporting, and how many others were considered.
pub struct Candidates {
    pub shown: Vec<Candidate>,
    pub omitted: usize,
}

type Evaluated<'a> = (&'a Publisher, Evaluation);

/// The chosen publisher, then the closest others (most claims passed, oldest first),
/// at most [`REPORTED_CANDIDATES`] in all.
fn report(evaluated: &[Evaluated<'_>], selected: Option<i64>) -> Candidates {
    let mut ranked: Vec<&Evaluated<'_>> = evaluated.iter().collect();
    ranked.sort_by_key(|(p, e)| (Some(p.id) != selected, std::cmp::Reverse(e.passed()), p.id));
    let shown = ranked
        .iter()
        .take(REPORTED_CANDIDATES)
        .map(|(p, e)| Candidate {
            publisher_id: p.id,
            project: p.project.clone(),
            summary: p.config.describe(),
            selected: Some(p.id) == selected,
            verdicts: e.verdicts.clone(),
        })
        .collect();
    Candidates {
        shown,
        omitted: evaluated.len().saturating_sub(REPORTED_CANDIDATES),
    }
}

/// Choose the publisher for these claims, Warehouse's way: required claims present;
/// candidates by the provider's exact lookup; the one whose optional constraint
/// (environment, sub) matches wins over the unconstrained one; then every check must
/// pass. `publishers` are the provider's publishers of one kind (pending or not).
pub fn match_publishers<'a>(
    provider: Provider,
    publishers: impl IntoIterator<Item = &'a Publisher>,
    claims: &Map<String, Value>,
    iss: &str,
) -> MatchOutcome {
    let mut evaluated: Vec<Evaluated<'a>> = publishers
        .into_iter()
        .filter(|p| p.provider == provider)
        .map(|p| (p, p.config.evaluate(claims, iss)))
        .collect();

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
        let in_lookup = || evaluated.iter().filter(|(_, e)| e.lookup_ok());
        in_lookup()
            .find(|(_, e)| e.specific)
            .or_else(|| in_lookup().find(|(_, e)| e.wildcard))
            .map(|(p, _)| p.id)
    };
    let Some(chosen_id) = chosen else {
        let explanation = closest_explanation(provider, &evaluated);
        return MatchOutcome::NoMatch {
            reason: "Publisher with matching claims was not found".into(),
            explanation,
            candidates: report(&evaluated, None),
        };
    };
    evaluated.sort_by_key(|(p, _)| p.id != chosen_id);
    let (publisher, evaluation) = &evaluated[0];
    if let Some(failed) = evaluation.verdicts.iter().find(|v| !v.ok) {
        return MatchOutcome::NoMatch {
            reason: failed.failure.clone(),
            explanation: format!(
                "Publisher {} for project '{}' ({}): {}.",
                publisher.id,
                publisher.project,
                publisher.config.describe(),
                evaluation.failing()
            ),
            candidates: report(&evaluated, Some(chosen_id)),
        };
    }
    MatchOutcome::Matched {
        candidates: report(&evaluated, Some(chosen_id)),
        publisher: (*publisher).clone(),
    }
}

fn closest_explanation(provider: Provider, evaluated: &[Evaluated<'_>]) -> String {
    let closest = evaluated
        .iter()
        .max_by_key(|(p, e)| (e.passed(), std::cmp::Reverse(p.id)));
    match closest {
        None => format!(
            "No {} publisher is registered; add one (mock-pypi publisher add {provider} …).",
            provider.display()
        ),
        Some((p, e)) => format!(
            "Closest is publisher {} for project '{}' ({}): {}.",
            p.id,
            p.project,
            p.config.describe(),
            e.failing()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn publisher(id: i64, env: &str, workflow: &str) -> Publisher {
        let config = super::super::github::GitHubConfig::from_input(
            json!({"repository": "octo/demo", "workflow_filename": workflow, "environment": env, "repository_owner_id": "42"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        Publisher {
            id,
            provider: Provider::GitHub,
            project: "demo".into(),
            pending: false,
            config: super::super::publisher::PublisherConfig::GitHub(config),
            created_at: 0,
            expires_at: None,
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

    fn m(pubs: &[Publisher], claims: &Map<String, Value>) -> MatchOutcome {
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
                    candidates.shown[0]
                        .verdicts
                        .iter()
                        .any(|v| v.claim == "workflow" && !v.ok)
                );
            }
            MatchOutcome::Matched { .. } => panic!("matched"),
        }
    }

    #[test]
    fn the_record_names_the_chosen_and_the_closest_publishers_only() {
        let mut pubs: Vec<Publisher> = (1..=8)
            .map(|i| publisher(i, "pypi", &format!("other-{i}.yml")))
            .collect();
        pubs.push(publisher(9, "pypi", "release.yml"));
        let c = claims(json!({}));
        match m(&pubs, &c) {
            MatchOutcome::Matched {
                publisher,
                candidates,
            } => {
                assert_eq!(publisher.id, 9);
                assert_eq!(candidates.shown.len(), REPORTED_CANDIDATES);
                assert_eq!(candidates.omitted, 9 - REPORTED_CANDIDATES);
                assert!(candidates.shown[0].selected && candidates.shown[0].publisher_id == 9);
                let rest: Vec<i64> = candidates.shown[1..]
                    .iter()
                    .map(|c| c.publisher_id)
                    .collect();
                assert_eq!(rest, [1, 2, 3, 4], "then the closest, oldest first");
            }
            MatchOutcome::NoMatch { explanation, .. } => panic!("{explanation}"),
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
