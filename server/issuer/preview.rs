//! Token shapes of the providers PyPI has open pull requests for (previews, served by
//! the index only with `--preview`): Buildkite, CircleCI and Semaphore, as their
//! documentation and the pull requests' tests show them.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::derived_id;

use super::claims::ClaimContext;

/// A Buildkite job (`buildkite-agent oidc request-token`).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct BuildkiteIdentity {
    pub organization_slug: String,
    pub pipeline_slug: String,
    /// [default: main]
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub step_key: Option<String>,
    /// Ask for the immutable ids (`--claim organization_id,pipeline_id`), as the
    /// pypi-oidc plugin does [default: true].
    #[serde(default)]
    pub immutable_ids: Option<bool>,
    /// The ids [default: derived from the slugs].
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub pipeline_id: Option<String>,
}

impl BuildkiteIdentity {
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let branch = self.branch.clone().unwrap_or_else(|| "main".into());
        let sha = crate::provider::derived_sha(&self.pipeline_slug, &branch);
        let step = self.step_key.clone().unwrap_or_default();
        let mut claims = json!({
            "iss": ctx.issuer,
            "aud": ctx.audience,
            "sub": format!(
                "organization:{}:pipeline:{}:ref:refs/heads/{branch}:commit:{sha}:step:{step}",
                self.organization_slug, self.pipeline_slug
            ),
            "organization_slug": self.organization_slug,
            "pipeline_slug": self.pipeline_slug,
            "build_number": 1,
            "build_branch": branch,
            "build_commit": sha,
            "build_source": "webhook",
            "step_key": step,
            "job_id": derived_id("job", &format!("{}", ctx.now)),
            "agent_id": derived_id("agent", &self.organization_slug),
            "runner_environment": "buildkite-hosted",
            "jti": ctx.jti,
            "iat": ctx.now,
            "nbf": ctx.now - 5,
            "exp": ctx.now + ctx.lifetime,
        });
        if let Some(tag) = &self.tag {
            claims["build_tag"] = json!(tag);
        }
        if self.immutable_ids.unwrap_or(true) {
            claims["organization_id"] = json!(
                self.organization_id
                    .clone()
                    .unwrap_or_else(|| derived_id("buildkite-org", &self.organization_slug))
            );
            claims["pipeline_id"] = json!(
                self.pipeline_id
                    .clone()
                    .unwrap_or_else(|| derived_id("buildkite-pipeline", &self.pipeline_slug))
            );
        }
        super::claims::object(claims)
    }
}

/// A CircleCI job (`circleci run oidc get`, or `$CIRCLE_OIDC_TOKEN_V2`).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct CircleCiIdentity {
    pub org_id: String,
    pub project_id: String,
    pub pipeline_definition_id: String,
    /// A re-run with SSH enabled [default: false].
    #[serde(default)]
    pub ssh_rerun: Option<bool>,
    #[serde(default)]
    pub context_ids: Option<Vec<String>>,
    #[serde(default)]
    pub vcs_ref: Option<String>,
    #[serde(default)]
    pub vcs_origin: Option<String>,
}

impl CircleCiIdentity {
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let p = crate::oidc::circleci::PREFIX;
        let mut claims = Map::new();
        for (k, v) in [
            ("iss", json!(ctx.issuer)),
            ("aud", json!(ctx.audience)),
            (
                "sub",
                json!(format!(
                    "org/{}/project/{}/user/{}",
                    self.org_id,
                    self.project_id,
                    derived_id("circleci-user", &self.org_id)
                )),
            ),
            ("jti", json!(ctx.jti)),
            ("iat", json!(ctx.now)),
            ("nbf", json!(ctx.now - 5)),
            ("exp", json!(ctx.now + ctx.lifetime)),
        ] {
            claims.insert(k.into(), v);
        }
        for (k, v) in [
            ("org-id", json!(self.org_id)),
            ("project-id", json!(self.project_id)),
            ("pipeline-definition-id", json!(self.pipeline_definition_id)),
            (
                "pipeline-id",
                json!(derived_id("circleci-pipeline", &format!("{}", ctx.now))),
            ),
            (
                "job-id",
                json!(derived_id("circleci-job", &format!("{}", ctx.now))),
            ),
            ("ssh-rerun", json!(self.ssh_rerun.unwrap_or(false))),
            (
                "context-ids",
                json!(self.context_ids.clone().unwrap_or_default()),
            ),
            (
                "vcs-ref",
                json!(
                    self.vcs_ref
                        .clone()
                        .unwrap_or_else(|| "refs/heads/main".into())
                ),
            ),
            (
                "vcs-origin",
                json!(
                    self.vcs_origin
                        .clone()
                        .unwrap_or_else(|| "github.com/octo-org/demo".into())
                ),
            ),
        ] {
            claims.insert(format!("{p}{k}"), v);
        }
        claims
    }
}

/// A Semaphore job (`$SEMAPHORE_OIDC_TOKEN`); its organisation has its own issuer.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct SemaphoreIdentity {
    pub organization: String,
    /// [default: derived from the organisation's name]
    #[serde(default)]
    pub organization_id: Option<String>,
    pub project: String,
    /// [default: derived from the project's name]
    #[serde(default)]
    pub project_id: Option<String>,
    /// `OWNER/REPO`.
    pub repo_slug: String,
    #[serde(default)]
    pub branch: Option<String>,
}

impl SemaphoreIdentity {
    /// The organisation's issuer: the `*` of the provider's issuer filled in, or the
    /// fake issuer's `…/semaphore/ORG`.
    pub fn issuer(&self, base: &str) -> String {
        if base.contains('*') {
            base.replacen('*', &self.organization, 1)
        } else {
            format!("{}/{}", base.trim_end_matches('/'), self.organization)
        }
    }

    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let org_id = self
            .organization_id
            .clone()
            .unwrap_or_else(|| derived_id("semaphore-org", &self.organization));
        let prj_id = self
            .project_id
            .clone()
            .unwrap_or_else(|| derived_id("semaphore-project", &self.project));
        let branch = self.branch.clone().unwrap_or_else(|| "main".into());
        let claims = json!({
            "iss": self.issuer(ctx.issuer),
            "aud": ctx.audience,
            "sub": format!("org:{}:project:{prj_id}:repo:{}:ref_type:branch:ref:refs/heads/{branch}", self.organization, self.repo_slug),
            "org": self.organization,
            "org_id": org_id,
            "prj": self.project,
            "prj_id": prj_id,
            "repo": self.repo_slug.rsplit('/').next().unwrap_or(""),
            "repo_slug": self.repo_slug,
            "ref": format!("refs/heads/{branch}"),
            "ref_type": "branch",
            "wf_id": derived_id("semaphore-workflow", &format!("{}", ctx.now)),
            "ppl_id": derived_id("semaphore-pipeline", &format!("{}", ctx.now)),
            "job_id": derived_id("semaphore-job", &format!("{}", ctx.now)),
            "jti": ctx.jti,
            "iat": ctx.now,
            "nbf": ctx.now - 5,
            "exp": ctx.now + ctx.lifetime,
        });
        super::claims::object(claims)
    }
}
