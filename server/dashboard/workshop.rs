//! The workshop's pages: the projector view (seats × exercises, live), one seat's page
//! (its exercises, its last exchange explained) and the instructor's seat reset.

use askama::Template;

use super::{CandidateBlock, ExchangeLine, Frame};
use crate::store::ExchangeRow;
use crate::workshop::{SeatPlan, Standing, Status};

/// An exercise's column: its number, title and how many seats finished it.
pub struct ExerciseHead {
    pub number: usize,
    pub id: String,
    pub title: String,
    pub done: usize,
}

/// One seat × exercise cell.
pub struct Cell {
    pub status: &'static str,
    /// What the cell says: "done", the refusal in one line, or "not started".
    pub text: String,
    /// The exercise, for the phone layout's label.
    pub label: String,
    pub exchange: Option<i64>,
}

pub struct SeatRow {
    pub seat: u32,
    pub owner: String,
    pub joined: bool,
    pub done: usize,
    pub cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "dashboard/workshop.html")]
pub struct WorkshopPage {
    pub frame: Frame,
    pub exercises: Vec<ExerciseHead>,
    pub seats: Vec<SeatRow>,
    pub joined: usize,
    pub source: String,
    pub join_url: String,
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Done => "done",
        Status::Refused => "refused",
        Status::Pending => "not started",
    }
}

impl WorkshopPage {
    pub fn new(
        frame: Frame,
        standings: &[(SeatPlan, Standing)],
        source: &str,
        join_url: String,
    ) -> Self {
        let mut exercises: Vec<ExerciseHead> = standings
            .first()
            .map(|(plan, _)| {
                plan.exercises
                    .iter()
                    .enumerate()
                    .map(|(i, e)| ExerciseHead {
                        number: i + 1,
                        id: e.id.clone(),
                        title: e.title.clone(),
                        done: 0,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let seats = standings
            .iter()
            .map(|(_, s)| {
                let cells: Vec<Cell> = s
                    .progress
                    .iter()
                    .enumerate()
                    .map(|(i, (_, p))| {
                        if p.status == Status::Done
                            && let Some(head) = exercises.get_mut(i)
                        {
                            head.done += 1;
                        }
                        let label = exercises
                            .get(i)
                            .map(|h| format!("{}. {}", h.number, h.title))
                            .unwrap_or_default();
                        Cell {
                            status: p.status.as_str(),
                            text: p
                                .reason
                                .clone()
                                .unwrap_or_else(|| status_text(p.status).to_owned()),
                            label,
                            exchange: p.exchange,
                        }
                    })
                    .collect();
                SeatRow {
                    seat: s.seat,
                    owner: s.owner.clone(),
                    joined: s.joined,
                    done: cells.iter().filter(|c| c.status == "done").count(),
                    cells,
                }
            })
            .collect::<Vec<_>>();
        Self {
            frame,
            joined: standings.iter().filter(|(_, s)| s.joined).count(),
            exercises,
            seats,
            source: source.to_owned(),
            join_url,
        }
    }
}

pub struct StepLine {
    pub text: String,
    pub done: bool,
}

pub struct ExerciseBlock {
    pub number: usize,
    pub title: String,
    pub task: String,
    pub status: &'static str,
    pub status_text: &'static str,
    pub steps: Vec<StepLine>,
    pub reason: Option<String>,
    pub hint: Option<String>,
    pub exchange: Option<i64>,
    pub projects: String,
}

#[derive(Template)]
#[template(path = "dashboard/workshop_seat.html")]
pub struct SeatPage {
    pub frame: Frame,
    pub seat: u32,
    pub owner: String,
    pub joined: bool,
    pub done: usize,
    pub exercises: Vec<ExerciseBlock>,
    /// The seat's latest exchange with the publisher it was judged against.
    pub last: Option<ExchangeLine>,
    pub last_candidate: Option<CandidateBlock>,
    pub live: bool,
}

impl SeatPage {
    pub fn new(
        frame: Frame,
        plan: &SeatPlan,
        standing: &Standing,
        last: Option<&ExchangeRow>,
        now: i64,
    ) -> Self {
        let exercises: Vec<ExerciseBlock> = plan
            .exercises
            .iter()
            .zip(&standing.progress)
            .enumerate()
            .map(|(i, (e, (_, p)))| ExerciseBlock {
                number: i + 1,
                title: e.title.clone(),
                task: e.task.trim().to_owned(),
                status: p.status.as_str(),
                status_text: status_text(p.status),
                steps: e
                    .goal
                    .iter()
                    .enumerate()
                    .map(|(n, s)| StepLine {
                        text: s.describe(),
                        done: n < p.steps_done,
                    })
                    .collect(),
                reason: p.reason.clone(),
                hint: (p.status == Status::Refused).then(|| e.hint.trim().to_owned()),
                exchange: p.exchange,
                projects: e.projects.join(", "),
            })
            .collect();
        Self {
            live: frame.refresh,
            frame,
            seat: standing.seat,
            owner: standing.owner.clone(),
            joined: standing.joined,
            done: exercises.iter().filter(|e| e.status == "done").count(),
            exercises,
            last: last.map(|r| ExchangeLine::new(r, now)),
            last_candidate: last
                .and_then(|r| r.detail.0.candidates.first().map(CandidateBlock::from)),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/workshop_reset.html")]
pub struct ResetPage {
    pub frame: Frame,
    pub seats: u32,
    pub notice: Option<String>,
    pub error: Option<String>,
}
