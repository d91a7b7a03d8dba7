//! A GitHub Actions workflow file, read into what trusted publishing depends on: its
//! triggers, the `id-token` permission at the workflow and job levels, each job's
//! `environment`, `needs`, steps and, for a caller, the workflow it `uses`. Every part
//! keeps its line for findings.

use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;

use super::yaml::{BadInput, is_expression, line, text, texts};

/// What `id-token` is granted as, where the file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdToken {
    Write,
    /// `read`, `none`, or a `permissions:` block without it (which grants none).
    NotWrite,
}

/// A `permissions:` block (or `write-all` / `read-all`), with its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions {
    pub id_token: IdToken,
    pub line: usize,
}

/// A trigger the workflow declares (`on:`), with the filters that shape its ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub event: String,
    pub line: usize,
    pub tags: Vec<String>,
    pub branches: Vec<String>,
}

/// A job's `environment:`: a name, or an expression the tool cannot evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Environment {
    Name(String),
    Expression(String),
}

/// One step of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub name: Option<String>,
    pub uses: Option<String>,
    /// `with:` inputs, each with its line.
    pub with: Vec<(String, String, usize)>,
    pub run: Option<String>,
    /// The line the `run:` text starts on.
    pub run_line: usize,
    /// `env:` names the step sets.
    pub env: Vec<String>,
}

impl Step {
    pub fn input(&self, name: &str) -> Option<&(String, String, usize)> {
        self.with.iter().find(|(k, _, _)| k == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub line: usize,
    pub environment: Option<(Environment, usize)>,
    pub permissions: Option<Permissions>,
    /// A reusable workflow this job calls (`uses:` at the job level), with its line.
    pub uses: Option<(String, usize)>,
    pub needs: Vec<String>,
    pub steps: Vec<Step>,
    /// `strategy.matrix` is set: values taken from it cannot be known here.
    pub matrix: bool,
    /// The line of the job's own `env:` key, if it has one.
    pub env_line: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    /// The path as given (e.g. `.github/workflows/release.yml`).
    pub path: String,
    /// The file name, which PyPI's publisher names.
    pub file: String,
    pub triggers: Vec<Trigger>,
    pub permissions: Option<Permissions>,
    pub jobs: Vec<Job>,
}

impl Workflow {
    /// Whether other workflows can call this one (`on: workflow_call`).
    pub fn is_reusable(&self) -> bool {
        self.triggers.iter().any(|t| t.event == "workflow_call")
    }

    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }
}

/// The events GitHub knows (an unknown one is a typo the workflow would never run on).
const EVENTS: &[&str] = &[
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "label",
    "merge_group",
    "milestone",
    "page_build",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_target",
    "push",
    "registry_package",
    "release",
    "repository_dispatch",
    "schedule",
    "status",
    "watch",
    "workflow_call",
    "workflow_dispatch",
    "workflow_run",
];

/// Whether GitHub knows the event.
pub fn known_event(event: &str) -> bool {
    EVENTS.contains(&event)
}

/// Read a workflow file (`path` as the user named it, `text` its contents).
pub fn parse(path: &str, text_: &str) -> Result<Workflow, BadInput> {
    let root = super::yaml::parse(path, text_)?;
    let map = root
        .as_mapping()
        .ok_or_else(|| BadInput::new(path, 1, "expected a mapping at the top level"))?;
    let on = map.get_node("on").ok_or_else(|| {
        BadInput::new(
            path,
            1,
            "no 'on:' (a workflow names the events that run it)",
        )
    })?;
    let triggers = triggers(path, on)?;
    let permissions = map
        .get_node("permissions")
        .map(|p| permissions(path, p))
        .transpose()?;
    let jobs_node = map
        .get_mapping("jobs")
        .ok_or_else(|| BadInput::new(path, 1, "no 'jobs:' mapping"))?;
    let mut jobs = Vec::new();
    for (id, node) in jobs_node.iter() {
        let job = node.as_mapping().ok_or_else(|| {
            BadInput::new(
                path,
                line(id.span()),
                format!("job '{}' must be a mapping", id.as_str()),
            )
        })?;
        jobs.push(parse_job(path, id.as_str(), line(id.span()), job)?);
    }
    check_needs(path, &jobs)?;
    let file = path.rsplit('/').next().unwrap_or(path).to_owned();
    Ok(Workflow {
        path: path.to_owned(),
        file,
        triggers,
        permissions,
        jobs,
    })
}

fn triggers(path: &str, on: &Node) -> Result<Vec<Trigger>, BadInput> {
    let at = line(on.span());
    let plain = |event: String| Trigger {
        event,
        line: at,
        tags: Vec::new(),
        branches: Vec::new(),
    };
    let found: Vec<Trigger> = match on {
        Node::Scalar(_) | Node::Sequence(_) => texts(on).into_iter().map(plain).collect(),
        Node::Mapping(m) => m
            .iter()
            .map(|(event, filters)| {
                let filters = filters.as_mapping();
                let list = |k: &str| {
                    filters
                        .and_then(|f| f.get_node(k))
                        .map(texts)
                        .unwrap_or_default()
                };
                Trigger {
                    event: event.as_str().to_owned(),
                    line: line(event.span()),
                    tags: list("tags"),
                    branches: list("branches"),
                }
            })
            .collect(),
    };
    for t in &found {
        if !known_event(&t.event) {
            return Err(BadInput::new(
                path,
                t.line,
                format!(
                    "unknown event '{}' (GitHub's events: push, release, workflow_dispatch, pull_request, …)",
                    t.event
                ),
            ));
        }
    }
    Ok(found)
}

fn permissions(path: &str, node: &Node) -> Result<Permissions, BadInput> {
    let at = line(node.span());
    let id_token = match node {
        Node::Scalar(s) => match s.as_str() {
            "write-all" => IdToken::Write,
            "read-all" | "" => IdToken::NotWrite,
            other => {
                return Err(BadInput::new(
                    path,
                    at,
                    format!("permissions must be a mapping, write-all or read-all, not '{other}'"),
                ));
            }
        },
        Node::Mapping(m) => match m.get_scalar("id-token").map(|s| s.as_str()) {
            Some("write") => IdToken::Write,
            _ => IdToken::NotWrite,
        },
        Node::Sequence(_) => {
            return Err(BadInput::new(path, at, "permissions must be a mapping"));
        }
    };
    Ok(Permissions { id_token, line: at })
}

fn parse_job(path: &str, id: &str, at: usize, job: &MarkedMappingNode) -> Result<Job, BadInput> {
    let environment = job.get_node("environment").map(|e| {
        let name = match e {
            Node::Mapping(m) => m.get_scalar("name").map(|s| s.as_str().to_owned()),
            _ => text(e).map(str::to_owned),
        };
        let name = name.unwrap_or_default();
        let env = if is_expression(&name) {
            Environment::Expression(name)
        } else {
            Environment::Name(name)
        };
        (env, line(e.span()))
    });
    let permissions = job
        .get_node("permissions")
        .map(|p| permissions(path, p))
        .transpose()?;
    let uses = job
        .get_scalar("uses")
        .map(|u| (u.as_str().to_owned(), line(u.span())));
    let needs = job.get_node("needs").map(texts).unwrap_or_default();
    let mut steps = Vec::new();
    if let Some(list) = job.get_sequence("steps") {
        for s in list.iter() {
            let Some(step) = s.as_mapping() else {
                return Err(BadInput::new(
                    path,
                    line(s.span()),
                    format!("a step of job '{id}' must be a mapping"),
                ));
            };
            steps.push(parse_step(step, line(s.span())));
        }
    }
    let matrix = job
        .get_mapping("strategy")
        .is_some_and(|s| s.get_node("matrix").is_some());
    let env_line = job
        .iter()
        .find(|(k, _)| k.as_str() == "env")
        .map(|(k, _)| line(k.span()));
    Ok(Job {
        env_line,
        id: id.to_owned(),
        line: at,
        environment,
        permissions,
        uses,
        needs,
        steps,
        matrix,
    })
}

fn parse_step(step: &MarkedMappingNode, at: usize) -> Step {
    let scalar = |k: &str| step.get_scalar(k).map(|s| s.as_str().to_owned());
    let with = step
        .get_mapping("with")
        .map(|w| {
            w.iter()
                .filter_map(|(k, v)| {
                    text(v).map(|t| (k.as_str().to_owned(), t.to_owned(), line(k.span())))
                })
                .collect()
        })
        .unwrap_or_default();
    let env = step
        .get_mapping("env")
        .map(|e| e.keys().map(|k| k.as_str().to_owned()).collect())
        .unwrap_or_default();
    Step {
        line: at,
        name: scalar("name"),
        uses: scalar("uses"),
        with,
        run: scalar("run"),
        run_line: step.get_scalar("run").map_or(at, |r| line(r.span())),
        env,
    }
}

/// Every `needs:` names a job of the workflow, and the jobs form no cycle.
fn check_needs(path: &str, jobs: &[Job]) -> Result<(), BadInput> {
    for job in jobs {
        for need in &job.needs {
            if !jobs.iter().any(|j| &j.id == need) {
                return Err(BadInput::new(
                    path,
                    job.line,
                    format!(
                        "job '{}' needs '{need}', which is not a job of this workflow",
                        job.id
                    ),
                ));
            }
        }
    }
    // Depth-first: a job met again on its own path is a cycle.
    fn visit<'a>(jobs: &'a [Job], id: &'a str, path: &mut Vec<&'a str>) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|p| *p == id) {
            let mut cycle = path[at..].to_vec();
            cycle.push(id);
            return Some(cycle);
        }
        path.push(id);
        let job = jobs.iter().find(|j| j.id == id)?;
        for need in &job.needs {
            if let Some(cycle) = visit(jobs, need, path) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    for job in jobs {
        if let Some(cycle) = visit(jobs, &job.id, &mut Vec::new()) {
            return Err(BadInput::new(
                path,
                job.line,
                format!("the jobs' needs form a cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}
