//! The token GitHub would give a job: whether it gets one at all (`id-token: write` from
//! the job or the workflow, a called workflow's job only as far as its caller grants,
//! never for a pull request from a fork), and the identity its claims are built from —
//! the fake issuer's own `GitHubIdentity`, so a token minted for the job carries exactly
//! the claims derived here.

use serde::Serialize;
use serde_json::{Map, Value};

use super::workflow::{Environment, IdToken, Job, Permissions, Workflow};
use crate::issuer::github::GitHubIdentity;

/// The repository the workflows run in.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    /// Numeric ids; derived as publishers derive them when not given.
    pub owner_id: Option<String>,
    pub repo_id: Option<String>,
    /// Created or renamed after 2026-07-15: GitHub's immutable `sub`.
    pub immutable_sub: bool,
    /// The repository's `include_claim_keys`, comma-separated.
    pub sub_claim_keys: Option<String>,
    /// The commit (from git), else derived.
    pub sha: Option<String>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// What ran the workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub name: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// A pull request from a fork.
    pub fork: bool,
}

/// Why GitHub gives a job no token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum NoToken {
    /// Neither the job nor the workflow grants `id-token: write` (line of what does).
    NoIdTokenWrite { file: String, line: usize },
    /// The caller of a reusable workflow does not grant it.
    CallerDoesNotGrant { file: String, line: usize },
    /// GitHub gives pull requests from forks no OIDC token.
    ForkPullRequest,
}

impl NoToken {
    pub fn describe(&self) -> String {
        match self {
            Self::NoIdTokenWrite { .. } => "the job has no `id-token: write` permission (neither the job nor the workflow grants it), so GitHub gives it no OIDC token".into(),
            Self::CallerDoesNotGrant { .. } => "the calling job does not grant `id-token: write`, and a called workflow's job gets no more than its caller".into(),
            Self::ForkPullRequest => "GitHub gives a pull request from a fork no OIDC token".into(),
        }
    }
}

/// The job whose steps run, and the caller job when it sits in a called workflow.
pub struct Running<'a> {
    pub workflow: &'a Workflow,
    pub job: &'a Job,
    pub caller: Option<(&'a Workflow, &'a Job)>,
}

fn grant(perms: Option<&Permissions>, fallback: Option<&Permissions>) -> Option<Permissions> {
    perms.or(fallback).copied()
}

/// Whether the job gets a token for this event.
pub fn token_for(running: &Running<'_>, event: &Event) -> Result<(), NoToken> {
    if event.fork && event.name == "pull_request" {
        return Err(NoToken::ForkPullRequest);
    }
    let own = grant(
        running.job.permissions.as_ref(),
        running.workflow.permissions.as_ref(),
    );
    match running.caller {
        None => match own {
            Some(p) if p.id_token == IdToken::Write => Ok(()),
            other => Err(NoToken::NoIdTokenWrite {
                file: running.workflow.path.clone(),
                line: other.map_or(running.job.line, |p| p.line),
            }),
        },
        Some((caller_wf, caller_job)) => {
            let caller = grant(
                caller_job.permissions.as_ref(),
                caller_wf.permissions.as_ref(),
            );
            if !matches!(caller, Some(p) if p.id_token == IdToken::Write) {
                return Err(NoToken::CallerDoesNotGrant {
                    file: caller_wf.path.clone(),
                    line: caller.map_or(caller_job.line, |p| p.line),
                });
            }
            // The called job inherits the caller's grant unless it narrows it.
            match own {
                Some(p) if p.id_token != IdToken::Write => Err(NoToken::NoIdTokenWrite {
                    file: running.workflow.path.clone(),
                    line: p.line,
                }),
                _ => Ok(()),
            }
        }
    }
}

/// The `OWNER/REPO/.github/workflows/F@REF` a `uses:` names, for a called workflow in
/// this repository (`./…`) or another (`OWNER/REPO/…@REF`).
pub fn called_ref(repo: &Repo, uses: &str, git_ref: &str) -> String {
    match uses.strip_prefix("./") {
        Some(local) => format!("{}/{local}@{git_ref}", repo.full_name()),
        None => uses.to_owned(),
    }
}

/// The identity GitHub's token for the job would carry (its environment may be an
/// expression: `unknown` then says so).
pub fn identity(
    repo: &Repo,
    running: &Running<'_>,
    event: &Event,
) -> (GitHubIdentity, Vec<String>) {
    let mut unknown = Vec::new();
    // The token describes the workflow that was triggered (the caller), and names the
    // called file in job_workflow_ref.
    let (entry, job_workflow_ref) = match running.caller {
        Some((caller_wf, caller_job)) => {
            let uses = caller_job.uses.as_ref().map_or("", |(u, _)| u.as_str());
            (caller_wf, Some(called_ref(repo, uses, &event.git_ref)))
        }
        None => (running.workflow, None),
    };
    let environment = match &running.job.environment {
        Some((Environment::Name(n), _)) => Some(n.clone()),
        Some((Environment::Expression(e), _)) => {
            unknown.push(format!(
                "environment is the expression {e}, which only GitHub can evaluate"
            ));
            None
        }
        None => None,
    };
    if running.job.matrix {
        unknown.push("the job runs a matrix: values taken from it are not known here".into());
    }
    let identity = GitHubIdentity {
        repository: repo.full_name(),
        workflow: Some(entry.file.clone()),
        git_ref: Some(event.git_ref.clone()),
        sha: repo.sha.clone(),
        environment,
        event_name: Some(event.name.clone()),
        repository_owner_id: repo.owner_id.clone(),
        repository_id: repo.repo_id.clone(),
        actor: None,
        actor_id: None,
        job_workflow_ref,
        sub_format: repo.immutable_sub.then(|| "immutable".to_owned()),
        sub_claim_keys: repo.sub_claim_keys.clone(),
        ..Default::default()
    };
    (identity, unknown)
}

/// The claims of a token for `identity`, as GitHub's issuer would sign them for PyPI.
pub fn claims(
    identity: &GitHubIdentity,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Map<String, Value> {
    identity.claims(&super::context(issuer, audience, now))
}

/// The ref an event runs on when none is given: a tag push names a tag matching its
/// first pattern, a release its tag, a branch push its first branch, a pull request its
/// merge ref; the rest (`pull_request_target` included) the default branch, `main`.
pub fn default_ref(event: &str, tags: &[String], branches: &[String]) -> String {
    let concrete = |pattern: &str| pattern.replace("**", "1").replace(['*', '?'], "1");
    match event {
        "push" if !tags.is_empty() => format!("refs/tags/{}", concrete(&tags[0])),
        "push" if !branches.is_empty() => format!("refs/heads/{}", concrete(&branches[0])),
        "release" | "create" => "refs/tags/v1.0.0".into(),
        "pull_request" => "refs/pull/1/merge".into(),
        _ => "refs/heads/main".into(),
    }
}
