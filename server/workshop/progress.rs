//! Where each seat stands on each exercise: the goal's steps matched, in order,
//! against what the seat did (its token exchanges, its files, the faults that fired on
//! its projects). Pure: the room loads the events, this decides.

use serde::Serialize;
use serde_json::{Map, Value};

use super::exercises::{SeatExercise, Step};
use crate::audit::ExchangeOutcome;

/// Something a seat did, as the goals see it.
#[derive(Clone, Debug)]
pub enum Event {
    Exchange(ExchangeEvent),
    File {
        at: i64,
        project: String,
        provenance: bool,
    },
    FaultFired {
        at: i64,
        project: String,
    },
}

#[derive(Clone, Debug)]
pub struct ExchangeEvent {
    pub id: i64,
    pub at: i64,
    pub outcome: ExchangeOutcome,
    /// The accepted publisher's project, or the project of the publisher a refusal
    /// was judged against (normalized).
    pub project: Option<String>,
    pub claims: Map<String, Value>,
    /// The claims the deciding publisher's checks failed on.
    pub failed_claims: Vec<String>,
    /// Why it was refused, in one line (the failed check, else the description's start).
    pub reason: String,
}

impl Event {
    pub fn at(&self) -> i64 {
        match self {
            Event::Exchange(e) => e.at,
            Event::File { at, .. } | Event::FaultFired { at, .. } => *at,
        }
    }

    /// Within one second an exchange comes before the fault it meets and the file it
    /// uploads.
    fn order(&self) -> u8 {
        match self {
            Event::Exchange(_) => 0,
            Event::FaultFired { .. } => 1,
            Event::File { .. } => 2,
        }
    }
}

/// Sort a seat's events into the order goals read them.
pub fn sort(events: &mut [Event]) {
    events.sort_by_key(|e| {
        let id = match e {
            Event::Exchange(x) => x.id,
            _ => 0,
        };
        (e.at(), e.order(), id)
    });
}

/// One exercise's state for one seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Done,
    Refused,
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Refused => "refused",
            Status::Pending => "pending",
        }
    }
}

/// The verdict on one exercise, with what explains it.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub status: Status,
    /// How many of the goal's steps happened, in order.
    pub steps_done: usize,
    /// The latest refused try's reason in one line (not when done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// That exchange, for its full explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<i64>,
}

fn step_matches(step: &Step, event: &Event) -> bool {
    match (step, event) {
        (Step::Accepted { project, claims }, Event::Exchange(e)) => {
            e.outcome == ExchangeOutcome::Accepted
                && project
                    .as_ref()
                    .is_none_or(|p| e.project.as_deref() == Some(&normalize(p)))
                && claims
                    .iter()
                    .all(|(k, v)| claim_text(&e.claims, k) == Some(v.as_str()))
        }
        (Step::Refused { code, claim }, Event::Exchange(e)) => {
            e.outcome == ExchangeOutcome::Refused(*code)
                && claim
                    .as_ref()
                    .is_none_or(|c| e.failed_claims.iter().any(|f| f == c))
        }
        (
            Step::File {
                project,
                provenance,
            },
            Event::File {
                project: p,
                provenance: has,
                ..
            },
        ) => *p == normalize(project) && (!provenance || *has),
        (Step::FaultFired { project }, Event::FaultFired { project: p, .. }) => {
            *p == normalize(project)
        }
        _ => false,
    }
}

fn normalize(name: &str) -> String {
    crate::packaging::normalize_name(name)
}

fn claim_text<'a>(claims: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    claims.get(key).and_then(Value::as_str)
}

/// Which unfinished exercises a refused exchange was a try at: the ones with a step
/// this very refusal matches (finished ones included, so a replay after the replay
/// exercise is nobody's try), else the first unfinished one (in the file's order)
/// judged against one of its projects' publishers, preferring one that waits for an
/// accepted exchange.
fn tries(exercises: &[SeatExercise], done: &[bool], e: &ExchangeEvent) -> Vec<usize> {
    if !matches!(e.outcome, ExchangeOutcome::Refused(_)) {
        return Vec::new();
    }
    let event = Event::Exchange(e.clone());
    let specific: Vec<usize> = (0..exercises.len())
        .filter(|&i| {
            exercises[i]
                .goal
                .iter()
                .any(|s| matches!(s, Step::Refused { .. }) && step_matches(s, &event))
        })
        .collect();
    if !specific.is_empty() {
        return specific.into_iter().filter(|&i| !done[i]).collect();
    }
    let Some(project) = &e.project else {
        return Vec::new();
    };
    let pool: Vec<usize> = (0..exercises.len())
        .filter(|&i| !done[i] && exercises[i].projects.contains(project))
        .collect();
    pool.iter()
        .copied()
        .find(|&i| {
            exercises[i]
                .goal
                .iter()
                .any(|s| matches!(s, Step::Accepted { .. }))
        })
        .or(pool.first().copied())
        .into_iter()
        .collect()
}

/// The first line of a refusal, short enough for a grid cell.
pub fn one_line(description: &str) -> String {
    let line = description.lines().next().unwrap_or("").trim();
    const MAX: usize = 160;
    if line.chars().count() <= MAX {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

/// How many of a goal's steps happened, in order: the earliest match of each step
/// after the previous one's (a subsequence match, which the greedy choice finds
/// whenever one exists).
fn steps_done(exercise: &SeatExercise, events: &[Event]) -> usize {
    let mut done = 0;
    for event in events {
        if done == exercise.goal.len() {
            break;
        }
        if step_matches(&exercise.goal[done], event) {
            done += 1;
        }
    }
    done
}

/// Judge a seat's exercises over its events (sorted with [`sort`]).
pub fn judge_all(exercises: &[SeatExercise], events: &[Event]) -> Vec<Progress> {
    let steps: Vec<usize> = exercises.iter().map(|e| steps_done(e, events)).collect();
    let done: Vec<bool> = exercises
        .iter()
        .zip(&steps)
        .map(|(e, n)| *n == e.goal.len())
        .collect();
    let mut last_try: Vec<Option<&ExchangeEvent>> = vec![None; exercises.len()];
    for event in events {
        if let Event::Exchange(x) = event {
            for i in tries(exercises, &done, x) {
                last_try[i] = Some(x);
            }
        }
    }
    (0..exercises.len())
        .map(|i| {
            let (status, tried) = match (done[i], last_try[i]) {
                (true, _) => (Status::Done, None),
                (false, Some(x)) => (Status::Refused, Some(x)),
                (false, None) => (Status::Pending, None),
            };
            Progress {
                status,
                steps_done: steps[i],
                reason: tried.map(|x| x.reason.clone()),
                exchange: tried.map(|x| x.id),
            }
        })
        .collect()
}

/// Judge one exercise alone (as if the seat had no other).
#[cfg(test)]
fn judge(exercise: &SeatExercise, events: &[Event]) -> Progress {
    judge_all(std::slice::from_ref(exercise), events)
        .pop()
        .unwrap_or(Progress {
            status: Status::Pending,
            steps_done: 0,
            reason: None,
            exchange: None,
        })
}

/// Whose exchange it was: the owner in the token's claims (GitHub's
/// `repository_owner`, GitLab's top-level group), when the token could be read.
pub fn owner_of(claims: &Map<String, Value>) -> Option<&str> {
    claim_text(claims, "repository_owner")
        .or_else(|| claim_text(claims, "namespace_path").map(|n| n.split('/').next().unwrap_or(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MintCode;
    use crate::workshop::exercises::{BUILTIN, BUILTIN_NAME, SeatNames, parse};
    use serde_json::json;

    fn exchange(
        id: i64,
        at: i64,
        outcome: ExchangeOutcome,
        project: &str,
        claims: Value,
        failed: &[&str],
    ) -> Event {
        Event::Exchange(ExchangeEvent {
            id,
            at,
            outcome,
            project: Some(project.to_owned()),
            claims: claims.as_object().cloned().unwrap_or_default(),
            failed_claims: failed.iter().map(|s| (*s).to_owned()).collect(),
            reason: format!("exchange {id}"),
        })
    }

    fn exercise(id: &str) -> SeatExercise {
        let all = parse(BUILTIN_NAME, BUILTIN).unwrap();
        all.iter()
            .find(|e| e.id == id)
            .unwrap()
            .for_seat(&SeatNames::new(3, 30))
    }

    #[test]
    fn steps_must_happen_in_order() {
        let ex = exercise("wrong-workflow");
        let refused = ExchangeOutcome::Refused(MintCode::InvalidPublisher);
        let accepted = exchange(
            1,
            10,
            ExchangeOutcome::Accepted,
            "attendee-03-demo",
            json!({}),
            &[],
        );
        let wrong = exchange(2, 11, refused, "attendee-03-demo", json!({}), &["workflow"]);
        // Accepted first, then refused: the fix has not happened yet.
        let p = judge(&ex, &[accepted.clone(), wrong.clone()]);
        assert_eq!((p.status, p.steps_done), (Status::Refused, 1));
        assert_eq!(p.reason.as_deref(), Some("exchange 2"));
        let mut later = accepted.clone();
        if let Event::Exchange(e) = &mut later {
            e.id = 3;
            e.at = 12;
        }
        assert_eq!(judge(&ex, &[accepted, wrong, later]).status, Status::Done);
    }

    #[test]
    fn a_refusal_on_another_claim_or_project_is_not_the_step() {
        let ex = exercise("wrong-workflow");
        let refused = ExchangeOutcome::Refused(MintCode::InvalidPublisher);
        let env = exchange(
            1,
            10,
            refused,
            "attendee-03-demo",
            json!({}),
            &["environment"],
        );
        assert_eq!(judge(&ex, &[env]).steps_done, 0);
        let elsewhere = exchange(2, 10, refused, "attendee-03-new", json!({}), &["workflow"]);
        let p = judge(&ex, &[elsewhere]);
        // A workflow refusal teaches the same against any publisher of the seat's.
        assert_eq!((p.status, p.steps_done), (Status::Refused, 1));
        // Another claim's refusal on another project is no try at this exercise.
        let other = exchange(
            3,
            10,
            refused,
            "attendee-03-new",
            json!({}),
            &["repository"],
        );
        assert_eq!(judge(&ex, &[other]).status, Status::Pending);
        assert_eq!(judge(&ex, &[]).status, Status::Pending);
    }

    #[test]
    fn claims_and_provenance_are_required_when_named() {
        let act = exercise("pipeline");
        let by_hand = exchange(
            1,
            10,
            ExchangeOutcome::Accepted,
            "attendee-03-pipeline",
            json!({"runner_environment": "github-hosted"}),
            &[],
        );
        assert_ne!(judge(&act, &[by_hand]).status, Status::Done);
        let under_act = exchange(
            2,
            10,
            ExchangeOutcome::Accepted,
            "attendee-03-pipeline",
            json!({"runner_environment": "self-hosted"}),
            &[],
        );
        let stored = Event::File {
            at: 10,
            project: "attendee-03-pipeline".into(),
            provenance: false,
        };
        assert_eq!(judge(&act, std::slice::from_ref(&under_act)).steps_done, 1);
        assert_eq!(judge(&act, &[under_act, stored]).status, Status::Done);
        let attest = exercise("attestation");
        let plain = Event::File {
            at: 5,
            project: "attendee-03-demo".into(),
            provenance: false,
        };
        assert_ne!(judge(&attest, &[plain]).status, Status::Done);
        let signed = Event::File {
            at: 5,
            project: "attendee-03-demo".into(),
            provenance: true,
        };
        assert_eq!(judge(&attest, &[signed]).status, Status::Done);
    }

    #[test]
    fn a_refusal_counts_as_a_try_at_one_exercise_only() {
        let all: Vec<SeatExercise> = parse(BUILTIN_NAME, BUILTIN)
            .unwrap()
            .iter()
            .map(|e| e.for_seat(&SeatNames::new(3, 30)))
            .collect();
        let index = |id: &str| all.iter().position(|e| e.id == id).unwrap();
        let refused = ExchangeOutcome::Refused(MintCode::InvalidPublisher);
        let first = exchange(
            1,
            10,
            ExchangeOutcome::Accepted,
            "attendee-03-demo",
            json!({}),
            &[],
        );
        let stored = Event::File {
            at: 10,
            project: "attendee-03-demo".into(),
            provenance: false,
        };
        let env = exchange(
            2,
            11,
            refused,
            "attendee-03-demo",
            json!({}),
            &["environment"],
        );
        let p = judge_all(&all, &[first, stored, env]);
        assert_eq!(p[index("first-publish")].status, Status::Done);
        // The environment refusal is the wrong-environment exercise's, nobody else's.
        assert_eq!(p[index("wrong-environment")].status, Status::Refused);
        for id in [
            "wrong-workflow",
            "attestation",
            "replayed-token",
            "pending-publisher",
        ] {
            assert_eq!(p[index(id)].status, Status::Pending, "{id}");
        }
        // A refusal no exercise waits for goes to the first unfinished one of its project.
        let repo = exchange(
            3,
            12,
            refused,
            "attendee-03-demo",
            json!({}),
            &["repository"],
        );
        let p = judge_all(&all, &[repo]);
        assert_eq!(p[index("first-publish")].status, Status::Refused);
        assert_eq!(p[index("wrong-workflow")].status, Status::Pending);
        // A replay once the replay exercise is done is nobody's try.
        let once = exchange(
            4,
            13,
            ExchangeOutcome::Refused(MintCode::InvalidReuseToken),
            "attendee-03-demo",
            json!({}),
            &[],
        );
        let again = exchange(
            5,
            14,
            ExchangeOutcome::Refused(MintCode::InvalidReuseToken),
            "attendee-03-demo",
            json!({}),
            &[],
        );
        let p = judge_all(&all, &[once, again]);
        assert_eq!(p[index("replayed-token")].status, Status::Done);
        assert!(p.iter().all(|x| x.status != Status::Refused), "{p:?}");
    }

    #[test]
    fn the_owner_is_read_from_either_providers_claims() {
        assert_eq!(
            owner_of(
                json!({"repository_owner": "attendee-01"})
                    .as_object()
                    .unwrap()
            ),
            Some("attendee-01")
        );
        assert_eq!(
            owner_of(
                json!({"namespace_path": "attendee-02/sub"})
                    .as_object()
                    .unwrap()
            ),
            Some("attendee-02")
        );
        assert_eq!(owner_of(&Map::new()), None);
        assert_eq!(one_line(&"x".repeat(200)).chars().count(), 160);
    }
}
