//! GitLab CI-shaped claims. GitLab hands the job its token in an environment variable
//! (`id_tokens:` in `.gitlab-ci.yml`), so there is no request protocol to imitate.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::provider::{DEFAULT_CI_FILE, DEFAULT_REF_PATH, derived_id, derived_sha, issuer_host};

use super::claims::ClaimContext;

/// Who the token says is running. Everything but `project_path` has a default.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct GitLabIdentity {
    /// `NAMESPACE/PROJECT`; the namespace may contain `/` (subgroups).
    pub project_path: String,
    /// Path of the CI file in the repository.
    #[serde(default)]
    pub ci_file: Option<String>,
    #[serde(default)]
    pub ref_path: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub user_login: Option<String>,
    /// What started the pipeline (`push`, `merge_request_event`, `web`, …) [push].
    #[serde(default)]
    pub pipeline_source: Option<String>,
}

impl GitLabIdentity {
    /// The full GitLab claim set. `ci_config_ref_uri` starts with the issuer's host and
    /// path, as GitLab's does (`gitlab.com/…` for `https://gitlab.com`).
    pub fn claims(&self, ctx: &ClaimContext<'_>) -> Map<String, Value> {
        let path = &self.project_path;
        let namespace = path.rsplit_once('/').map(|(n, _)| n).unwrap_or("");
        let ci_file = self.ci_file.as_deref().unwrap_or(DEFAULT_CI_FILE);
        let ref_path = self.ref_path.as_deref().unwrap_or(DEFAULT_REF_PATH);
        let (ref_type, git_ref) = match ref_path.strip_prefix("refs/tags/") {
            Some(tag) => ("tag", tag),
            None => (
                "branch",
                ref_path.strip_prefix("refs/heads/").unwrap_or(ref_path),
            ),
        };
        let sha = self
            .sha
            .clone()
            .unwrap_or_else(|| derived_sha(path, ref_path));
        let host = issuer_host(ctx.issuer);
        let user = self.user_login.as_deref().unwrap_or("octo-user");
        let mut claims = json!({
            "namespace_id": derived_id("namespace", namespace),
            "namespace_path": namespace,
            "project_id": derived_id("project", path),
            "project_path": path,
            "user_id": derived_id("user", user),
            "user_login": user,
            "user_email": format!("{user}@example.invalid"),
            "user_access_level": "maintainer",
            "pipeline_id": (ctx.now % 1_000_000_000).to_string(),
            "pipeline_source": self.pipeline_source.as_deref().unwrap_or("push"),
            "job_id": (ctx.now % 1_000_000_000 + 1).to_string(),
            "ref": git_ref,
            "ref_type": ref_type,
            "ref_path": ref_path,
            "ref_protected": "true",
            "runner_id": 1,
            "runner_environment": "gitlab-hosted",
            "sha": sha,
            "project_visibility": "public",
            "ci_config_ref_uri": format!("{host}/{path}//{ci_file}@{ref_path}"),
            "ci_config_sha": sha,
            "jti": ctx.jti,
            "iss": ctx.issuer,
            "iat": ctx.now,
            "nbf": ctx.now - 5,
            "exp": ctx.now + ctx.lifetime,
            "sub": format!("project_path:{path}:ref_type:{ref_type}:ref:{git_ref}"),
            "aud": ctx.audience,
        });
        if let (Some(env), Some(map)) = (&self.environment, claims.as_object_mut()) {
            map.insert("environment".into(), Value::String(env.clone()));
            map.insert("environment_protected".into(), "false".into());
            map.insert("deployment_tier".into(), "production".into());
            map.insert("environment_action".into(), "start".into());
        }
        super::claims::object(claims)
    }
}

/// The variable GitLab jobs (and uv and `id`) use for a token with this audience:
/// upper-cased, every non-alphanumeric character replaced by `_`, then `_ID_TOKEN`.
pub fn token_variable(audience: &str) -> String {
    let name: String = audience
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_ID_TOKEN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_gitlabs_shape() {
        let id = GitLabIdentity {
            project_path: "octo-group/sub/demo".into(),
            ref_path: Some("refs/tags/v1.2.3".into()),
            environment: Some("pypi".into()),
            ..Default::default()
        };
        let c = id.claims(&ClaimContext::at(
            "https://gitlab.example",
            "pypi",
            1000,
            300,
            "j",
        ));
        assert_eq!(c["namespace_path"], "octo-group/sub");
        assert_eq!(
            c["ci_config_ref_uri"],
            "gitlab.example/octo-group/sub/demo//.gitlab-ci.yml@refs/tags/v1.2.3"
        );
        assert_eq!(
            c["sub"],
            "project_path:octo-group/sub/demo:ref_type:tag:ref:v1.2.3"
        );
        assert_eq!(c["environment"], "pypi");
        assert_eq!(c["runner_id"], 1);
    }

    #[test]
    fn variable_name_follows_the_audience() {
        assert_eq!(token_variable("pypi"), "PYPI_ID_TOKEN");
        assert_eq!(token_variable("mock-pypi"), "MOCK_PYPI_ID_TOKEN");
    }
}
