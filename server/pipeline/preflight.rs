//! Will this publish work on PyPI? For every publishing job and every event that can
//! run it: the token GitHub would give it, matched against the publishers through the
//! index's own matching (`oidc::matching`), so the verdict is the one the exchange would
//! give; and the pitfalls that need no publisher to see, each with its file and line.
//! Pure: the caller reads the files, the repository's facts and the publishers.

use serde::Serialize;
use serde_json::{Map, Value};

use super::github::{self, Event, NoToken, Repo, Running};
use super::publish::{self, Index, Publish};
use super::workflow::{Environment, Job, Workflow};
use crate::error::MintCode;
use crate::oidc::github::GitHubConfig;
use crate::oidc::matching::{MatchOutcome, match_publishers};
use crate::oidc::publisher::{Publisher, PublisherConfig};
use crate::provider::Provider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// A pitfall, where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accepted,
    Refused,
    NoToken,
    /// The token cannot be known here (an expression GitHub evaluates).
    Unknown,
}

/// One publishing job under one event.
#[derive(Clone, Debug, Serialize)]
pub struct JobVerdict {
    pub workflow: String,
    pub job: String,
    pub event: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub index: String,
    pub verdict: Verdict,
    /// PyPI's error code for a refusal.
    pub code: Option<MintCode>,
    /// The publisher that accepts it.
    pub publisher: Option<i64>,
    pub claims: Map<String, Value>,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub jobs: Vec<JobVerdict>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// 0 when every publishing job would be accepted, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let all_ok = self.jobs.iter().all(|j| j.verdict == Verdict::Accepted)
            && !self.findings.iter().any(|f| f.severity == Severity::Error);
        if all_ok { 0 } else { 1 }
    }
}

/// What to check: the repository, its workflows, the events (all the workflow declares
/// when none is given), the publishers as PyPI has them.
pub struct Inputs<'a> {
    pub repo: &'a Repo,
    pub workflows: &'a [Workflow],
    pub event: Option<Event>,
    pub publishers: &'a [Publisher],
    /// TestPyPI's publishers (its own, as on the real pair): jobs that publish there are
    /// matched against these.
    pub testpypi_publishers: &'a [Publisher],
    /// The `iss` PyPI knows GitHub by.
    pub issuer: &'a str,
    pub now: i64,
}

/// A job that publishes, in the workflow that runs it (and its caller, when called).
struct Publishing<'a> {
    running: Running<'a>,
    steps: Vec<Publish>,
}

pub fn check(inputs: &Inputs<'_>) -> Report {
    let mut report = Report::default();
    for wf in inputs.workflows {
        workflow_findings(wf, &mut report.findings);
    }
    for publishing in publishing_jobs(inputs) {
        job_findings(&publishing, inputs, &mut report.findings);
        let entry = publishing
            .running
            .caller
            .map_or(publishing.running.workflow, |(w, _)| w);
        for event in events(entry, inputs.event.as_ref()) {
            for step in &publishing.steps {
                report.jobs.push(verdict(inputs, &publishing, step, &event));
            }
        }
    }
    report
        .findings
        .sort_by(|a, b| (&a.file, a.line, a.rule).cmp(&(&b.file, b.line, b.rule)));
    report
}

/// Every job with a publishing step: plain ones, and those of called workflows with the
/// job that calls them (a called workflow that nothing given here calls is judged as if
/// triggered itself).
fn publishing_jobs<'a>(inputs: &Inputs<'a>) -> Vec<Publishing<'a>> {
    let mut out = Vec::new();
    for wf in inputs.workflows {
        let callers: Vec<(&Workflow, &Job)> = inputs
            .workflows
            .iter()
            .flat_map(|c| c.jobs.iter().map(move |j| (c, j)))
            .filter(|(_, j)| j.uses.as_ref().is_some_and(|(u, _)| calls(u, wf)))
            .collect();
        for job in &wf.jobs {
            let steps = publish::steps(&job.steps);
            if steps.is_empty() {
                continue;
            }
            if callers.is_empty() {
                out.push(Publishing {
                    running: Running {
                        workflow: wf,
                        job,
                        caller: None,
                    },
                    steps: steps.clone(),
                });
            }
            for caller in &callers {
                out.push(Publishing {
                    running: Running {
                        workflow: wf,
                        job,
                        caller: Some(*caller),
                    },
                    steps: steps.clone(),
                });
            }
        }
    }
    out
}

/// Whether a job-level `uses:` calls this workflow file.
fn calls(uses: &str, wf: &Workflow) -> bool {
    let target = uses.split('@').next().unwrap_or(uses);
    let target = target.strip_prefix("./").unwrap_or(target);
    target == wf.path
        || target.ends_with(&format!("/{}", wf.path))
        || target.ends_with(&format!(".github/workflows/{}", wf.file))
}

/// The events to judge: the one given, or every one the workflow declares that can run a
/// job (`workflow_call` is judged through its caller).
fn events(wf: &Workflow, given: Option<&Event>) -> Vec<Event> {
    if let Some(e) = given {
        return vec![e.clone()];
    }
    let mut out: Vec<Event> = wf
        .triggers
        .iter()
        .filter(|t| t.event != "workflow_call")
        .map(|t| Event {
            name: t.event.clone(),
            git_ref: github::default_ref(&t.event, &t.tags, &t.branches),
            fork: false,
        })
        .collect();
    // A pull request can come from a fork: say what that job would get.
    if let Some(pr) = out.iter().find(|e| e.name == "pull_request").cloned() {
        out.push(Event { fork: true, ..pr });
    }
    if out.is_empty() {
        out.push(Event {
            name: "workflow_dispatch".into(),
            git_ref: "refs/heads/main".into(),
            fork: false,
        });
    }
    out
}

fn verdict(inputs: &Inputs<'_>, p: &Publishing<'_>, step: &Publish, event: &Event) -> JobVerdict {
    let running = &p.running;
    let entry = running.caller.map_or(running.workflow, |(w, _)| w);
    let mut v = JobVerdict {
        workflow: entry.path.clone(),
        job: match running.caller {
            Some((_, caller)) => format!(
                "{} → {}:{}",
                caller.id, running.workflow.file, running.job.id
            ),
            None => running.job.id.clone(),
        },
        event: if event.fork {
            format!("{} (from a fork)", event.name)
        } else {
            event.name.clone()
        },
        git_ref: event.git_ref.clone(),
        index: step.index.name(),
        verdict: Verdict::Refused,
        code: None,
        publisher: None,
        claims: Map::new(),
        reasons: Vec::new(),
    };
    if !step.tool.trusts() || step.credential.is_some() || step.trusted_off {
        v.reasons.push(format!(
            "{} at line {} does not publish by trusted publishing{}",
            step.tool.name(),
            step.line,
            step.credential
                .as_ref()
                .map_or(String::new(), |c| format!(" ({c})"))
        ));
        return v;
    }
    if let Err(why) = github::token_for(running, event) {
        v.verdict = Verdict::NoToken;
        v.reasons.push(match &why {
            NoToken::NoIdTokenWrite { file, line } | NoToken::CallerDoesNotGrant { file, line } => {
                format!("{} ({file}:{line})", why.describe())
            }
            NoToken::ForkPullRequest => why.describe(),
        });
        return v;
    }
    let (identity, unknown) = github::identity(inputs.repo, running, event);
    v.claims = github::claims(&identity, inputs.issuer, step.index.audience(), inputs.now);
    if !unknown.is_empty() {
        v.verdict = Verdict::Unknown;
        v.reasons = unknown;
        return v;
    }
    match_against_publishers(inputs, step, v)
}

/// The verdict for a job whose claims are all known: the publishers of the job's index,
/// through the index's own matching.
fn match_against_publishers(inputs: &Inputs<'_>, step: &Publish, mut v: JobVerdict) -> JobVerdict {
    // Each index has its own publishers: a TestPyPI job is matched against TestPyPI's.
    let (pool, on) = match step.index {
        Index::Testpypi => (inputs.testpypi_publishers, "on TestPyPI: "),
        _ => (inputs.publishers, ""),
    };
    if step.index == Index::Testpypi && pool.is_empty() {
        v.code = Some(MintCode::InvalidPublisher);
        v.reasons.push(format!(
            "on TestPyPI: no publisher at all. Publishers are per index: the {} given are PyPI's; register one on TestPyPI too (without it, teams fall back to tokens)",
            inputs.publishers.len()
        ));
        return v;
    }
    let publishers = pool.iter().filter(|p| !p.pending);
    match match_publishers(Provider::GitHub, publishers, &v.claims, inputs.issuer) {
        MatchOutcome::Matched { publisher, .. } => {
            v.verdict = Verdict::Accepted;
            v.publisher = Some(publisher.id);
            v.reasons.push(format!(
                "{on}publisher {} for project '{}' ({}) matches every claim",
                publisher.id,
                publisher.project,
                publisher.config.describe()
            ));
        }
        MatchOutcome::NoMatch {
            reason,
            explanation,
            ..
        } => {
            v.code = Some(MintCode::InvalidPublisher);
            v.reasons.push(format!(
                "{on}valid token, but no corresponding publisher ({reason}). {explanation}"
            ));
        }
    }
    v
}

/// Pitfalls of a workflow as a whole.
fn workflow_findings(wf: &Workflow, out: &mut Vec<Finding>) {
    for job in &wf.jobs {
        if let (Some((_, uses_line)), Some((_, env_line))) = (&job.uses, &job.environment) {
            out.push(Finding {
                rule: "environment-on-caller",
                severity: Severity::Error,
                message: format!(
                    "job '{}' calls a reusable workflow and names an environment: GitHub refuses the workflow (set `environment:` on the called workflow's publishing job)",
                    job.id
                ),
                file: wf.path.clone(),
                line: (*env_line).max(*uses_line),
            });
        }
    }
}

/// Pitfalls of one publishing job.
fn job_findings(p: &Publishing<'_>, inputs: &Inputs<'_>, out: &mut Vec<Finding>) {
    let wf = p.running.workflow;
    let job = p.running.job;
    let entry = p.running.caller.map_or(wf, |(w, _)| w);
    let mut add = |rule, severity, message: String, file: &str, line| {
        let f = Finding {
            rule,
            severity,
            message,
            file: file.to_owned(),
            line,
        };
        if !out.contains(&f) {
            out.push(f);
        }
    };
    step_findings(p, &mut add);
    if job.permissions.is_none() && wf.permissions.is_none() && p.running.caller.is_none() {
        add(
            "no-id-token",
            Severity::Error,
            format!(
                "job '{}' publishes, but neither it nor the workflow grants `permissions: id-token: write`",
                job.id
            ),
            &wf.path,
            job.line,
        );
    }
    for t in &entry.triggers {
        match t.event.as_str() {
            "pull_request_target" => add("pull-request-target", Severity::Error, "pull_request_target can run this publishing job, with the base repository's token, on code from a fork; PyPI refuses tokens from it".into(), &entry.path, t.line),
            "pull_request" => add("fork-pull-request", Severity::Warning, "pull_request can run this publishing job: from a fork it gets no OIDC token, and publishing from pull requests is rarely meant (restrict the job to tags or releases)".into(), &entry.path, t.line),
            _ => {}
        }
    }
    if let Some((caller_wf, caller)) = p.running.caller {
        add(
            "reusable-workflow",
            Severity::Note,
            format!(
                "job '{}' publishes inside the reusable workflow {}: PyPI matches the called file ('{}'), not the caller ('{}'), so register {}",
                job.id, wf.path, wf.file, caller_wf.file, wf.file
            ),
            &caller_wf.path,
            caller.line,
        );
    }
    publisher_findings(p, inputs, &mut add);
    cache_findings(wf, job, &mut add);
    if let Some((Environment::Expression(e), line)) = &job.environment {
        add(
            "environment-expression",
            Severity::Note,
            format!("environment is the expression {e}; the verdict for it is unknown"),
            &wf.path,
            *line,
        );
    }
}

type Add<'a> = dyn FnMut(&'static str, Severity, String, &str, usize) + 'a;

/// What the publishing steps themselves give away: a tool that cannot trust-publish, a
/// credential, two indexes in one job.
fn step_findings(p: &Publishing<'_>, add: &mut Add<'_>) {
    let (wf, job) = (p.running.workflow, p.running.job);
    for step in &p.steps {
        if !step.tool.trusts() {
            add(
                "no-trusted-publishing",
                Severity::Error,
                format!(
                    "{} cannot publish by trusted publishing; use uv publish, twine upload, pdm publish or pypa/gh-action-pypi-publish",
                    step.tool.name()
                ),
                &wf.path,
                step.line,
            );
        }
        if let Some(c) = &step.credential {
            add(
                "credential-disables-trusted-publishing",
                Severity::Warning,
                format!(
                    "{} is given {c}: it publishes with that token, not by trusted publishing",
                    step.tool.name()
                ),
                &wf.path,
                step.line,
            );
        }
    }
    let indexes: Vec<&Index> = p.steps.iter().map(|s| &s.index).collect();
    if indexes.contains(&&Index::Pypi) && indexes.contains(&&Index::Testpypi) {
        add(
            "two-indexes-one-job",
            Severity::Warning,
            format!(
                "job '{}' publishes to TestPyPI and PyPI: the indexes have separate publishers and audiences, and the action's attestation files of the first upload collide with the second (publish from two jobs)",
                job.id
            ),
            &wf.path,
            job.line,
        );
    }
}

/// A release job that restores a cache another branch could have written.
fn cache_findings(wf: &Workflow, job: &Job, add: &mut Add<'_>) {
    for step in &job.steps {
        let uses = step.uses.as_deref().unwrap_or("");
        let cached = uses.starts_with("actions/cache")
            || (uses.starts_with("astral-sh/setup-uv")
                && step
                    .input("enable-cache")
                    .is_none_or(|(_, v, _)| v != "false"))
            || (uses.starts_with("actions/setup-python") && step.input("cache").is_some());
        if cached {
            add(
                "cache-in-release",
                Severity::Warning,
                format!(
                    "job '{}' restores a cache ({uses}) before publishing: a poisoned cache from another branch could change what is published (zizmor's cache-poisoning)",
                    job.id
                ),
                &wf.path,
                step.line,
            );
        }
    }
}

/// Pitfalls between the job and the publishers meant for it (those naming this
/// repository).
fn publisher_findings(p: &Publishing<'_>, inputs: &Inputs<'_>, add: &mut Add<'_>) {
    let running = &p.running;
    let wf = running.workflow;
    let job = running.job;
    let entry = running.caller.map_or(wf, |(w, _)| w);
    let repo = inputs.repo.full_name().to_ascii_lowercase();
    let mine: Vec<(&Publisher, &GitHubConfig)> = inputs
        .publishers
        .iter()
        .filter_map(|pb| match &pb.config {
            PublisherConfig::GitHub(c)
                if format!("{}/{}", c.repository_owner, c.repository_name).to_ascii_lowercase()
                    == repo =>
            {
                Some((pb, c))
            }
            _ => None,
        })
        .collect();
    let job_env = match &job.environment {
        Some((Environment::Name(n), _)) => Some(n.as_str()),
        _ => None,
    };
    for (pb, config) in &mine {
        let described = pb.config.describe();
        let wants_env = !config.environment.is_empty();
        if wants_env && job.environment.is_none() {
            add(
                "environment-missing",
                Severity::Error,
                format!(
                    "publisher {} ({described}) names an environment, and job '{}' runs in none: PyPI refuses its token",
                    pb.id, job.id
                ),
                &wf.path,
                job.line,
            );
        }
        if !wants_env && job_env.is_some() {
            add(
                "publisher-without-environment",
                Severity::Note,
                format!(
                    "job '{}' runs in an environment, and publisher {} ({described}) accepts any: PyPI allows it, but naming the environment in the publisher keeps other jobs of the workflow from publishing",
                    job.id, pb.id
                ),
                &wf.path,
                job.line,
            );
        }
        let tagged = entry
            .triggers
            .iter()
            .find(|t| !t.tags.is_empty() || t.event == "release");
        if let Some(t) = tagged
            && config.workflow_filename != wf.file
        {
            add(
                "publisher-names-another-file",
                Severity::Error,
                format!(
                    "this workflow runs on {} but publisher {} ({described}) names another workflow file than '{}'",
                    t.event, pb.id, wf.file
                ),
                &entry.path,
                t.line,
            );
        }
    }
}
