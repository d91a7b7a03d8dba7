//! `mock-pypi publisher add|list|remove`: trusted publishers through the control API.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{ApiTarget, call};

#[derive(Args, Debug)]
pub struct PublisherArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: PublisherAction,
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
    /// Preview (warehouse#20515, not on PyPI yet): a Buildkite pipeline. Its immutable
    /// ids are pinned by the first exchange that carries them.
    Buildkite {
        #[command(flatten)]
        common: PublisherCommon,
        #[arg(long)]
        organization_slug: String,
        #[arg(long)]
        pipeline_slug: String,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        step_key: Option<String>,
    },
    /// Preview (warehouse#19349, not on PyPI yet): a CircleCI pipeline definition.
    Circleci {
        #[command(flatten)]
        common: PublisherCommon,
        #[arg(long)]
        org_id: String,
        #[arg(long)]
        project_id: String,
        #[arg(long)]
        pipeline_definition_id: String,
        #[arg(long)]
        context_id: Option<String>,
        #[arg(long)]
        vcs_ref: Option<String>,
        #[arg(long)]
        vcs_origin: Option<String>,
    },
    /// Preview (warehouse#19048, not on PyPI yet): a Semaphore project.
    Semaphore {
        #[command(flatten)]
        common: PublisherCommon,
        #[arg(long)]
        organization: String,
        #[arg(long)]
        organization_id: String,
        #[arg(long)]
        project_id: String,
        #[arg(long)]
        repo_slug: String,
        #[arg(long = "semaphore-project")]
        semaphore_project: Option<String>,
    },
}

impl PublisherSpec {
    /// The control API's publisher object. Long because it is a table: one entry per
    /// provider.
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
            Self::Buildkite {
                common,
                organization_slug,
                pipeline_slug,
                branch,
                tag,
                step_key,
            } => (
                common,
                json!({"provider": "buildkite", "organization_slug": organization_slug, "pipeline_slug": pipeline_slug,
                       "branch": branch, "tag": tag, "step_key": step_key}),
            ),
            Self::Circleci {
                common,
                org_id,
                project_id,
                pipeline_definition_id,
                context_id,
                vcs_ref,
                vcs_origin,
            } => (
                common,
                json!({"provider": "circleci", "org_id": org_id, "project_id": project_id,
                       "pipeline_definition_id": pipeline_definition_id, "context_id": context_id,
                       "vcs_ref": vcs_ref, "vcs_origin": vcs_origin}),
            ),
            Self::Semaphore {
                common,
                organization,
                organization_id,
                project_id,
                repo_slug,
                semaphore_project,
            } => (
                common,
                json!({"provider": "semaphore", "organization": organization, "organization_id": organization_id,
                       "project_id": project_id, "repo_slug": repo_slug, "project_name": semaphore_project}),
            ),
        };
        body["project"] = json!(common.project);
        body["pending"] = json!(common.pending);
        body
    }
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
