//! Running a real workflow locally with OIDC: every job GitHub would give a token gets
//! `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN` naming the fake issuer and that job's own
//! identity (so its token carries that job's claims), written into the job's `env:` of a
//! copy of the workflow file; every other job gets nothing, as on GitHub. The user's file
//! is never changed. Pure: text in, text out.

use super::github::{self, Event, Repo, Running};
use super::workflow::Workflow;
use super::yaml::BadInput;
use crate::issuer::github::request_url;

/// What one job is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub workflow: String,
    pub job: String,
    /// The variables, or why there are none.
    pub vars: Result<Vec<(String, String)>, String>,
}

/// The grants for every job of `workflows` under `event` (a called workflow's jobs as
/// its first caller here calls them).
pub fn grants(
    repo: &Repo,
    workflows: &[Workflow],
    event: &Event,
    issuer: &str,
    request_token: &str,
    runner_environment: Option<&str>,
) -> Vec<Grant> {
    let mut out = Vec::new();
    for wf in workflows {
        let caller = workflows
            .iter()
            .flat_map(|c| c.jobs.iter().map(move |j| (c, j)))
            .find(|(_, j)| j.uses.as_ref().is_some_and(|(u, _)| calls(u, wf)));
        for job in wf.jobs.iter().filter(|j| j.uses.is_none()) {
            let running = Running {
                workflow: wf,
                job,
                caller,
            };
            let vars = match github::token_for(&running, event) {
                Err(why) => Err(why.describe()),
                Ok(()) => {
                    let (mut identity, _) = github::identity(repo, &running, event);
                    identity.runner_environment = runner_environment.map(str::to_owned);
                    Ok(vec![
                        (
                            "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
                            request_url(issuer, &identity),
                        ),
                        (
                            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_owned(),
                            request_token.to_owned(),
                        ),
                    ])
                }
            };
            out.push(Grant {
                workflow: wf.path.clone(),
                job: job.id.clone(),
                vars,
            });
        }
    }
    out
}

fn calls(uses: &str, wf: &Workflow) -> bool {
    let target = uses.split('@').next().unwrap_or(uses);
    target.strip_prefix("./").unwrap_or(target) == wf.path
}

/// A YAML single-quoted scalar.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Variables to add to one job's mapping, under `key` (`env:` or `variables:`).
pub struct Insertion<'a> {
    pub job: &'a str,
    /// The job key's line (1-based).
    pub job_line: usize,
    pub key: &'static str,
    /// The line of the job's own `key:`, if it has one.
    pub key_line: Option<usize>,
    pub vars: &'a [(String, String)],
}

/// The workflow's text with each granted job's variables added to its `env:`.
pub fn inject(wf: &Workflow, text: &str, grants: &[Grant]) -> Result<String, BadInput> {
    let insertions: Vec<Insertion> = wf
        .jobs
        .iter()
        .filter_map(|job| {
            let grant = grants
                .iter()
                .find(|g| g.workflow == wf.path && g.job == job.id)?;
            let vars = grant.vars.as_ref().ok()?;
            Some(Insertion {
                job: &job.id,
                job_line: job.line,
                key: "env",
                key_line: job.env_line,
                vars,
            })
        })
        .collect();
    add(&wf.path, text, insertions)
}

/// `text` (the file `path`) with the variables of each insertion added to its job.
pub fn add(path: &str, text: &str, mut insertions: Vec<Insertion<'_>>) -> Result<String, BadInput> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Bottom up, so the lines of the jobs above stay where the parse found them.
    insertions.sort_by_key(|i| std::cmp::Reverse(i.job_line));
    for ins in insertions {
        let (after, indent, open) = placement(path, &lines, &ins)?;
        let mut block = Vec::new();
        if open {
            block.push(format!("{}{}:", " ".repeat(indent - 2), ins.key));
        }
        for (k, v) in ins.vars {
            block.push(format!("{}{k}: {}", " ".repeat(indent), quoted(v)));
        }
        lines.splice(after..after, block);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// Where the variables go: the index of the line to insert before, their indentation,
/// and whether the key must be opened first.
fn placement(
    path: &str,
    lines: &[String],
    ins: &Insertion<'_>,
) -> Result<(usize, usize, bool), BadInput> {
    let key_line = lines.get(ins.job_line.saturating_sub(1)).ok_or_else(|| {
        BadInput::new(
            path,
            ins.job_line,
            "the job's line is past the end of the file",
        )
    })?;
    if !key_line.trim_end().ends_with(':') {
        return Err(BadInput::new(
            path,
            ins.job_line,
            format!(
                "job '{}' is written in flow style; its variables can only be added to a block mapping",
                ins.job
            ),
        ));
    }
    // The job's own keys are indented like its first non-blank, non-comment line.
    let child = lines[ins.job_line..]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(indent_of(key_line) + 2, |l| indent_of(l));
    match ins.key_line {
        None => Ok((ins.job_line, child + 2, true)),
        Some(at) => {
            let own = &lines[at - 1];
            if !own.trim_end().ends_with(':') {
                return Err(BadInput::new(
                    path,
                    at,
                    format!(
                        "job '{}' has its {}: in flow style; variables can only be added to a block mapping",
                        ins.job, ins.key
                    ),
                ));
            }
            let vars = lines[at..]
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map_or(child + 2, |l| indent_of(l).max(child + 2));
            Ok((at, vars, false))
        }
    }
}
