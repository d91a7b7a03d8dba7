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
    pub audience: Option<String>,
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
    /// A GitLab CI job with an `id_tokens:` entry for the index's audience.
    Gitlab(GitLabJob),
    /// A Google service account's ID token (delivered the way uv and `id` read GitLab's).
    Google(GoogleJob),
    /// An ActiveState Platform build (delivered the way uv and `id` read GitLab's).
    Activestate(ActiveStateJob),
}

/// Where the fake issuer is, and what kind of token to ask it for.
#[derive(Args, Debug, Clone, Default)]
pub struct IssuerTarget {
    /// Fake issuer base URL [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_URL")]
    pub issuer_url: Option<String>,
    /// The issuer's request token [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_REQUEST_TOKEN", hide_env_values = true)]
    pub request_token: Option<String>,
    /// CA certificate clients should trust [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Token audience [default: the index's, from server.json, else pypi].
    #[arg(long)]
    pub audience: Option<String>,
    /// Make the token deliberately bad: expired, not-yet-valid, issued-in-future,
    /// wrong-audience, list-audience, unpublished-key, tampered-signature, alg-none,
    /// hs256, missing:<claim>, reused-jti.
    #[arg(long)]
    pub fault: Option<String>,
    /// Also route HTTPS for the server's impersonated hosts through its CONNECT proxy
    /// (HTTPS_PROXY), so clients that only trust-publish to fixed hosts reach the mock.
    #[arg(long)]
    pub impersonate: bool,
}

/// The issuer target with every default filled in.
struct Resolved {
    issuer: String,
    request_token: String,
    ca_file: Option<PathBuf>,
    audience: String,
    /// The server's plain-HTTP URL (its CONNECT proxy), when known.
    http_url: Option<String>,
}

impl IssuerTarget {
    fn resolve(&self, target: &Target) -> anyhow::Result<Resolved> {
        let info = if self.issuer_url.is_some() && self.request_token.is_some() {
            target.info().unwrap_or_default()
        } else {
            target.info()?
        };
        Ok(Resolved {
            issuer: self
                .issuer_url
                .clone()
                .or(info.issuer_url)
                .context("no fake issuer URL: pass --issuer-url")?,
            request_token: self
                .request_token
                .clone()
                .or(info.request_token)
                .context("no request token: pass --request-token")?,
            ca_file: self.ca_file.clone().or(info.ca_file),
            audience: self
                .audience
                .clone()
                .or(info.audience)
                .unwrap_or_else(|| "pypi".into()),
            http_url: info.http_url,
        })
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
    /// Simulate a reusable workflow: OWNER/REPO/.github/workflows/FILE@REF.
    #[arg(long)]
    pub job_workflow_ref: Option<String>,
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

    /// The token-request URL a runner would be given (identity and fault in the query).
    fn request_url(&self, issuer: &str) -> String {
        let mut url = github::request_url(issuer, &self.identity());
        if let Some(fault) = &self.issuer.fault {
            url += "&fault=";
            url.extend(url::form_urlencoded::byte_serialize(fault.as_bytes()));
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
    let r = job.issuer.resolve(&job.target)?;
    let identity = job.identity();
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
    vars.extend(proxy_vars(&job.issuer, &r)?);
    Ok(exports(
        "A GitHub Actions job, as mock-pypi's fake issuer sees it.",
        "GITLAB_CI BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME",
        &vars,
        r.ca_file.as_ref(),
    ))
}

/// Ask the fake issuer for a token (`POST <issuer>/mint`).
async fn mint_token(
    r: &Resolved,
    provider: &str,
    identity: Value,
    fault: Option<&String>,
) -> anyhow::Result<String> {
    let body = json!({
        "provider": provider, "audience": r.audience, "identity": identity, "fault": fault,
    });
    let url = format!("{}/mint", r.issuer.trim_end_matches('/'));
    let answer = call(
        crate::http_client::cli()?
            .post(url)
            .bearer_auth(&r.request_token)
            .json(&body),
    )
    .await?;
    Ok(answer
        .get("token")
        .and_then(Value::as_str)
        .context("the issuer answered without a token")?
        .to_owned())
}

/// A provider whose token reaches clients through GitLab's variable.
struct VariableJob<'a> {
    target: &'a Target,
    issuer: &'a IssuerTarget,
    provider: &'a str,
    identity: Value,
    header: &'a str,
    extra: Vec<(&'a str, String)>,
}

async fn variable_env(job: VariableJob<'_>) -> anyhow::Result<String> {
    let r = job.issuer.resolve(job.target)?;
    let token = mint_token(&r, job.provider, job.identity, job.issuer.fault.as_ref()).await?;
    let mut vars = vec![("GITLAB_CI", "true".to_owned())];
    vars.extend(job.extra);
    let variable = crate::issuer::gitlab::token_variable(&r.audience);
    vars.push((variable.as_str(), token));
    vars.extend(proxy_vars(job.issuer, &r)?);
    Ok(exports(
        job.header,
        "GITHUB_ACTIONS ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN BUILDKITE CIRCLECI GOOGLE_SERVICE_ACCOUNT_NAME",
        &vars,
        r.ca_file.as_ref(),
    ))
}

impl GitLabJob {
    fn identity(&self) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.project.contains('/'),
            "--project must be NAMESPACE/PROJECT"
        );
        Ok(json!({
            "project_path": self.project, "ci_file": self.ci_file, "environment": self.environment,
            "ref_path": self.ref_path, "sha": self.sha,
        }))
    }
}

impl GoogleJob {
    fn identity(&self) -> Value {
        json!({"email": self.email, "sub": self.sub})
    }
}

impl ActiveStateJob {
    fn identity(&self) -> Value {
        json!({"organization": self.organization, "project": self.project, "actor": self.actor, "actor_id": self.actor_id})
    }
}

pub async fn env(args: EnvArgs) -> anyhow::Result<()> {
    let text = match args.provider {
        EnvProvider::Github(job) => github_env(&job)?,
        EnvProvider::Gitlab(job) => {
            let ref_path = job.ref_path.clone().unwrap_or_else(|| crate::provider::DEFAULT_REF_PATH.into());
            variable_env(VariableJob {
                target: &job.target,
                issuer: &job.issuer,
                provider: "gitlab",
                identity: job.identity()?,
                header: "A GitLab CI job whose id_tokens entry matches the index's audience (the token lives 5 minutes).",
                extra: vec![
                    ("CI_PROJECT_PATH", job.project.clone()),
                    ("CI_CONFIG_PATH", job.ci_file.clone()),
                    ("CI_COMMIT_REF_NAME", ref_path.rsplit('/').next().unwrap_or(&ref_path).to_owned()),
                ],
            })
            .await?
        }
        EnvProvider::Google(job) => {
            variable_env(VariableJob {
                target: &job.target,
                issuer: &job.issuer,
                provider: "google",
                identity: job.identity(),
                header: "A Google ID token, handed over through GitLab's variable: uv and id read any token from there (the token lives 5 minutes).",
                extra: Vec::new(),
            })
            .await?
        }
        EnvProvider::Activestate(job) => {
            variable_env(VariableJob {
                target: &job.target,
                issuer: &job.issuer,
                provider: "activestate",
                identity: job.identity(),
                header: "An ActiveState token, handed over through GitLab's variable: uv and id read any token from there (the token lives 5 minutes).",
                extra: Vec::new(),
            })
            .await?
        }
    };
    print!("{text}");
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

/// Options every publisher has.
#[derive(Args, Debug)]
pub struct PublisherCommon {
    /// The PyPI project the publisher may upload to.
    #[arg(long)]
    project: String,
    /// Register a pending publisher: the project does not exist yet and is created by
    /// the first successful exchange.
    #[arg(long)]
    pending: bool,
}

#[derive(Subcommand, Debug)]
pub enum PublisherSpec {
    /// A GitHub Actions workflow.
    Github {
        #[command(flatten)]
        common: PublisherCommon,
        /// OWNER/REPO.
        #[arg(long)]
        repository: String,
        #[arg(long, default_value = crate::provider::DEFAULT_WORKFLOW)]
        workflow: String,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        repository_owner_id: Option<String>,
    },
    /// A GitLab CI/CD pipeline.
    Gitlab {
        #[command(flatten)]
        common: PublisherCommon,
        /// NAMESPACE/PROJECT on GitLab.
        #[arg(long)]
        project_path: String,
        #[arg(long, default_value = crate::provider::DEFAULT_CI_FILE)]
        workflow_filepath: String,
        #[arg(long)]
        environment: Option<String>,
        /// The GitLab instance's issuer [default: the fake issuer's GitLab flavour].
        #[arg(long)]
        issuer_url: Option<String>,
    },
    /// A Google service account.
    Google {
        #[command(flatten)]
        common: PublisherCommon,
        #[arg(long)]
        email: String,
        #[arg(long)]
        sub: Option<String>,
    },
    /// An ActiveState Platform project.
    Activestate {
        #[command(flatten)]
        common: PublisherCommon,
        #[arg(long)]
        organization: String,
        #[arg(long)]
        activestate_project_name: String,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        actor_id: Option<String>,
    },
}

impl PublisherSpec {
    /// The control API's publisher object.
    fn body(&self) -> Value {
        let (common, mut body) = match self {
            Self::Github {
                common,
                repository,
                workflow,
                environment,
                repository_owner_id,
            } => (
                common,
                json!({"provider": "github", "repository": repository, "workflow_filename": workflow,
                       "environment": environment, "repository_owner_id": repository_owner_id}),
            ),
            Self::Gitlab {
                common,
                project_path,
                workflow_filepath,
                environment,
                issuer_url,
            } => (
                common,
                json!({"provider": "gitlab", "project_path": project_path, "workflow_filepath": workflow_filepath,
                       "environment": environment, "issuer_url": issuer_url}),
            ),
            Self::Google { common, email, sub } => (
                common,
                json!({"provider": "google", "email": email, "sub": sub}),
            ),
            Self::Activestate {
                common,
                organization,
                activestate_project_name,
                actor,
                actor_id,
            } => (
                common,
                json!({"provider": "activestate", "organization": organization,
                       "activestate_project_name": activestate_project_name, "actor": actor, "actor_id": actor_id}),
            ),
        };
        body["project"] = json!(common.project);
        body["pending"] = json!(common.pending);
        body
    }
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
    let http = crate::http_client::cli()?;
    let url = format!("{server}/_mock/api/publishers");
    let result = match args.action {
        PublisherAction::Add { provider } => {
            call(http.post(&url).bearer_auth(&token).json(&provider.body())).await?
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
    pub provider: EnvProvider,
}

/// Print one OIDC token from the fake issuer.
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let (target, issuer, provider, identity) = match &args.provider {
        EnvProvider::Github(job) => (
            &job.target,
            &job.issuer,
            "github",
            serde_json::to_value(job.identity())?,
        ),
        EnvProvider::Gitlab(job) => (&job.target, &job.issuer, "gitlab", job.identity()?),
        EnvProvider::Google(job) => (&job.target, &job.issuer, "google", job.identity()),
        EnvProvider::Activestate(job) => (&job.target, &job.issuer, "activestate", job.identity()),
    };
    let r = issuer.resolve(target)?;
    println!(
        "{}",
        mint_token(&r, provider, identity, issuer.fault.as_ref()).await?
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ApiTokenArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: ApiTokenAction,
}

#[derive(Subcommand, Debug)]
pub enum ApiTokenAction {
    /// Create a token and print it (it is shown only once).
    Create {
        /// Scope it to one project [default: every project].
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Seconds until it expires [default: never].
        #[arg(long)]
        lifetime: Option<i64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

pub async fn api_token(args: ApiTokenArgs) -> anyhow::Result<()> {
    let (server, admin) = args.api.resolve()?;
    let http = crate::http_client::cli()?;
    let url = format!("{server}/_mock/api/tokens");
    match args.action {
        ApiTokenAction::Create {
            project,
            description,
            lifetime,
        } => {
            let body = json!({"project": project, "description": description, "lifetime_seconds": lifetime});
            let created = call(http.post(&url).bearer_auth(&admin).json(&body)).await?;
            // The token alone on stdout, for `TOKEN=$(mock-pypi api-token create …)`.
            eprintln!(
                "token {} for {}",
                created["id"].as_str().unwrap_or(""),
                created["projects"]
                    .as_array()
                    .map_or("every project".to_owned(), |p| format!(
                        "{}",
                        Value::Array(p.clone())
                    ))
            );
            println!("{}", created["token"].as_str().unwrap_or(""));
        }
        ApiTokenAction::List => {
            let list = call(http.get(&url).bearer_auth(&admin)).await?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        ApiTokenAction::Revoke { id } => {
            let row = call(http.delete(format!("{url}/{id}")).bearer_auth(&admin)).await?;
            println!("{}", serde_json::to_string_pretty(&row)?);
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The URL to probe: an index's /_mock/health, or an issuer's discovery document.
    #[arg(long, default_value = "http://127.0.0.1:8000/_mock/health")]
    pub url: String,
}

/// GET the URL with a short timeout; success is any 2xx.
pub async fn health(args: HealthArgs) -> anyhow::Result<()> {
    let http = crate::http_client::build(|| {
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(3))
    })?;
    let response = http.get(&args.url).send().await.context("no answer")?;
    anyhow::ensure!(
        response.status().is_success(),
        "{} answered {}",
        args.url,
        response.status()
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
        };
        let text = github_env(&job).unwrap();
        assert!(text.contains("export GITHUB_ACTIONS='true'\n"));
        assert!(text.contains("export ACTIONS_ID_TOKEN_REQUEST_URL='http://127.0.0.1:1/issuer/github/token?api-version=2.0&repository=octo%2Fdemo&workflow=release.yml&environment=it%27s'\n"), "{text}");
        assert!(text.contains("export SSL_CERT_FILE='/ca.pem'\n"));
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
