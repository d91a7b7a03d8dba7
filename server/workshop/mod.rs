//! A classroom (`mock-pypi workshop`): seats, each with its owner (`attendee-07`), its
//! publishers, faults and token; exercises that check themselves against the audit
//! log and the index; a seat reset. The seats' state lives in
//! `<data dir>/workshop.json`; the rest is the index's own.

pub mod exercises;
pub mod progress;
mod seats;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use exercises::{Exercise, SeatExercise, SeatNames};
pub use progress::{Event, ExchangeEvent, Progress, Status};
pub use seats::{JoinError, Joined};

use crate::state::App;
use crate::store::ExchangeRow;

/// What `mock-pypi workshop` asks for: how many seats, which exercises.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seats: u32,
    pub exercises: Vec<Exercise>,
    /// Where the exercises came from (a path, or the built-in file's name).
    pub source: String,
}

/// The most seats a room has (names stay short, the grid readable).
pub const MAX_SEATS: u32 = 500;

/// One room: its plan and its seats.
pub struct Room {
    pub plan: Plan,
    seats: seats::Seats,
}

/// One seat with its exercises filled in.
pub struct SeatPlan {
    pub names: SeatNames,
    pub exercises: Vec<SeatExercise>,
    pub joined_at: Option<i64>,
    marks: seats::Marks,
}

/// Where one seat stands.
#[derive(Clone, Debug, Serialize)]
pub struct Standing {
    pub seat: u32,
    pub owner: String,
    pub joined: bool,
    pub progress: Vec<(String, Progress)>,
    /// The seat's exchanges since its reset, newest first.
    #[serde(skip)]
    pub exchanges: Vec<i64>,
}

impl Room {
    /// Open the room's seat file in the data directory (created on first start; seats
    /// keep their tokens across restarts).
    pub async fn open(plan: Plan, data_dir: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=MAX_SEATS).contains(&plan.seats),
            "--seats {}: a room has 1 to {MAX_SEATS} seats",
            plan.seats
        );
        let seats = seats::Seats::open(data_dir, plan.seats).await?;
        Ok(Self { plan, seats })
    }

    pub fn names(&self, seat: u32) -> SeatNames {
        SeatNames::new(seat, self.plan.seats)
    }

    pub fn seat(&self, seat: u32) -> Option<SeatPlan> {
        let record = self.seats.get(seat)?;
        let names = self.names(seat);
        Some(SeatPlan {
            exercises: self
                .plan
                .exercises
                .iter()
                .map(|e| e.for_seat(&names))
                .collect(),
            names,
            joined_at: record.joined_at,
            marks: record.marks,
        })
    }

    pub fn seat_numbers(&self) -> std::ops::RangeInclusive<u32> {
        1..=self.plan.seats
    }

    /// The seat a token belongs to (seat tokens only; never the admin token).
    pub fn seat_of_token(&self, token: &str) -> Option<u32> {
        self.seats.by_token(token)
    }

    /// Give an attendee their seat (once: a taken seat is refused until reset).
    pub async fn join(&self, seat: u32) -> Result<Joined, JoinError> {
        self.seats.join(seat).await
    }

    /// Give every seat what its exercises need: publishers (pending ones while their
    /// project does not exist) and faults not armed yet. At start and after a reset.
    pub async fn apply(&self, app: &App) -> anyhow::Result<()> {
        let mut armed: Vec<crate::faults::FaultSpec> = crate::fault_state::list(app)
            .await?
            .into_iter()
            .map(|a| a.spec)
            .collect();
        for seat in self.seat_numbers() {
            if let Some(plan) = self.seat(seat) {
                plan.apply(app, &mut armed).await?;
            }
        }
        Ok(())
    }

    /// Every seat's standing, from one read of the audit log, the files and the fault
    /// events.
    pub async fn standings(&self, app: &App) -> anyhow::Result<Vec<(SeatPlan, Standing)>> {
        let plans: Vec<SeatPlan> = self.seat_numbers().filter_map(|s| self.seat(s)).collect();
        let mut events = self.events(app, &plans).await?;
        Ok(plans
            .into_iter()
            .map(|plan| {
                let mut mine = events.remove(&plan.names.seat).unwrap_or_default();
                progress::sort(&mut mine);
                let standing = plan.judge(&mine);
                (plan, standing)
            })
            .collect())
    }

    /// One seat's standing and the exchanges that explain it.
    pub async fn standing(
        &self,
        app: &App,
        seat: u32,
    ) -> anyhow::Result<Option<(SeatPlan, Standing)>> {
        let Some(plan) = self.seat(seat) else {
            return Ok(None);
        };
        let mut events = self
            .events(app, std::slice::from_ref(&plan))
            .await?
            .remove(&seat)
            .unwrap_or_default();
        progress::sort(&mut events);
        let standing = plan.judge(&events);
        Ok(Some((plan, standing)))
    }

    /// What each seat did since its reset, by seat.
    async fn events(
        &self,
        app: &App,
        plans: &[SeatPlan],
    ) -> anyhow::Result<HashMap<u32, Vec<Event>>> {
        let by_owner: HashMap<&str, &SeatPlan> =
            plans.iter().map(|p| (p.names.owner.as_str(), p)).collect();
        let mut by_project: HashMap<&str, &SeatPlan> = HashMap::new();
        for p in plans {
            for e in &p.exercises {
                for project in &e.projects {
                    by_project.insert(project.as_str(), p);
                }
            }
        }
        let since_exchange = plans.iter().map(|p| p.marks.exchange).min().unwrap_or(0);
        let since_fault = plans.iter().map(|p| p.marks.fault).min().unwrap_or(0);
        let (exchanges, files, faults) = tokio::try_join!(
            app.store.exchanges_after(since_exchange),
            app.store.files_with_projects(),
            app.store.fault_events_after(since_fault),
        )?;
        let mut out: HashMap<u32, Vec<Event>> = HashMap::new();
        for row in &exchanges {
            let Some(claims) = &row.detail.0.claims else {
                continue;
            };
            let Some(plan) = progress::owner_of(claims).and_then(|o| by_owner.get(o)) else {
                continue;
            };
            if row.id > plan.marks.exchange {
                out.entry(plan.names.seat)
                    .or_default()
                    .push(Event::Exchange(exchange_event(row, claims)));
            }
        }
        for (project, file) in files {
            if let Some(plan) = by_project.get(project.as_str())
                && file.upload_time >= plan.marks.reset_at
            {
                let provenance = file
                    .attestations
                    .0
                    .as_ref()
                    .is_some_and(|r| !r.0.is_empty());
                out.entry(plan.names.seat).or_default().push(Event::File {
                    at: file.upload_time,
                    project: project.clone(),
                    provenance,
                });
            }
        }
        for f in &faults {
            let Some(project) = &f.project else { continue };
            if let Some(plan) = by_project.get(project.as_str())
                && f.id > plan.marks.fault
            {
                out.entry(plan.names.seat)
                    .or_default()
                    .push(Event::FaultFired {
                        at: f.created_at,
                        project: project.clone(),
                    });
            }
        }
        Ok(out)
    }

    /// Start a seat again: its projects, files and publishers deleted and set up
    /// anew, its faults re-armed, its earlier exchanges no longer counted, its token
    /// replaced (the attendee joins again). Nothing of another seat changes.
    pub async fn reset(&self, app: &App, seat: u32) -> anyhow::Result<bool> {
        let Some(plan) = self.seat(seat) else {
            return Ok(false);
        };
        let projects = plan.projects();
        // Its faults: disarmed (they are armed again below, counters at zero).
        for armed in crate::fault_state::list(app).await? {
            if armed
                .spec
                .matching
                .project
                .as_ref()
                .is_some_and(|p| projects.contains(p))
            {
                crate::fault_state::remove(app, armed.id).await?;
            }
        }
        app.store.delete_projects(&projects).await?;
        let (exchange, fault) = app.store.audit_marks().await?;
        self.seats
            .reset(
                seat,
                seats::Marks {
                    exchange,
                    fault,
                    reset_at: crate::util::now(),
                },
            )
            .await?;
        let mut armed: Vec<crate::faults::FaultSpec> = crate::fault_state::list(app)
            .await?
            .into_iter()
            .map(|a| a.spec)
            .collect();
        if let Some(plan) = self.seat(seat) {
            plan.apply(app, &mut armed).await?;
        }
        Ok(true)
    }

    /// The exercise list as the API gives it.
    pub fn exercise_list(&self) -> Value {
        Value::Array(
            self.plan
                .exercises
                .iter()
                .map(|e| json!({"id": e.id, "title": e.title}))
                .collect(),
        )
    }
}

fn exchange_event(row: &ExchangeRow, claims: &Map<String, Value>) -> ExchangeEvent {
    let judged = row.detail.0.candidates.first();
    let project = row
        .project
        .clone()
        .or_else(|| judged.map(|c| c.project.clone()))
        .map(|p| crate::packaging::normalize_name(&p));
    let failed_claims = judged
        .map(|c| {
            c.verdicts
                .iter()
                .filter(|v| !v.ok)
                .map(|v| v.claim.to_string())
                .collect()
        })
        .unwrap_or_default();
    // The first failed check says it in a line; the full text starts with the code's
    // generic words.
    let failed = judged.and_then(|c| c.verdicts.iter().find(|v| !v.ok));
    let reason = match failed {
        Some(v) => format!(
            "{} {}, expected '{}' ({})",
            v.claim,
            v.actual
                .as_deref()
                .map_or("missing".to_owned(), |a| format!("'{a}'")),
            v.expected,
            row.outcome.as_str(),
        ),
        None => progress::one_line(&row.description),
    };
    ExchangeEvent {
        id: row.id,
        at: row.created_at,
        outcome: row.outcome,
        project,
        claims: claims.clone(),
        failed_claims,
        reason,
    }
}

impl SeatPlan {
    fn judge(&self, events: &[Event]) -> Standing {
        let mut exchanges: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Exchange(x) => Some(x.id),
                _ => None,
            })
            .collect();
        exchanges.reverse();
        Standing {
            seat: self.names.seat,
            owner: self.names.owner.clone(),
            joined: self.joined_at.is_some(),
            progress: self
                .exercises
                .iter()
                .map(|e| e.id.clone())
                .zip(progress::judge_all(&self.exercises, events))
                .collect(),
            exchanges,
        }
    }

    /// The seat's projects, normalized.
    pub fn projects(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .exercises
            .iter()
            .flat_map(|e| e.projects.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    async fn apply(
        &self,
        app: &App,
        armed: &mut Vec<crate::faults::FaultSpec>,
    ) -> anyhow::Result<()> {
        use crate::services::{ServiceError, add_publisher};
        for exercise in &self.exercises {
            for publisher in &exercise.publishers {
                match add_publisher(app, publisher).await {
                    // Already there, or (a pending one) its project exists: done before.
                    Ok(_) | Err(ServiceError::Conflict(_)) => {}
                    Err(e) => anyhow::bail!(
                        "seat {} ({}), exercise '{}': publisher {}: {e}",
                        self.names.seat,
                        self.names.owner,
                        exercise.id,
                        Value::Object(publisher.clone())
                    ),
                }
            }
            for fault in &exercise.faults {
                let spec = crate::faults::FaultSpec::parse(fault).map_err(|e| {
                    anyhow::anyhow!(
                        "exercise '{}', fault {}: {}",
                        exercise.id,
                        e.field,
                        e.message
                    )
                })?;
                if !armed.contains(&spec) {
                    crate::fault_state::arm(app, spec.clone()).await?;
                    armed.push(spec);
                }
            }
        }
        Ok(())
    }
}

/// The API's answers, built from a standing and what explains it.
impl Room {
    /// `GET /_mock/api/workshop`: every seat × exercise.
    pub async fn room_report(&self, app: &App) -> anyhow::Result<Value> {
        let seats: Vec<Value> = self
            .standings(app)
            .await?
            .into_iter()
            .map(|(_, s)| {
                let statuses: Map<String, Value> = s
                    .progress
                    .iter()
                    .map(|(id, p)| (id.clone(), p.status.as_str().into()))
                    .collect();
                let reasons: Map<String, Value> = s
                    .progress
                    .iter()
                    .filter_map(|(id, p)| Some((id.clone(), p.reason.clone()?.into())))
                    .collect();
                json!({"seat": s.seat, "owner": s.owner, "joined": s.joined, "exercises": statuses, "reasons": reasons})
            })
            .collect();
        Ok(json!({"exercises": self.exercise_list(), "source": self.plan.source, "seats": seats}))
    }

    /// `GET /_mock/api/workshop/seats/K`: one seat's exercises with their steps, its
    /// publishers and its latest exchanges (the explanation of each).
    pub async fn seat_report(&self, app: &App, seat: u32) -> anyhow::Result<Option<Value>> {
        let Some((plan, standing)) = self.standing(app, seat).await? else {
            return Ok(None);
        };
        let exercises: Vec<Value> = plan
            .exercises
            .iter()
            .zip(&standing.progress)
            .map(|(e, (_, p))| {
                let steps: Vec<Value> = e
                    .goal
                    .iter()
                    .enumerate()
                    .map(|(i, s)| json!({"step": s.describe(), "done": i < p.steps_done}))
                    .collect();
                let mut v = json!({
                    "id": e.id, "title": e.title, "task": e.task, "status": p.status,
                    "steps": steps, "projects": e.projects,
                });
                if p.status == Status::Refused {
                    v["reason"] = p.reason.clone().into();
                    v["exchange"] = p.exchange.into();
                    v["hint"] = e.hint.clone().into();
                }
                v
            })
            .collect();
        let projects = plan.projects();
        let publishers: Vec<_> = crate::services::publishers(app, None)
            .await?
            .into_iter()
            .filter(|p| projects.contains(&crate::packaging::normalize_name(&p.project)))
            .collect();
        let mut exchanges = Vec::new();
        for id in standing.exchanges.iter().take(20) {
            if let Some(row) = app.store.exchange(*id).await? {
                exchanges.push(row);
            }
        }
        Ok(Some(json!({
            "seat": standing.seat, "owner": standing.owner, "joined": standing.joined,
            "page": format!("{}/_mock/dashboard/workshop/seats/{seat}", app.public_url),
            "exercises": exercises, "publishers": publishers, "exchanges": exchanges,
        })))
    }
}
