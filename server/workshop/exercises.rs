//! The exercises file (`fixtures/workshop/exercises.toml`): each exercise's text, what
//! every seat gets for it (publishers, faults, starter files) and its goal as ordered
//! steps over the audit log and the index. Parsing refuses anything it does not know,
//! naming the file, the line and the field. Pure.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::audit::MintCode;
use crate::provider::Provider;

/// The exercises shipped with the binary (`mock-pypi workshop` without `--exercises`).
pub const BUILTIN: &str = include_str!("../../fixtures/workshop/exercises.toml");
/// How the built-in file is named in errors and on the dashboard.
pub const BUILTIN_NAME: &str = "fixtures/workshop/exercises.toml";

/// One exercise, as every seat gets it (templates not yet filled).
#[derive(Clone, Debug)]
pub struct Exercise {
    pub id: String,
    pub title: String,
    /// What to do, for the seat's page (`{owner}` and `{seat}` filled per seat).
    pub task: String,
    /// Shown after a failed try.
    pub hint: String,
    pub publishers: Vec<Map<String, Value>>,
    pub faults: Vec<Value>,
    /// Files `mock-pypi join` writes into the attendee's exercises folder (path →
    /// text; `@make_dist` stands for the dist maker).
    pub starter: BTreeMap<String, String>,
    pub goal: Vec<Step>,
    /// The projects whose exchanges count as tries at this exercise (normalized; known
    /// once the templates are filled for a seat).
    pub projects: Vec<String>,
}

/// One step of a goal; a goal is done when its steps happened in this order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A token exchange by the seat was accepted (for a publisher of `project`, with
    /// these claims).
    Accepted {
        project: Option<String>,
        claims: BTreeMap<String, String>,
    },
    /// A token exchange by the seat was refused with `code` (the deciding publisher's
    /// check of `claim` failing, when named).
    Refused {
        code: MintCode,
        claim: Option<String>,
    },
    /// A file is in `project` (with verified attestations, when asked).
    File { project: String, provenance: bool },
    /// A fault fired on a request for `project`.
    FaultFired { project: String },
}

impl Step {
    /// The step in words, for the seat's page.
    pub fn describe(&self) -> String {
        match self {
            Step::Accepted { project, claims } => {
                let mut s = "an accepted token exchange".to_owned();
                if let Some(p) = project {
                    s += &format!(" for {p}");
                }
                if !claims.is_empty() {
                    let c: Vec<String> = claims.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    s += &format!(" with {}", c.join(", "));
                }
                s
            }
            Step::Refused { code, claim } => match claim {
                Some(c) => format!("an exchange refused with {code} on the claim {c}"),
                None => format!("an exchange refused with {code}"),
            },
            Step::File {
                project,
                provenance,
            } => {
                if *provenance {
                    format!("a file in {project} with verified attestations")
                } else {
                    format!("a file in {project}")
                }
            }
            Step::FaultFired { project } => format!("a fault fired on a request for {project}"),
        }
    }

    /// The step with the seat's names filled in.
    fn filled(&self, seat: &SeatNames) -> Step {
        match self {
            Step::Accepted { project, claims } => Step::Accepted {
                project: project.as_deref().map(|p| seat.fill(p)),
                claims: claims
                    .iter()
                    .map(|(k, v)| (k.clone(), seat.fill(v)))
                    .collect(),
            },
            Step::Refused { code, claim } => Step::Refused {
                code: *code,
                claim: claim.clone(),
            },
            Step::File {
                project,
                provenance,
            } => Step::File {
                project: seat.fill(project),
                provenance: *provenance,
            },
            Step::FaultFired { project } => Step::FaultFired {
                project: seat.fill(project),
            },
        }
    }
}

/// The names one seat's templates are filled with: `{owner}` (`attendee-07`) and
/// `{seat}` (`07`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatNames {
    pub seat: u32,
    pub number: String,
    pub owner: String,
}

impl SeatNames {
    /// Seat `seat` of a room of `seats`: numbers padded to the room's width (two digits
    /// at least), so names sort.
    pub fn new(seat: u32, seats: u32) -> Self {
        let width = seats.to_string().len().max(2);
        let number = format!("{seat:0width$}");
        Self {
            seat,
            owner: format!("attendee-{number}"),
            number,
        }
    }

    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{owner}", &self.owner)
            .replace("{seat}", &self.number)
    }

    fn fill_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.fill_value(v)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.fill_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// An exercise as one seat sees it: every template filled, its projects known.
pub type SeatExercise = Exercise;

impl Exercise {
    pub fn for_seat(&self, seat: &SeatNames) -> SeatExercise {
        let publishers: Vec<Map<String, Value>> = self
            .publishers
            .iter()
            .map(|p| match seat.fill_value(&Value::Object(p.clone())) {
                Value::Object(m) => m,
                _ => Map::new(),
            })
            .collect();
        let goal: Vec<Step> = self.goal.iter().map(|s| s.filled(seat)).collect();
        let mut projects: Vec<String> = publishers
            .iter()
            .filter_map(|p| p.get("project").and_then(Value::as_str))
            .map(crate::packaging::normalize_name)
            .collect();
        for step in &goal {
            let p = match step {
                Step::Accepted { project, .. } => project.clone(),
                Step::File { project, .. } | Step::FaultFired { project } => Some(project.clone()),
                Step::Refused { .. } => None,
            };
            if let Some(p) = p {
                projects.push(crate::packaging::normalize_name(&p));
            }
        }
        projects.sort();
        projects.dedup();
        Exercise {
            id: self.id.clone(),
            title: self.title.clone(),
            task: seat.fill(&self.task),
            hint: seat.fill(&self.hint),
            publishers,
            faults: self.faults.iter().map(|f| seat.fill_value(f)).collect(),
            starter: self
                .starter
                .iter()
                .map(|(k, v)| (k.clone(), seat.fill(v)))
                .collect(),
            goal,
            projects,
        }
    }
}

/// A refusal of the exercises file: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ExercisesError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

// The file's shape. Unknown keys are refused everywhere, so a typo names its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    exercise: Vec<Spanned<ExerciseDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExerciseDef {
    id: Spanned<String>,
    title: String,
    task: String,
    hint: String,
    #[serde(default)]
    publisher: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    fault: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    starter: BTreeMap<String, String>,
    goal: Vec<Spanned<StepDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDef {
    kind: Spanned<String>,
    project: Option<String>,
    #[serde(default)]
    claims: BTreeMap<String, String>,
    code: Option<Spanned<String>>,
    claim: Option<String>,
    #[serde(default)]
    provenance: bool,
}

const STEP_KINDS: &str = "accepted, refused, file, fault-fired";

/// Parse and check an exercises file; `name` is how errors name it.
pub fn parse(name: &str, text: &str) -> Result<Vec<Exercise>, ExercisesError> {
    let at = |span: Option<Range<usize>>, message: String| ExercisesError {
        file: name.to_owned(),
        line: span.map_or(0, |s| line_of(text, s.start)),
        message,
    };
    let file: FileDef = toml::from_str(text).map_err(|e| {
        // toml's message starts with its own position block; keep the reason.
        let message = e.message().to_owned();
        at(e.span(), message)
    })?;
    if file.exercise.is_empty() {
        return Err(at(None, "no [[exercise]] tables".into()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for def in file.exercise {
        let span = def.span();
        let def = def.into_inner();
        let id = def.id.get_ref().clone();
        let valid_id = !id.is_empty()
            && id.len() <= 40
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_id {
            return Err(at(
                Some(def.id.span()),
                format!("id '{id}': lower-case letters, digits and '-', at most 40"),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(at(
                Some(def.id.span()),
                format!("id '{id}' is used by an earlier exercise"),
            ));
        }
        if def.goal.is_empty() {
            return Err(at(
                Some(span),
                format!("exercise '{id}': goal has no steps"),
            ));
        }
        let probe = SeatNames::new(1, 1);
        let mut publishers = Vec::new();
        for p in def.publisher {
            let pspan = p.span();
            let map = match serde_json::to_value(p.into_inner()) {
                Ok(Value::Object(m)) => m,
                _ => return Err(at(Some(pspan), "a publisher is a table".into())),
            };
            check_publisher(&probe.fill_value(&Value::Object(map.clone()))).map_err(|m| {
                at(
                    Some(pspan.clone()),
                    format!("exercise '{id}', publisher: {m}"),
                )
            })?;
            publishers.push(map);
        }
        let mut faults = Vec::new();
        for f in def.fault {
            let fspan = f.span();
            let value = serde_json::to_value(f.into_inner()).unwrap_or(Value::Null);
            crate::faults::FaultSpec::parse(&probe.fill_value(&value)).map_err(|e| {
                at(
                    Some(fspan),
                    format!("exercise '{id}', fault field '{}': {}", e.field, e.message),
                )
            })?;
            faults.push(value);
        }
        for path in def.starter.keys() {
            let safe = !path.is_empty()
                && !path.starts_with('/')
                && path
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..");
            if !safe {
                return Err(at(
                    Some(span.clone()),
                    format!(
                        "exercise '{id}', starter '{path}': a relative path inside the exercise's folder"
                    ),
                ));
            }
        }
        let mut goal = Vec::new();
        for step in def.goal {
            let sspan = step.span();
            goal.push(step_of(step.into_inner()).map_err(|(s, m)| {
                at(
                    Some(s.unwrap_or(sspan)),
                    format!("exercise '{id}', goal: {m}"),
                )
            })?);
        }
        out.push(Exercise {
            id,
            title: def.title,
            task: def.task,
            hint: def.hint,
            publishers,
            faults,
            starter: def.starter,
            goal,
            projects: Vec::new(),
        });
    }
    Ok(out)
}

type StepError = (Option<Range<usize>>, String);

fn step_of(def: StepDef) -> Result<Step, StepError> {
    let kind_span = Some(def.kind.span());
    let kind = def.kind.into_inner();
    let unused = |field: &str, present: bool| -> Result<(), StepError> {
        if present {
            Err((
                kind_span.clone(),
                format!("'{field}' does not apply to a step of kind '{kind}'"),
            ))
        } else {
            Ok(())
        }
    };
    let needs = |field: &str| {
        (
            kind_span.clone(),
            format!("a '{kind}' step needs '{field}'"),
        )
    };
    Ok(match kind.as_str() {
        "accepted" => {
            unused("code", def.code.is_some())?;
            unused("claim", def.claim.is_some())?;
            unused("provenance", def.provenance)?;
            Step::Accepted {
                project: def.project,
                claims: def.claims,
            }
        }
        "refused" => {
            unused("project", def.project.is_some())?;
            unused("claims", !def.claims.is_empty())?;
            unused("provenance", def.provenance)?;
            let code = def.code.ok_or_else(|| needs("code"))?;
            let parsed: MintCode = code.get_ref().parse().map_err(|e: String| {
                let codes: Vec<&str> = MintCode::ALL.iter().map(|c| c.as_str()).collect();
                (
                    Some(code.span()),
                    format!("{e} (one of {})", codes.join(", ")),
                )
            })?;
            Step::Refused {
                code: parsed,
                claim: def.claim,
            }
        }
        "file" => {
            unused("code", def.code.is_some())?;
            unused("claim", def.claim.is_some())?;
            unused("claims", !def.claims.is_empty())?;
            Step::File {
                project: def.project.ok_or_else(|| needs("project"))?,
                provenance: def.provenance,
            }
        }
        "fault-fired" => {
            unused("code", def.code.is_some())?;
            unused("claim", def.claim.is_some())?;
            unused("claims", !def.claims.is_empty())?;
            unused("provenance", def.provenance)?;
            Step::FaultFired {
                project: def.project.ok_or_else(|| needs("project"))?,
            }
        }
        other => {
            return Err((
                kind_span,
                format!("unknown step kind '{other}' (one of {STEP_KINDS})"),
            ));
        }
    })
}

/// A publisher table as the control API would take it (provider and project first).
fn check_publisher(value: &Value) -> Result<(), String> {
    let map = value.as_object().ok_or("a publisher is a table")?;
    let provider: Provider = map
        .get("provider")
        .and_then(Value::as_str)
        .ok_or("'provider' is missing")?
        .parse()?;
    let project = map.get("project").and_then(Value::as_str).unwrap_or("");
    if !crate::packaging::is_valid_name(project) {
        return Err(format!(
            "'project' must be a valid project name, not '{project}'"
        ));
    }
    crate::oidc::publisher::PublisherConfig::from_input(provider, map, None).map(|_| ())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_parses_into_eight_exercises() {
        let exercises = parse(BUILTIN_NAME, BUILTIN).expect("the shipped exercises");
        assert_eq!(exercises.len(), 8);
        let seat = SeatNames::new(7, 30);
        assert_eq!(seat.owner, "attendee-07");
        let first = exercises[0].for_seat(&seat);
        assert!(first.projects.iter().all(|p| p.starts_with("attendee-07-")));
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line_and_field() {
        let base = "[[exercise]]\nid = \"a\"\ntitle = \"A\"\ntask = \"t\"\nhint = \"h\"\n";
        let cases: &[(&str, usize, &str)] = &[
            (
                "[[exercise.goal]]\nkind = \"acepted\"\n",
                7,
                "unknown step kind 'acepted'",
            ),
            (
                "[[exercise.goal]]\nkind = \"refused\"\ncode = \"invalid-publsher\"\n",
                8,
                "unknown exchange code",
            ),
            ("[[exercise.goal]]\nkind = \"refused\"\n", 7, "needs 'code'"),
            (
                "[[exercise.goal]]\nkind = \"file\"\nprojet = \"x\"\n",
                8,
                "unknown field `projet`",
            ),
            (
                "[[exercise.goal]]\nkind = \"file\"\nproject = \"x\"\ncode = \"invalid-token\"\n",
                7,
                "'code' does not apply",
            ),
            (
                "[[exercise.publisher]]\nprovider = \"github\"\nproject = \"{owner}-x\"\n[[exercise.goal]]\nkind = \"file\"\nproject = \"x\"\n",
                6,
                "publisher:",
            ),
            (
                "[[exercise.fault]]\nroute = \"uplod\"\n[[exercise.goal]]\nkind = \"file\"\nproject = \"x\"\n",
                6,
                "fault field 'route'",
            ),
            ("goal = 3\n", 6, "invalid type"),
        ];
        for (tail, line, needle) in cases {
            let text = format!("{base}{tail}");
            let e = parse("ex.toml", &text).expect_err(tail);
            assert_eq!((e.file.as_str(), e.line), ("ex.toml", *line), "{tail}: {e}");
            assert!(e.message.contains(needle), "{tail}: {e}");
        }
        let missing = parse("ex.toml", "[[exercise]]\nid = \"a\"\n").expect_err("missing");
        assert!(
            missing.to_string().starts_with("ex.toml:1: missing field"),
            "{missing}"
        );
        let twice = format!(
            "{base}[[exercise.goal]]\nkind = \"file\"\nproject = \"x\"\n{base}[[exercise.goal]]\nkind = \"file\"\nproject = \"x\"\n"
        );
        let e = parse("ex.toml", &twice).expect_err("a repeated id");
        assert_eq!(e.line, 10, "{e}");
        assert!(e.message.contains("used by an earlier exercise"), "{e}");
    }
}
