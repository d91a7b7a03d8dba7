//! `mock-pypi env …`: the `export` lines that make a shell look like a CI job to every
//! client (GitHub's token-request variables, or a token in GitLab's variable), with the
//! CA bundle to trust.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{IssuerTarget, Resolved, Target};
use super::target::{mint_token, mint_token_with_audience};
use crate::issuer::github::{self, GitHubIdentity};
use crate::provider::Provider;

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub provider: EnvProvider,
}

// One value per command line: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum EnvProvider {
    /// A GitHub Actions job with `id-token: write`.
    Github(GitHubJob),
    /// A GitLab CI job with an `id_tokens:` entry for the index's audience.
    Gitlab(GitLabJob),
    /// A Google service account's ID token (delivered the way uv and `id` read GitLab's).
    Google(GoogleJob),
    /// An ActiveState Platform build (delivered the way uv and `id` read GitLab's).
    Activestate(ActiveStateJob),
    /// Preview (warehouse#20515, not on PyPI yet): a Buildkite job.
    Buildkite(BuildkiteJob),
    /// Preview (warehouse#19349, not on PyPI yet): a CircleCI job.
    Circleci(CircleCiJob),
    /// Preview (warehouse#19048, not on PyPI yet): a Semaphore job.
    Semaphore(SemaphoreJob),
}

#[derive(Args, Debug, Clone)]
pub struct BuildkiteJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    #[arg(long)]
    pub organization_slug: String,
    #[arg(long)]
    pub pipeline_slug: String,
    /// [default: main]
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long)]
    pub step_key: Option<String>,
    /// Without the immutable organization and pipeline ids (a job that does not ask
    /// for them: trust on first use then pins nothing).
    #[arg(long)]
    pub without_immutable_ids: bool,
}

#[derive(Args, Debug, Clone)]
pub struct CircleCiJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    #[arg(long)]
    pub org_id: String,
    #[arg(long)]
    pub project_id: String,
    #[arg(long)]
    pub pipeline_definition_id: String,
    /// A job re-run with SSH (its token says so; PyPI's rule refuses it).
    #[arg(long)]
    pub ssh_rerun: bool,
    /// A context the job runs with (repeatable).
    #[arg(long = "context-id")]
    pub context_ids: Vec<String>,
    #[arg(long)]
    pub vcs_ref: Option<String>,
    #[arg(long)]
    pub vcs_origin: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SemaphoreJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// The organisation (its issuer is its own).
    #[arg(long)]
    pub organization: String,
    #[arg(long)]
    pub organization_id: Option<String>,
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub project_id: Option<String>,
    /// OWNER/REPO the project builds.
    #[arg(long)]
    pub repo_slug: String,
    #[arg(long)]
    pub branch: Option<String>,
}

impl BuildkiteJob {
    pub(super) fn identity(&self) -> Value {
        json!({"organization_slug": self.organization_slug, "pipeline_slug": self.pipeline_slug,
               "branch": self.branch, "tag": self.tag, "step_key": self.step_key,
               "immutable_ids": !self.without_immutable_ids})
    }
}

impl CircleCiJob {
    pub(super) fn identity(&self) -> Value {
        json!({"org_id": self.org_id, "project_id": self.project_id,
               "pipeline_definition_id": self.pipeline_definition_id, "ssh_rerun": self.ssh_rerun,
               "context_ids": self.context_ids, "vcs_ref": self.vcs_ref, "vcs_origin": self.vcs_origin})
    }
}

impl SemaphoreJob {
    pub(super) fn identity(&self) -> Value {
        json!({"organization": self.organization, "organization_id": self.organization_id,
               "project": self.project, "project_id": self.project_id, "repo_slug": self.repo_slug,
               "branch": self.branch})
    }
}

#[derive(Args, Debug, Clone)]
pub struct GitHubJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// OWNER/REPO the job runs in.
    #[arg(long)]
    pub repository: String,
    /// Workflow file name under .github/workflows/.
    #[arg(long, default_value = crate::provider::DEFAULT_WORKFLOW)]
    pub workflow: String,
    /// Deployment environment of the job, if any.
    #[arg(long)]
    pub environment: Option<String>,
    /// Git ref, e.g. refs/tags/v1.0 [default: refs/heads/main].
    #[arg(long = "ref")]
    pub git_ref: Option<String>,
    #[arg(long)]
    pub sha: Option<String>,
    /// Triggering event [default: push].
    #[arg(long)]
    pub event_name: Option<String>,
    /// Numeric owner id [default: derived from the owner name, as publishers do].
    #[arg(long)]
    pub repository_owner_id: Option<String>,
    /// Simulate a reusable workflow: the called workflow, OWNER/REPO/.github/workflows/FILE@REF
    /// (`workflow_ref` stays the caller, --workflow in --repository).
    #[arg(long)]
    pub job_workflow_ref: Option<String>,
    /// The job has no `permissions: id-token: write` (or is a pull request from a fork):
    /// no token request URL or token in its environment.
    #[arg(long)]
    pub without_id_token: bool,
    /// `immutable` for GitHub's 2026 subject, repo:OWNER@OWNER_ID/REPO@REPO_ID:… [default: classic].
    #[arg(long, value_parser = ["classic", "immutable"])]
    pub sub_format: Option<String>,
    /// A customised subject (the repository's `include_claim_keys`, `use_default: false`):
    /// comma-separated claims, `repo` and `context` for GitHub's segments,
    /// e.g. repo,context,job_workflow_ref.
    #[arg(long, value_parser = parse_sub_claim_keys)]
    pub sub_claim_keys: Option<String>,
    /// When the repository was created or renamed (YYYY-MM-DD): from 2026-07-15 its
    /// default `sub` is the immutable one.
    #[arg(long)]
    pub repository_created: Option<String>,
    /// The job's check run id [default: derived from the run].
    #[arg(long)]
    pub check_run_id: Option<String>,
    /// The repository's enterprise (slug): adds the `enterprise` and `enterprise_id` claims.
    #[arg(long)]
    pub enterprise: Option<String>,
    #[arg(long, requires = "enterprise")]
    pub enterprise_id: Option<String>,
    /// Sign as another GitHub issuer, which PyPI does not trust: `enterprise`
    /// (…githubusercontent.com/SLUG, needs --enterprise) or `ghe.com:SUBDOMAIN`.
    #[arg(long)]
    pub issuer_form: Option<String>,
}

fn parse_sub_claim_keys(keys: &str) -> Result<String, String> {
    github::check_sub_claim_keys(keys).map(|k| k.join(","))
}

impl GitHubJob {
    pub(super) fn identity(&self) -> GitHubIdentity {
        GitHubIdentity {
            repository: self.repository.clone(),
            workflow: Some(self.workflow.clone()),
            git_ref: self.git_ref.clone(),
            sha: self.sha.clone(),
            environment: self.environment.clone(),
            event_name: self.event_name.clone(),
            repository_owner_id: self.repository_owner_id.clone(),
            job_workflow_ref: self.job_workflow_ref.clone(),
            sub_format: self.sub_format.clone(),
            sub_claim_keys: self.sub_claim_keys.clone(),
            repository_created: self.repository_created.clone(),
            check_run_id: self.check_run_id.clone(),
            enterprise: self.enterprise.clone(),
            enterprise_id: self.enterprise_id.clone(),
            issuer_form: self.issuer_form.clone(),
            ..Default::default()
        }
    }

    /// The token-request URL a runner would be given (identity and bad token in the query).
    fn request_url(&self, issuer: &str) -> String {
        let mut url = github::request_url(issuer, &self.identity());
        if let Some(bad) = &self.issuer.bad_token {
            url += "&bad_token=";
            url.extend(url::form_urlencoded::byte_serialize(bad.as_bytes()));
        }
        url
    }
}

#[derive(Args, Debug, Clone)]
pub struct GitLabJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// NAMESPACE/PROJECT the pipeline runs in (subgroups allowed).
    #[arg(long)]
    pub project: String,
    /// Path of the CI file in the repository.
    #[arg(long, default_value = crate::provider::DEFAULT_CI_FILE)]
    pub ci_file: String,
    /// Deployment environment of the job, if any.
    #[arg(long)]
    pub environment: Option<String>,
    /// e.g. refs/tags/v1.0 [default: refs/heads/main].
    #[arg(long)]
    pub ref_path: Option<String>,
    #[arg(long)]
    pub sha: Option<String>,
    /// A merge-request pipeline from this fork (NAMESPACE/PROJECT) run in --project:
    /// `project_*` name the fork, `job_project_*` --project (GitLab 18.2.2).
    #[arg(long = "fork-mr", value_name = "FORK_PATH")]
    pub fork_mr: Option<String>,
    /// The project's ci_id_token_sub_claim_components, e.g. project_path,ref
    /// [default: project_path,ref_type,ref].
    #[arg(long)]
    pub sub_components: Option<String>,
    /// The job's timeout in seconds: the token lives that long [default: 300].
    #[arg(long)]
    pub job_timeout: Option<i64>,
}

#[derive(Args, Debug, Clone)]
pub struct GoogleJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    /// The service account's e-mail address.
    #[arg(long)]
    pub email: String,
    /// Subject [default: derived from the e-mail address].
    #[arg(long)]
    pub sub: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ActiveStateJob {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub issuer: IssuerTarget,
    #[arg(long)]
    pub organization: String,
    /// The ActiveState project.
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub actor: Option<String>,
    #[arg(long)]
    pub actor_id: Option<String>,
}

/// The proxy variables for `--impersonate` (requests and uv read the upper- and
/// lower-case forms); loopback stays direct.
fn proxy_vars(target: &IssuerTarget, r: &Resolved) -> anyhow::Result<Vec<(&'static str, String)>> {
    if !target.impersonate {
        return Ok(Vec::new());
    }
    let proxy = r
        .http_url
        .clone()
        .context("--impersonate needs the server's URL from server.json (pass --data-dir)")?;
    let direct = "127.0.0.1,localhost,::1".to_owned();
    Ok(vec![
        ("HTTPS_PROXY", proxy.clone()),
        ("https_proxy", proxy),
        ("NO_PROXY", direct.clone()),
        ("no_proxy", direct),
    ])
}

/// Quote for POSIX shells.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn exports(
    header: &str,
    unset: &str,
    vars: &[(&str, String)],
    ca_file: Option<&PathBuf>,
) -> String {
    let mut out = format!("# {header}\n");
    // Other CI detectors run before this one in some clients: make sure none fires.
    out += &format!("unset {unset}\n");
    for (k, v) in vars {
        out += &format!("export {k}={}\n", sh_quote(v));
    }
    if let Some(ca) = ca_file {
        let ca = sh_quote(&ca.display().to_string());
        out += &format!("export SSL_CERT_FILE={ca}\nexport REQUESTS_CA_BUNDLE={ca}\n");
    }
    out
}

/// The `export` lines for a GitHub job, as text.
pub fn github_env(job: &GitHubJob) -> anyhow::Result<String> {
    anyhow::ensure!(
        job.repository.contains('/'),
        "--repository must be OWNER/REPO"
    );
    let identity = job.identity();
    identity.check().map_err(anyhow::Error::msg)?;
    let r = job.issuer.resolve(&job.target)?;
    let git_ref = identity
        .git_ref
        .clone()
        .unwrap_or_else(|| crate::provider::DEFAULT_REF.into());
    let sha = identity
        .sha
        .clone()
        .unwrap_or_else(|| crate::provider::derived_sha(&identity.repository, &git_ref));
    let mut vars = vec![
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", job.request_url(&r.issuer)),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", r.request_token.clone()),
        ("GITHUB_REPOSITORY", identity.repository.clone()),
        ("GITHUB_REPOSITORY_OWNER", identity.owner().to_owned()),
        (
            "GITHUB_WORKFLOW_REF",
            format!(
                "{}/.github/workflows/{}@{git_ref}",
                identity.repository, job.workflow
            ),
        ),
        ("GITHUB_REF", git_ref),
        ("GITHUB_SHA", sha),
        (
            "GITHUB_EVENT_NAME",
            identity.event_name.clone().unwrap_or_else(|| "push".into()),
        ),
    ];
    vars.push(sigstore_var(&r));
    vars.extend(proxy_vars(&job.issuer, &r)?);
    if job.without_id_token {
        vars.retain(|(k, _)| !k.starts_with("ACTIONS_ID_TOKEN_REQUEST_"));
    }
    let unset = if job.without_id_token {
        "GITLAB_CI BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN"
    } else {
        "GITLAB_CI BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME"
    };
    Ok(exports(
        "A GitHub Actions job, as mock-pypi's fake issuer sees it.",
        unset,
        &vars,
        r.ca_file.as_ref(),
    ))
}

/// Where `mock-pypi attest` finds the fake Sigstore: beside the fake issuer.
fn sigstore_var(r: &Resolved) -> (&'static str, String) {
    (
        "MOCK_PYPI_SIGSTORE_URL",
        format!("{}/sigstore", r.issuer.trim_end_matches('/')),
    )
}

/// A provider whose token reaches clients through GitLab's variable.
struct VariableJob<'a> {
    target: &'a Target,
    issuer: &'a IssuerTarget,
    provider: Provider,
    identity: Value,
    header: &'a str,
    extra: Vec<(&'a str, String)>,
    /// The provider's own variables that carry the token too.
    native: &'a [&'a str],
}

async fn variable_env(job: VariableJob<'_>) -> anyhow::Result<String> {
    let r = job.issuer.resolve(job.target)?;
    let token = mint_token(
        &r,
        job.provider,
        job.identity.clone(),
        job.issuer.bad_token.as_ref(),
    )
    .await?;
    let mut vars = vec![("GITLAB_CI", "true".to_owned())];
    vars.extend(job.extra);
    let variable = crate::issuer::gitlab::token_variable(&r.audience);
    for name in job.native {
        vars.push((name, token.clone()));
    }
    vars.push((variable.as_str(), token));
    // Sigstore signing (`mock-pypi attest`) reads its own token, as a GitLab job's
    // `id_tokens: SIGSTORE_ID_TOKEN: {aud: sigstore}` provides it.
    if matches!(job.provider, Provider::GitLab | Provider::Google) {
        let sigstore = mint_token_with_audience(
            &r,
            job.provider,
            job.identity.clone(),
            None,
            crate::issuer::sigstore::http::AUDIENCE,
        )
        .await?;
        vars.push(("SIGSTORE_ID_TOKEN", sigstore));
        vars.push(sigstore_var(&r));
    }
    vars.extend(proxy_vars(job.issuer, &r)?);
    Ok(exports(
        job.header,
        "GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME",
        &vars,
        r.ca_file.as_ref(),
    ))
}

impl GitLabJob {
    pub(super) fn identity(&self) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.project.contains('/'),
            "--project must be NAMESPACE/PROJECT"
        );
        let identity = json!({
            "project_path": self.project, "ci_file": self.ci_file, "environment": self.environment,
            "ref_path": self.ref_path, "sha": self.sha, "fork_project_path": self.fork_mr,
            "sub_components": self.sub_components, "job_timeout": self.job_timeout,
        });
        let parsed: crate::issuer::gitlab::GitLabIdentity =
            serde_json::from_value(identity.clone())?;
        parsed.check().map_err(anyhow::Error::msg)?;
        Ok(identity)
    }
}

impl GoogleJob {
    pub(super) fn identity(&self) -> Value {
        json!({"email": self.email, "sub": self.sub})
    }
}

impl ActiveStateJob {
    pub(super) fn identity(&self) -> Value {
        json!({"organization": self.organization, "project": self.project, "actor": self.actor, "actor_id": self.actor_id})
    }
}

pub async fn env(args: EnvArgs) -> anyhow::Result<()> {
    let text = match &args.provider {
        EnvProvider::Github(job) => github_env(job)?,
        other => variable_env(variable_job(other)?).await?,
    };
    print!("{text}");
    Ok(())
}

/// Every provider but GitHub hands its token over through variables: which, and the
/// header that says what the job is. Long because it is a table: one entry per provider.
fn variable_job(provider: &EnvProvider) -> anyhow::Result<VariableJob<'_>> {
    let job = |target, issuer, provider, identity, header| VariableJob {
        target,
        issuer,
        provider,
        identity,
        header,
        extra: Vec::new(),
        native: &[],
    };
    Ok(match provider {
        EnvProvider::Github(_) => {
            anyhow::bail!("GitHub's token comes from its token-request variables")
        }
        EnvProvider::Gitlab(j) => {
            let ref_path = j
                .ref_path
                .clone()
                .unwrap_or_else(|| crate::provider::DEFAULT_REF_PATH.into());
            VariableJob {
                extra: vec![
                    ("CI_PROJECT_PATH", j.project.clone()),
                    ("CI_CONFIG_PATH", j.ci_file.clone()),
                    (
                        "CI_COMMIT_REF_NAME",
                        ref_path.rsplit('/').next().unwrap_or(&ref_path).to_owned(),
                    ),
                ],
                ..job(
                    &j.target,
                    &j.issuer,
                    Provider::GitLab,
                    j.identity()?,
                    "A GitLab CI job whose id_tokens entry matches the index's audience (the token lives for the job's timeout: 5 minutes unless --job-timeout).",
                )
            }
        }
        EnvProvider::Google(j) => job(
            &j.target,
            &j.issuer,
            Provider::Google,
            j.identity(),
            "A Google ID token, handed over through GitLab's variable: uv and id read any token from there (the token lives 5 minutes).",
        ),
        EnvProvider::Activestate(j) => job(
            &j.target,
            &j.issuer,
            Provider::ActiveState,
            j.identity(),
            "An ActiveState token, handed over through GitLab's variable: uv and id read any token from there (the token lives 5 minutes).",
        ),
        EnvProvider::Buildkite(j) => VariableJob {
            extra: vec![("BUILDKITE", "true".into())],
            ..job(
                &j.target,
                &j.issuer,
                Provider::Buildkite,
                j.identity(),
                "Preview (warehouse#20515, not on PyPI yet): a Buildkite job's token, handed over through GitLab's variable, which uv and id read.",
            )
        },
        EnvProvider::Circleci(j) => VariableJob {
            native: &["CIRCLE_OIDC_TOKEN_V2"],
            ..job(
                &j.target,
                &j.issuer,
                Provider::CircleCi,
                j.identity(),
                "Preview (warehouse#19349, not on PyPI yet): a CircleCI job's token, in CIRCLE_OIDC_TOKEN_V2 and GitLab's variable, which uv and id read.",
            )
        },
        EnvProvider::Semaphore(j) => VariableJob {
            native: &["SEMAPHORE_OIDC_TOKEN"],
            ..job(
                &j.target,
                &j.issuer,
                Provider::Semaphore,
                j.identity(),
                "Preview (warehouse#19048, not on PyPI yet): a Semaphore job's token, from its organisation's issuer, in SEMAPHORE_OIDC_TOKEN and GitLab's variable, which uv and id read.",
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::target::IssuerTarget;

    #[test]
    fn env_lines_are_quoted_and_complete() {
        let job = GitHubJob {
            target: Target {
                data_dir: PathBuf::from("/nonexistent"),
            },
            issuer: IssuerTarget {
                issuer_url: Some("http://127.0.0.1:1/issuer".into()),
                request_token: Some("secret".into()),
                ca_file: Some(PathBuf::from("/ca.pem")),
                ..Default::default()
            },
            repository: "octo/demo".into(),
            workflow: "release.yml".into(),
            environment: Some("it's".into()),
            git_ref: None,
            sha: None,
            event_name: None,
            repository_owner_id: None,
            job_workflow_ref: None,
            sub_format: None,
            sub_claim_keys: None,
            repository_created: None,
            check_run_id: None,
            enterprise: None,
            enterprise_id: None,
            issuer_form: None,
            without_id_token: false,
        };
        let text = github_env(&job).unwrap();
        assert!(text.contains("export GITHUB_ACTIONS='true'\n"));
        assert!(text.contains("export ACTIONS_ID_TOKEN_REQUEST_URL='http://127.0.0.1:1/issuer/github/token?api-version=2.0&repository=octo%2Fdemo&workflow=release.yml&environment=it%27s'\n"), "{text}");
        assert!(text.contains("export SSL_CERT_FILE='/ca.pem'\n"));
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
