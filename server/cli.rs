//! Client-side commands: `env` (make a shell look like a CI job), `publisher`
//! (manage publishers through the control API) and `token` (print an OIDC token).
//! They find a running server through `<data dir>/server.json`, or flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::issuer::github::{self, GitHubIdentity};

/// What `serve` writes to `<data dir>/server.json`.
#[derive(Deserialize, Debug, Default)]
pub struct ServerInfo {
    pub http_url: Option<String>,
    pub https_url: Option<String>,
    pub upload_url: Option<String>,
    pub issuer_url: Option<String>,
    pub request_token: Option<String>,
    pub admin_token: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Data directory of the running server (its server.json says where it is).
    #[arg(
        long,
        env = "MOCK_PYPI_DATA_DIR",
        default_value = ".mock-pypi",
        global = true
    )]
    pub data_dir: PathBuf,
}

impl Target {
    fn info(&self) -> anyhow::Result<ServerInfo> {
        let path = self.data_dir.join("server.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (is `mock-pypi serve` running with this data directory?)",
                path.display()
            )
        })?;
        Ok(serde_json::from_str(&text)?)
    }
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub provider: EnvProvider,
}

#[derive(Subcommand, Debug)]
pub enum EnvProvider {
    /// A GitHub Actions job with `id-token: write`.
    Github(GitHubJob),
}

#[derive(Args, Debug, Clone)]
pub struct GitHubJob {
    #[command(flatten)]
    pub target: Target,
    /// OWNER/REPO the job runs in.
    #[arg(long)]
    pub repository: String,
    /// Workflow file name under .github/workflows/.
    #[arg(long, default_value = github::DEFAULT_WORKFLOW)]
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
    /// Simulate a reusable workflow: OWNER/REPO/.github/workflows/FILE@REF.
    #[arg(long)]
    pub job_workflow_ref: Option<String>,
    /// Fake issuer base URL [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_URL")]
    pub issuer_url: Option<String>,
    /// The issuer's request token [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_REQUEST_TOKEN", hide_env_values = true)]
    pub request_token: Option<String>,
    /// CA certificate clients should trust [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl GitHubJob {
    fn identity(&self) -> GitHubIdentity {
        GitHubIdentity {
            repository: self.repository.clone(),
            workflow: Some(self.workflow.clone()),
            git_ref: self.git_ref.clone(),
            sha: self.sha.clone(),
            environment: self.environment.clone(),
            event_name: self.event_name.clone(),
            repository_owner_id: self.repository_owner_id.clone(),
            job_workflow_ref: self.job_workflow_ref.clone(),
            ..Default::default()
        }
    }

    fn resolved(&self) -> anyhow::Result<(String, String, Option<PathBuf>)> {
        let info = if self.issuer_url.is_some() && self.request_token.is_some() {
            ServerInfo::default()
        } else {
            self.target.info()?
        };
        let issuer = self
            .issuer_url
            .clone()
            .or(info.issuer_url)
            .context("no fake issuer URL: pass --issuer-url")?;
        let token = self
            .request_token
            .clone()
            .or(info.request_token)
            .context("no request token: pass --request-token")?;
        Ok((issuer, token, self.ca_file.clone().or(info.ca_file)))
    }
}

/// Quote for POSIX shells.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The `export` lines for a GitHub job, as text.
pub fn github_env(job: &GitHubJob) -> anyhow::Result<String> {
    anyhow::ensure!(
        job.repository.contains('/'),
        "--repository must be OWNER/REPO"
    );
    let (issuer, request_token, ca_file) = job.resolved()?;
    let identity = job.identity();
    let git_ref = identity
        .git_ref
        .clone()
        .unwrap_or_else(|| github::DEFAULT_REF.into());
    let sha = identity
        .sha
        .clone()
        .unwrap_or_else(|| github::derived_sha(&identity.repository, &git_ref));
    let mut vars = vec![
        ("GITHUB_ACTIONS", "true".to_owned()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            github::request_url(&issuer, &identity),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token),
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
    if let Some(ca) = ca_file {
        let ca = ca.display().to_string();
        vars.push(("SSL_CERT_FILE", ca.clone()));
        vars.push(("REQUESTS_CA_BUNDLE", ca));
    }
    let mut out = String::from("# A GitHub Actions job, as mock-pypi's fake issuer sees it.\n");
    // Other CI detectors run before GitHub's in some clients: make sure none fires.
    out += "unset GITLAB_CI BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME\n";
    for (k, v) in vars {
        out += &format!("export {k}={}\n", sh_quote(&v));
    }
    Ok(out)
}

pub async fn env(args: EnvArgs) -> anyhow::Result<()> {
    match args.provider {
        EnvProvider::Github(job) => print!("{}", github_env(&job)?),
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PublisherArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: PublisherAction,
}

#[derive(Args, Debug)]
pub struct ApiTarget {
    #[command(flatten)]
    pub target: Target,
    /// Index base URL [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_SERVER", global = true)]
    pub server: Option<String>,
    /// Admin token [default: from server.json].
    #[arg(
        long,
        env = "MOCK_PYPI_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PublisherAction {
    /// Register a trusted publisher.
    Add {
        #[command(subcommand)]
        provider: PublisherSpec,
    },
    /// List publishers.
    List,
    /// Remove a publisher by id.
    Remove { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum PublisherSpec {
    /// A GitHub Actions workflow.
    Github {
        #[arg(long)]
        project: String,
        /// OWNER/REPO.
        #[arg(long)]
        repository: String,
        #[arg(long, default_value = github::DEFAULT_WORKFLOW)]
        workflow: String,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        repository_owner_id: Option<String>,
    },
}

impl ApiTarget {
    fn resolve(&self) -> anyhow::Result<(String, String)> {
        let info = if self.server.is_some() && self.admin_token.is_some() {
            ServerInfo::default()
        } else {
            self.target.info()?
        };
        let server = self
            .server
            .clone()
            .or(info.http_url)
            .context("no server URL: pass --server")?;
        let token = self
            .admin_token
            .clone()
            .or(info.admin_token)
            .context("no admin token: pass --admin-token")?;
        Ok((server.trim_end_matches('/').to_owned(), token))
    }
}

async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("contacting the index")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            body.get("error")
                .and_then(Value::as_str)
                .unwrap_or("request failed")
        );
    }
    Ok(body)
}

pub async fn publisher(args: PublisherArgs) -> anyhow::Result<()> {
    let (server, token) = args.api.resolve()?;
    let http = reqwest::Client::new();
    let url = format!("{server}/_mock/api/publishers");
    let result = match args.action {
        PublisherAction::Add {
            provider:
                PublisherSpec::Github {
                    project,
                    repository,
                    workflow,
                    environment,
                    repository_owner_id,
                },
        } => {
            let body = json!({
                "provider": "github", "project": project, "repository": repository,
                "workflow_filename": workflow, "environment": environment.unwrap_or_default(),
                "repository_owner_id": repository_owner_id,
            });
            call(http.post(&url).bearer_auth(&token).json(&body)).await?
        }
        PublisherAction::List => call(http.get(&url).bearer_auth(&token)).await?,
        PublisherAction::Remove { id } => {
            call(http.delete(format!("{url}/{id}")).bearer_auth(&token)).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub provider: TokenProvider,
}

#[derive(Subcommand, Debug)]
pub enum TokenProvider {
    /// A GitHub Actions OIDC token.
    Github {
        #[command(flatten)]
        job: GitHubJob,
        #[arg(long, default_value = "pypi")]
        audience: String,
    },
}

pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let TokenProvider::Github { job, audience } = args.provider;
    let (issuer, request_token, _) = job.resolved()?;
    let url = format!(
        "{}&audience={}",
        github::request_url(&issuer, &job.identity()),
        url::form_urlencoded::byte_serialize(audience.as_bytes()).collect::<String>()
    );
    let body = call(reqwest::Client::new().get(url).bearer_auth(request_token)).await?;
    println!(
        "{}",
        body.get("value")
            .and_then(Value::as_str)
            .context("the issuer answered without a token")?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_quoted_and_complete() {
        let job = GitHubJob {
            target: Target {
                data_dir: PathBuf::from("/nonexistent"),
            },
            repository: "octo/demo".into(),
            workflow: "release.yml".into(),
            environment: Some("it's".into()),
            git_ref: None,
            sha: None,
            event_name: None,
            repository_owner_id: None,
            job_workflow_ref: None,
            issuer_url: Some("http://127.0.0.1:1/issuer".into()),
            request_token: Some("secret".into()),
            ca_file: Some(PathBuf::from("/ca.pem")),
        };
        let text = github_env(&job).unwrap();
        assert!(text.contains("export GITHUB_ACTIONS='true'\n"));
        assert!(text.contains("export ACTIONS_ID_TOKEN_REQUEST_URL='http://127.0.0.1:1/issuer/github/token?api-version=2.0&repository=octo%2Fdemo&workflow=release.yml&environment=it%27s'\n"), "{text}");
        assert!(text.contains("export SSL_CERT_FILE='/ca.pem'\n"));
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
